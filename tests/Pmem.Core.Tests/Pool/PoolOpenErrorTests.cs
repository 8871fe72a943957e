using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>Each bad input gets its own exception and leaves the bytes exactly as they were.</summary>
public sealed class PoolOpenErrorTests
{
    private const string LayoutName = "tests";

    private static byte[] ValidImage()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), LayoutName);
        var root = pool.Root<Ledger>();
        root.Name = "kept";
        root.First = pool.New<Account>();
        return ((MemoryDomain)pool.Domain).ToArray();
    }

    private static TException OpenFails<TException>(byte[] image, string layout = LayoutName) where TException : Exception
    {
        var before = image.ToArray();
        var domain = MemoryDomain.FromImage(image);
        try
        {
            var error = Assert.Throws<TException>(() => PersistentPool.Open(domain, layout).Dispose());
            Assert.True(before.AsSpan().SequenceEqual(domain.ToArray()), "a refused open changed the pool");
            return error;
        }
        finally
        {
            domain.Dispose();
        }
    }

    [Fact]
    public void A_valid_image_opens()
    {
        using var pool = PersistentPool.Open(MemoryDomain.FromImage(ValidImage()), LayoutName);
        Assert.Equal("kept", pool.Root<Ledger>().Name);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void A_type_entry_marked_retired_with_no_current_entry_is_refused(int entry)
    {
        // Only the commit that ends a migration retires an entry, beside the live one it migrated to: a lone retired
        // entry is a damaged schema word, whose objects would all be refused at their first read.
        byte[] image;
        using (var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), Schema.SchemaEvolutionTests.Layout))
        {
            Schema.SchemaEvolutionTests.FillV1(pool, 3); // two types with schema records: the directory, the person
            image = ((MemoryDomain)pool.Domain).ToArray();
        }

        var word = image.AsSpan((int)PoolLayout.SchemaWordOffset(entry), 8);
        BinaryPrimitives.WriteUInt64LittleEndian(word, BinaryPrimitives.ReadUInt64LittleEndian(word) | PoolLayout.SchemaRetiredBit);
        var error = OpenFails<PoolCorruptedException>(image, Schema.SchemaEvolutionTests.Layout);
        Assert.Contains($"type table entry {entry} records", error.Message);
        Assert.Contains("retired by a migration", error.Message);
    }

    [Fact]
    public void Something_that_is_not_a_pool_is_refused()
    {
        var error = OpenFails<PoolCorruptedException>(new byte[8 << 20]);
        Assert.Contains("not a pool", error.Message);
    }

    [Fact]
    public void A_file_shorter_than_a_header_is_refused()
    {
        var error = OpenFails<PoolCorruptedException>(ValidImage()[..100]);
        Assert.Contains("shorter than a pool header", error.Message);
    }

    [Fact]
    public void A_truncated_pool_is_refused()
    {
        var image = ValidImage();
        var poolSize = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(512));
        var error = OpenFails<PoolCorruptedException>(image[..(int)(poolSize - 4096)]);
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Another_layout_name_is_refused()
    {
        var error = OpenFails<PoolLayoutMismatchException>(ValidImage(), "other");
        Assert.Equal(("other", LayoutName), (error.ExpectedLayout, error.ActualLayout));
    }

    [Fact]
    public void A_newer_format_version_is_refused()
    {
        var image = ValidImage();
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(8), PoolLayout.NewestReadableVersion + 1);
        var error = OpenFails<PoolVersionException>(image);
        Assert.Equal(PoolLayout.NewestReadableVersion + 1, error.Version);
        Assert.Equal((2u, PoolLayout.NewestReadableVersion), (error.OldestSupportedVersion, error.SupportedVersion));
        Assert.False(error.IsOlder);
        Assert.Contains("newer", error.Message);
    }

    [Fact]
    public void An_older_format_version_is_refused()
    {
        var image = ValidImage();
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(8), 1); // two log slots per lane: not readable as three
        var error = OpenFails<PoolVersionException>(image);
        Assert.Equal(1u, error.Version);
        Assert.True(error.IsOlder);
        Assert.Contains("older", error.Message);
    }

    [Theory]
    [InlineData(20)]   // uuid
    [InlineData(48)]   // lane size
    [InlineData(70)]   // layout name
    [InlineData(321)]  // the checksum itself
    public void A_corrupted_header_byte_is_refused(int offset)
    {
        var image = ValidImage();
        image[offset] ^= 0x40;
        var error = OpenFails<PoolCorruptedException>(image);
        Assert.Contains("checksum", error.Message);
    }

    [Fact]
    public void A_corrupted_chunk_header_is_refused()
    {
        var image = ValidImage();
        var heapStart = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(56));
        image[heapStart + 2] ^= 0x01; // the first chunk's span
        var error = OpenFails<PoolCorruptedException>(image);
        Assert.Contains("chunk header", error.Message);
    }

    [Fact]
    public void A_corrupted_type_table_entry_is_refused()
    {
        var image = ValidImage();
        image[4096 + 40] ^= 0x01; // inside the first entry's name
        var error = OpenFails<PoolCorruptedException>(image);
        Assert.Contains("type table entry 0", error.Message);
    }

    [Fact]
    public void A_corrupted_allocation_type_is_refused()
    {
        var image = ValidImage();
        var heapStart = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(56));
        var root = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(520));
        // Find the run holding the root and change its recorded type index: the root no longer matches.
        var chunkStart = heapStart + (root - heapStart) / (256 * 1024) * (256 * 1024);
        var typeSlots = image.AsSpan((int)chunkStart + 64, 4096);
        var found = false;
        for (var i = 0; i < typeSlots.Length - 4 && !found; i += 4)
        {
            if ((BinaryPrimitives.ReadUInt32LittleEndian(typeSlots[i..]) & 0xFFFF) == BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(528))) // the high half: the block's generation
            {
                BinaryPrimitives.WriteUInt32LittleEndian(typeSlots[i..], 999);
                found = true;
            }
        }

        Assert.True(found);
        OpenFails<PoolCorruptedException>(image);
    }

    [Fact]
    public void A_corrupted_allocation_header_of_an_ordinary_object_is_refused()
    {
        var image = ValidImage();
        var heapStart = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(56));
        var root = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(520));
        var account = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan((int)root)) & Pmem.Heap.BlockGeneration.OffsetMask; // root.First
        var chunkStart = (int)(heapStart + (account - heapStart) / (256 * 1024) * (256 * 1024));
        // The account's run holds only accounts: give every allocated slot's type an index no type has.
        var types = image.AsSpan(chunkStart + 64, 16384);
        var changed = 0;
        for (var i = 0; i < types.Length - 4; i += 4)
        {
            var type = BinaryPrimitives.ReadUInt32LittleEndian(types[i..]) & 0xFFFF; // the high half: the block's generation
            if (type >= 16 && type < 64)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(types[i..], 777);
                changed++;
            }
        }

        Assert.True(changed > 0);
        var error = OpenFails<PoolCorruptedException>(image);
        Assert.Contains("allocation header", error.Message);
    }

    [Theory]
    [InlineData(0u)]    // never a type
    [InlineData(9u)]    // below the first user type, but no built-in one
    [InlineData(13u)]
    [InlineData(uint.MaxValue)] // the first index past the table's entries (computed below)
    public void An_allocation_header_naming_a_type_index_just_outside_the_known_ones_is_refused(uint index)
    {
        var image = ValidImage();
        if (index == uint.MaxValue)
        {
            index = 16 + (uint)BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(PoolLayout.TypeCountOffset));
        }

        var heapStart = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(56));
        var root = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(520));
        var account = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan((int)root)) & Pmem.Heap.BlockGeneration.OffsetMask;
        var chunkStart = (int)(heapStart + (account - heapStart) / (256 * 1024) * (256 * 1024));
        var types = image.AsSpan(chunkStart + 64, 16384);
        var changed = 0;
        for (var i = 0; i < types.Length - 4; i += 4)
        {
            var word = BinaryPrimitives.ReadUInt32LittleEndian(types[i..]);
            if ((word & 0xFFFF) is >= 16 and < 64)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(types[i..], (word & 0xFFFF0000) | index); // the generation kept
                changed++;
            }
        }

        Assert.True(changed > 0);
        var error = OpenFails<PoolCorruptedException>(image);
        Assert.Contains($"unknown type index {index}", error.Message);
    }

    [Fact]
    public void A_committed_log_with_impossible_entries_is_refused()
    {
        var image = ValidImage();
        // Forge a lane log whose checksum is right but whose entry targets past the pool.
        var domain = MemoryDomain.FromImage(image);
        var redo = new RedoBuilder(new ThreadCommits());
        redo.Set(image.Length + 100L, 1L);
        domain.Copy(PoolLayout.LanesOffset + RedoLog.HeaderSize, redo.Entries);
        var header = new byte[RedoLog.HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(RedoLog.SequenceOffset), 1UL << 40); // newer than every retired log
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(RedoLog.EntryBytesOffset), (uint)redo.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(RedoLog.EntryCountOffset), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(RedoLog.ChecksumOffset), RedoLog.Checksum(header, redo.Entries));
        domain.Copy(PoolLayout.LanesOffset, header);
        var forged = domain.ToArray();
        domain.Dispose();
        var error = OpenFails<PoolCorruptedException>(forged);
        Assert.Contains("redo log", error.Message);
    }

    [Theory]
    [InlineData("")]
    public void An_empty_layout_name_is_refused(string layout) =>
        Assert.Throws<ArgumentException>(() => PersistentPool.Create(MemoryDomain.Create(4 << 20), layout));

    [Fact]
    public void A_too_long_layout_name_is_refused() =>
        Assert.Throws<ArgumentException>(() => PersistentPool.Create(MemoryDomain.Create(4 << 20), new string('l', 300)));

    [Fact]
    public void A_domain_too_small_for_a_pool_is_refused() =>
        Assert.Throws<ArgumentException>(() => PersistentPool.Create(MemoryDomain.Create(64 << 10), LayoutName));
}
