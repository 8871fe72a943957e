using System.IO.Hashing;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

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
}
