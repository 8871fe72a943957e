using Pmem.Heap;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Transactions;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Transactions;

/// <summary>
/// The transaction's write set: reads see its writes, a later write wins where writes overlap, and commit or rollback
/// leave exactly what a byte-by-byte model says. Small write sets are scanned and larger ones indexed by cache line,
/// so each behaviour is checked on both sides of <see cref="WriteSet.ScanLimit"/>.
/// </summary>
public sealed class WriteSetTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");

    /// <summary>A block made and committed before the transaction under test, so its writes go to the write set.</summary>
    private static Blob CommittedBlob(PersistentPool pool)
    {
        using var tx = pool.BeginTransaction();
        var blob = pool.New<Blob>();
        tx.Commit();
        return blob;
    }

    /// <summary>Allocates small objects until the pool (which cannot grow) has no free chunk left.</summary>
    private static void FillHeap(PersistentPool pool)
    {
        try
        {
            while (true)
            {
                pool.New<Account>();
            }
        }
        catch (PoolOutOfSpaceException)
        {
        }
    }

    [Fact]
    public void The_index_keys_writes_by_cache_line_and_a_run_bitmap_word_holds_64_blocks()
    {
        Assert.Equal(PersistenceDomain.CacheLineSize, 1 << WriteSet.LineShift);
        Assert.Equal(sizeof(ulong) * 8, RunGeometry.BitsPerWord);
        Assert.Equal(0, RunGeometry.WordOf(RunGeometry.BitsPerWord - 1));
        Assert.Equal(1, RunGeometry.WordOf(RunGeometry.BitsPerWord));
        Assert.Equal(1UL << 63, RunGeometry.BitOf(RunGeometry.BitsPerWord * 3 - 1));
    }

    [Fact]
    public void Writing_a_field_twice_keeps_the_second_value_and_reads_see_it()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        account.Balance = 1;
        using (var tx = pool.BeginTransaction())
        {
            account.Balance = 2;
            Assert.Equal(2, account.Balance);
            account.Balance = 3;
            Assert.Equal(3, account.Balance);
            account.Balance += 4;
            Assert.Equal(7, account.Balance);
            tx.Commit();
        }

        Assert.Equal(7, account.Balance);
    }

    [Fact]
    public void A_wide_field_written_twice_reads_and_commits_its_last_value()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        var id = Guid.NewGuid();
        using (var tx = pool.BeginTransaction())
        {
            account.Amount = 1.5m;
            account.Id = Guid.NewGuid();
            account.Amount = 2.25m;
            account.Id = id;
            Assert.Equal((2.25m, id), (account.Amount, account.Id));
            tx.Commit();
        }

        Assert.Equal((2.25m, id), (account.Amount, account.Id));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(WriteSet.ScanLimit)]
    [InlineData(WriteSet.ScanLimit + 1)]
    [InlineData(300)]
    public void Many_writes_each_repeated_read_back_and_commit(int objects)
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), "tests");
        var accounts = MakeAccounts(pool, objects);
        using (var tx = pool.BeginTransaction())
        {
            for (var round = 1; round <= 3; round++)
            {
                for (var i = 0; i < objects; i++)
                {
                    accounts[i].Balance += i;
                    accounts[i].Counter = round;
                }
            }

            for (var i = 0; i < objects; i++)
            {
                Assert.Equal((1000L + 3 * i, 3), (accounts[i].Balance, accounts[i].Counter));
            }

            tx.Commit();
        }

        for (var i = 0; i < objects; i++)
        {
            Assert.Equal((1000L + 3 * i, 3), (accounts[i].Balance, accounts[i].Counter));
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(300)]
    public void Rolling_back_many_writes_leaves_every_field_and_the_next_transaction_starts_clean(int objects)
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), "tests");
        var accounts = MakeAccounts(pool, objects);
        using (pool.BeginTransaction())
        {
            foreach (var account in accounts)
            {
                account.Balance = -1;
                account.Balance = -2;
            }
        }

        Assert.All(accounts, a => Assert.Equal(1000, a.Balance));
        using (var tx = pool.BeginTransaction())
        {
            Assert.All(accounts, a => Assert.Equal(1000, a.Balance)); // nothing left over from the rolled-back set
            accounts[0].Balance = 5;
            tx.Commit();
        }

        Assert.Equal(5, accounts[0].Balance);
        Assert.All(accounts.Skip(1), a => Assert.Equal(1000, a.Balance));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_later_write_inside_an_earlier_one_spanning_lines_wins_in_every_line(bool indexed)
    {
        using var pool = NewPool();
        var blob = CommittedBlob(pool);
        Account[] others = indexed ? MakeAccounts(pool, WriteSet.ScanLimit) : [];
        using var tx = pool.BeginTransaction();
        foreach (var other in others)
        {
            other.Balance = 7; // pushes the write set past the scan limit
        }

        pool.WriteBytesInTransaction(blob.Offset + 32, Filled(96, 0xAA)); // lines 0 and 1 of the blob
        pool.WriteBytesInTransaction(blob.Offset + 40, Filled(8, 0xBB)); // line 0 only, inside the first write
        pool.WriteBytesInTransaction(blob.Offset + 100, Filled(4, 0xCC)); // line 1 only

        var seen = new byte[128];
        pool.ReadBytes(blob.Offset, seen);
        var expected = new byte[128];
        expected.AsSpan(32, 96).Fill(0xAA);
        expected.AsSpan(40, 8).Fill(0xBB);
        expected.AsSpan(100, 4).Fill(0xCC);
        Assert.Equal(expected, seen);
        Assert.Equal(BitConverter.ToInt64(expected, 40), blob.Word(5));
        tx.Commit();

        pool.ReadBytes(blob.Offset, seen);
        Assert.Equal(expected, seen);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_range_spanning_lines_written_again_is_rewritten_in_place_unless_a_later_write_overlaps_it(bool indexed)
    {
        using var pool = NewPool();
        var blob = CommittedBlob(pool);
        Account[] others = indexed ? MakeAccounts(pool, WriteSet.ScanLimit) : [];
        using var tx = pool.BeginTransaction();
        foreach (var other in others)
        {
            other.Balance = 7;
        }

        ref var writes = ref TransactionState.OfThread!.Writes;
        pool.WriteBytesInTransaction(blob.Offset + 32, Filled(160, 0x11)); // lines 0 to 2
        var held = writes.Count;
        for (byte round = 0x20; round < 0x30; round++)
        {
            pool.WriteBytesInTransaction(blob.Offset + 32, Filled(160, round)); // the same range: in place
        }

        Assert.Equal(held, writes.Count);
        pool.WriteBytesInTransaction(blob.Offset + 100, Filled(4, 0xCC)); // inside it, later: the range is no longer the newest
        pool.WriteBytesInTransaction(blob.Offset + 32, Filled(160, 0xDD));
        Assert.Equal(held + 2, writes.Count);
        var expected = new byte[192];
        expected.AsSpan(32, 160).Fill(0xDD);
        var seen = new byte[192];
        pool.ReadBytes(blob.Offset, seen);
        Assert.Equal(expected, seen);
        tx.Commit();
        pool.ReadBytes(blob.Offset, seen);
        Assert.Equal(expected, seen);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_overlapping_writes_read_and_commit_as_a_byte_model_says(int seed)
    {
        using var pool = NewPool();
        var blob = CommittedBlob(pool);
        var random = new Random(seed);
        for (var transaction = 0; transaction < 20; transaction++)
        {
            var durable = new byte[Blob.Size];
            pool.ReadBytes(blob.Offset, durable);
            var model = (byte[])durable.Clone();
            var commit = random.Next(3) != 0;
            using (var tx = pool.BeginTransaction())
            {
                var writes = random.Next(1, 40); // both sides of the scan limit
                for (var w = 0; w < writes; w++)
                {
                    if (random.Next(2) == 0)
                    {
                        // an aligned word through the typed path
                        var word = random.Next(Blob.Size / 8);
                        var value = random.NextInt64();
                        blob.SetWord(word, value);
                        BitConverter.TryWriteBytes(model.AsSpan(word * 8), value);
                    }
                    else
                    {
                        // raw bytes of any length and alignment, some spanning lines
                        var start = random.Next(Blob.Size - 1);
                        var bytes = new byte[random.Next(1, Math.Min(150, Blob.Size - start) + 1)];
                        random.NextBytes(bytes);
                        pool.WriteBytesInTransaction(blob.Offset + start, bytes);
                        bytes.CopyTo(model, start);
                    }

                    var from = random.Next(Blob.Size - 1);
                    var read = new byte[random.Next(1, Blob.Size - from + 1)];
                    pool.ReadBytes(blob.Offset + from, read);
                    Assert.Equal(model.AsSpan(from, read.Length).ToArray(), read);
                    var probe = random.Next(Blob.Size / 8);
                    Assert.Equal(BitConverter.ToInt64(model, probe * 8), blob.Word(probe));
                }

                if (commit)
                {
                    tx.Commit();
                }
            }

            var after = new byte[Blob.Size];
            pool.ReadBytes(blob.Offset, after);
            Assert.Equal(commit ? model : durable, after);
        }
    }

    [Fact]
    public void A_failed_commit_leaves_the_thread_free_for_the_next_transaction()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests", new PoolCreateOptions { LaneSize = 4096 });
        var blob = CommittedBlob(pool);
        FillHeap(pool); // so that the log, too large for its slot, finds no block to go to
        Assert.Throws<PoolOutOfSpaceException>(() =>
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 40; i++)
            {
                pool.WriteBytesInTransaction(blob.Offset + i, Filled(100, (byte)i)); // far more log than a 2 KiB slot
            }

            tx.Commit();
        });

        Assert.Null(TransactionState.Current);
        using (var tx = pool.BeginTransaction())
        {
            blob.SetWord(0, 42);
            tx.Commit();
        }

        Assert.Equal(42, blob.Word(0));
        Assert.Equal(0, blob.Word(1));
    }

    private static Account[] MakeAccounts(PersistentPool pool, int count)
    {
        var accounts = new Account[count];
        using var tx = pool.BeginTransaction();
        for (var i = 0; i < count; i++)
        {
            accounts[i] = pool.New<Account>();
            accounts[i].Balance = 1000;
        }

        tx.Commit();
        return accounts;
    }

    private static byte[] Filled(int length, byte value)
    {
        var bytes = new byte[length];
        bytes.AsSpan().Fill(value);
        return bytes;
    }
}

/// <summary>Four cache lines of raw 8-byte words.</summary>
internal sealed class Blob : PersistentObject, IPersistentObject<Blob>
{
    public const int Size = 256;

    private Blob(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.Blob", Size, 0xB10B, []);

    static Blob IPersistentObject<Blob>.Attach(ObjectHandle handle) => new(handle);

    public long Word(int index) => ReadField<long>(index * 8);

    public void SetWord(int index, long value) => WriteField(index * 8, value);
}
