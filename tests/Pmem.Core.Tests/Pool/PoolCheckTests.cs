using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>What <see cref="PersistentPool.Check"/> finds in damaged pools, and how collections refuse damaged headers.</summary>
public sealed class PoolCheckTests
{
    private const string LayoutName = "tests";

    private static PersistentPool NewRegistry(out Registry root)
    {
        var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), LayoutName);
        root = pool.Root<Registry>();
        for (var i = 0; i < 10; i++)
        {
            root.Numbers.Add(i);
            root.Lines.Add($"line {i}");
            root.Counters[i] = i * i;
        }

        return pool;
    }

    [Fact]
    public void The_check_marks_reached_blocks_by_line_and_keeps_odd_offsets_apart()
    {
        var set = new BlockSet(8L << 20);
        var model = new HashSet<long>();
        var random = new Random(5);
        long[] odd = [-64, 1, 63, (8L << 20) + (2L << 20), long.MaxValue, long.MinValue];
        for (var i = 0; i < 20_000; i++)
        {
            var offset = random.Next(4) == 0 ? odd[random.Next(odd.Length)] : random.NextInt64(0, 9L << 20) & ~63L;
            Assert.Equal(model.Add(offset), set.Add(offset));
        }

        for (long offset = -128; offset < (9L << 20); offset += 64 * 7 + (offset & 1))
        {
            Assert.Equal(model.Contains(offset), set.Contains(offset));
        }

        Assert.All(odd, offset => Assert.Equal(model.Contains(offset), set.Contains(offset)));
        Assert.False(new BlockSet(0).Contains(0));
    }

    [Fact]
    public void A_healthy_pool_with_collections_checks_clean()
    {
        using var pool = NewRegistry(out _);
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void Two_lists_sharing_one_storage_block_are_reported()
    {
        using var pool = NewRegistry(out var root);
        var numbers = root.Numbers.Offset;
        var lines = root.Lines.Offset;
        // Make the string list's storage the number list's: the mark a block allocated twice leaves.
        pool.Domain.Write(lines + CollectionLayout.StorageOffset, pool.Domain.Read<long>(numbers + CollectionLayout.StorageOffset));

        var report = pool.Check();

        Assert.Contains(report.Errors, error => error.Contains("two owners", StringComparison.Ordinal));
    }

    [Fact]
    public void One_string_held_by_two_fields_is_reported()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), LayoutName);
        var root = pool.Root<Account>();
        root.Owner = "Ada";
        var other = pool.New<Account>();
        root.Next = other;
        pool.Domain.Write(other.Offset + 8, pool.Domain.Read<long>(root.Offset + 8)); // Owner is at +8

        var report = pool.Check();

        Assert.Contains(report.Errors, error => error.Contains("two owners", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(CollectionLayout.CountOffset, 1_000_000L)]
    [InlineData(CollectionLayout.CountOffset, -5L)]
    [InlineData(CollectionLayout.CapacityOffset, long.MaxValue)]
    [InlineData(CollectionLayout.StorageOffset, 1L << 50)]
    [InlineData(CollectionLayout.StorageOffset, 64L)]
    [InlineData(CollectionLayout.SlotSizeOffset, 0x7FFF_FFF8L)]
    public void A_damaged_list_header_is_reported_by_check_and_refused_on_use(long field, long value)
    {
        using var pool = NewRegistry(out var root);
        var lines = root.Lines.Offset;
        if (field == CollectionLayout.SlotSizeOffset)
        {
            pool.Domain.Write(lines + field, (int)value);
        }
        else
        {
            pool.Domain.Write(lines + field, value);
        }

        var report = pool.Check();

        Assert.False(report.IsConsistent);
        Assert.Contains(report.Errors, error => error.Contains($"list at {lines}", StringComparison.Ordinal));
        // A corrupted header, or (a damaged slot size) one that no longer matches the element type.
        var refused = Assert.ThrowsAny<Exception>(() => root.Lines.ToList());
        Assert.True(refused is PoolCorruptedException or PersistentTypeMismatchException, refused.ToString());
        Assert.Contains($"{lines}", refused.Message, StringComparison.Ordinal);
        var cleared = Assert.ThrowsAny<Exception>(() => root.Lines.Clear());
        Assert.True(cleared is PoolCorruptedException or PersistentTypeMismatchException, cleared.ToString());
    }

    [Fact]
    public void A_damaged_dictionary_capacity_is_reported_by_check_and_refused_on_use()
    {
        using var pool = NewRegistry(out var root);
        var counters = root.Counters.Offset;
        pool.Domain.Write(counters + CollectionLayout.CapacityOffset, 1L << 40);

        var report = pool.Check();

        Assert.Contains(report.Errors, error => error.Contains($"dictionary at {counters}", StringComparison.Ordinal));
        Assert.Throws<PoolCorruptedException>(() => root.Counters.Count);
    }

    [Fact]
    public void A_reference_far_past_the_pool_is_refused_with_a_documented_exception()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), LayoutName);
        var root = pool.Root<Account>();
        root.Next = pool.New<Account>();
        pool.Domain.Write(root.Offset + 16, long.MaxValue - 63); // Next is at +16

        Assert.Throws<PersistentDanglingReferenceException>(() => root.Next); // a PersistentTypeMismatchException
        Assert.Contains(pool.Check().Errors, error => error.Contains("not an allocated", StringComparison.Ordinal));
    }
}
