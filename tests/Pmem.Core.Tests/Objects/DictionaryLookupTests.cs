using System.IO.Hashing;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Objects;

/// <summary>
/// The dictionary's lookup fast path (live mapping read directly when the thread has no uncommitted writes on the
/// pool) against the transaction-aware path: lookups must always see the calling transaction's own writes.
/// </summary>
public sealed class DictionaryLookupTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(8 << 20), "tests");

    /// <summary>Keys 0..count-1 with value 10 × key, committed.</summary>
    private static PersistentDictionary<long, long> Committed(PersistentPool pool, int count)
    {
        var counters = pool.Root<Registry>().Counters;
        using var tx = pool.BeginTransaction();
        for (long k = 0; k < count; k++)
        {
            counters.Add(k, k * 10);
        }

        tx.Commit();
        return counters;
    }

    private static void AssertHolds(PersistentDictionary<long, long> map, long key, long value)
    {
        Assert.True(map.TryGetValue(key, out var stored), $"key {key} missing");
        Assert.Equal(value, stored);
        Assert.Equal(value, map[key]);
        Assert.True(map.ContainsKey(key));
    }

    private static void AssertMissing(PersistentDictionary<long, long> map, long key)
    {
        Assert.False(map.TryGetValue(key, out _), $"key {key} present");
        Assert.False(map.ContainsKey(key));
        Assert.Throws<KeyNotFoundException>(() => map[key]);
    }

    [Fact]
    public void The_inline_hash_of_4_and_8_byte_values_is_XxHash3()
    {
        var random = new Random(6);
        long[] edges = [0, 1, -1, long.MinValue, long.MaxValue, 0x100000000, 0xFFFFFFFF];
        foreach (var value in edges.Concat(Enumerable.Range(0, 10_000).Select(_ => random.NextInt64(long.MinValue, long.MaxValue))))
        {
            Assert.Equal(XxHash3.HashToUInt64(BitConverter.GetBytes(value)), StableHash.OfBytes(in value));
            var narrow = (int)value;
            Assert.Equal(XxHash3.HashToUInt64(BitConverter.GetBytes(narrow)), StableHash.OfBytes(in narrow));
            var real = BitConverter.Int64BitsToDouble(value);
            Assert.Equal(XxHash3.HashToUInt64(BitConverter.GetBytes(real)), StableHash.OfBytes(in real));
        }

        var guid = Guid.NewGuid();
        Assert.Equal(XxHash3.HashToUInt64(guid.ToByteArray()), StableHash.OfBytes(in guid));
        var small = (short)-2;
        Assert.Equal(XxHash3.HashToUInt64(BitConverter.GetBytes(small)), StableHash.OfBytes(in small));
    }

    [Fact]
    public void A_lookup_in_a_transaction_sees_its_own_add_and_not_after_rollback()
    {
        using var pool = NewPool();
        var map = Committed(pool, 20);
        using (pool.BeginTransaction())
        {
            map.Add(100, 1000);
            AssertHolds(map, 100, 1000);
            AssertHolds(map, 7, 70);
        }

        AssertMissing(map, 100);
        AssertHolds(map, 7, 70);
    }

    [Fact]
    public void A_lookup_in_a_transaction_sees_its_own_remove_and_the_key_again_after_rollback()
    {
        using var pool = NewPool();
        var map = Committed(pool, 20);
        using (pool.BeginTransaction())
        {
            Assert.True(map.Remove(7));
            AssertMissing(map, 7);
            AssertHolds(map, 8, 80);
        }

        AssertHolds(map, 7, 70);
        Assert.Equal(20, map.Count);
    }

    [Fact]
    public void A_lookup_in_a_transaction_sees_its_own_indexer_set_and_the_old_value_after_rollback()
    {
        using var pool = NewPool();
        var map = Committed(pool, 20);
        using (pool.BeginTransaction())
        {
            map[7] = -7;
            AssertHolds(map, 7, -7);
        }

        AssertHolds(map, 7, 70);
        using (var tx = pool.BeginTransaction())
        {
            map[7] = -7;
            tx.Commit();
        }

        AssertHolds(map, 7, -7);
    }

    [Fact]
    public void Lookups_in_a_transaction_follow_its_own_resizes_and_the_old_table_after_rollback()
    {
        using var pool = NewPool();
        var map = Committed(pool, 5);
        using (pool.BeginTransaction())
        {
            for (long k = 5; k < 500; k++)
            {
                map.Add(k, k * 10); // the table grows several times, each new table visible only to this transaction
            }

            for (long k = 0; k < 500; k++)
            {
                AssertHolds(map, k, k * 10);
            }
        }

        for (long k = 0; k < 5; k++)
        {
            AssertHolds(map, k, k * 10);
        }

        AssertMissing(map, 5);
        AssertMissing(map, 499);
        using (var tx = pool.BeginTransaction())
        {
            for (long k = 5; k < 500; k++)
            {
                map.Add(k, k * 10);
            }

            tx.Commit();
        }

        for (long k = 0; k < 500; k++)
        {
            AssertHolds(map, k, k * 10);
        }
    }

    [Fact]
    public void A_lookup_in_a_transaction_that_wrote_only_elsewhere_sees_the_committed_entries()
    {
        using var pool = NewPool();
        var map = Committed(pool, 20);
        var account = pool.New<Account>();
        using (pool.BeginTransaction())
        {
            AssertHolds(map, 3, 30); // no writes yet: the live path
            account.Balance = 5; // a write elsewhere: the overlay path, same answers
            AssertHolds(map, 3, 30);
            AssertMissing(map, 99);
        }
    }

    [Fact]
    public async Task Another_threads_uncommitted_writes_are_invisible_to_a_lookup()
    {
        using var pool = NewPool();
        var map = Committed(pool, 5);
        using var written = new ManualResetEventSlim();
        using var checkedByMain = new ManualResetEventSlim();
        var writer = Task.Run(() =>
        {
            try
            {
                using (pool.BeginTransaction())
                {
                    map[1] = -1;
                    map.Remove(2);
                    for (long k = 100; k < 200; k++)
                    {
                        map.Add(k, k); // resizes into a table only this transaction sees
                    }

                    AssertHolds(map, 1, -1);
                    written.Set();
                    checkedByMain.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
                }
            }
            finally
            {
                written.Set();
            }
        }, TestContext.Current.CancellationToken);

        try
        {
            Assert.True(written.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
            AssertHolds(map, 1, 10);
            AssertHolds(map, 2, 20);
            AssertMissing(map, 150);
        }
        finally
        {
            checkedByMain.Set();
            await writer;
        }

        AssertHolds(map, 1, 10);
    }

    [Fact]
    public void Keys_of_4_and_16_bytes_are_found_on_both_paths()
    {
        using var pool = NewPool();
        var maps = pool.Root<OddMaps>();
        var byInt = maps.ByInt;
        var byGuid = maps.ByGuid;
        var guids = Enumerable.Range(0, 300).Select(i => new Guid(i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)).ToArray();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < guids.Length; i++)
            {
                byInt.Add(i - 150, guids[i]);
                byGuid.Add(guids[i], i);
            }

            Assert.Equal(guids[0], byInt[-150]); // overlay path
            Assert.Equal(299L, byGuid[guids[299]]);
            tx.Commit();
        }

        for (var i = 0; i < guids.Length; i++)
        {
            Assert.Equal(guids[i], byInt[i - 150]); // live path
            Assert.Equal(i, byGuid[guids[i]]);
        }

        Assert.False(byInt.ContainsKey(150));
        Assert.False(byGuid.ContainsKey(Guid.Empty));
    }
}

/// <summary>Dictionaries with keys of other widths than 8 bytes.</summary>
internal sealed class OddMaps : PersistentObject, IPersistentObject<OddMaps>
{
    private OddMaps(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.OddMaps", 64, 0x0DD,
        [new(0, PersistentFieldKind.Collection), new(8, PersistentFieldKind.Collection)]);

    static OddMaps IPersistentObject<OddMaps>.Attach(ObjectHandle handle) => new(handle);

    public PersistentDictionary<int, Guid> ByInt => GetDictionary<int, Guid>(0);

    public PersistentDictionary<Guid, long> ByGuid => GetDictionary<Guid, long>(8);
}
