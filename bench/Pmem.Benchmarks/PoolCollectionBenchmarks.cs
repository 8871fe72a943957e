using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// Dictionary insert of an 8-byte key and value, each in its own (implicit) transaction. One operation is an
/// <c>Add</c> followed by a <c>Remove</c> of the same key, so the size stays at the prefill; the baseline is two
/// transactions of two 8-byte writes each (the same number of commits).
/// </summary>
public class PoolDictionaryInsertBenchmarks
{
    private const int Prefill = 10_000;
    private PersistentPool _pool = null!;
    private PersistentDictionary<long, long> _map = null!;
    private Pair[] _pairs = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "dict-insert", 64L << 20);
        _map = PoolDictionaries.Prefill(_pool, Prefill);
        _pairs = new Pair[1024];
        for (var k = 0; k < _pairs.Length; k += 256)
        {
            using var tx = _pool.BeginTransaction();
            for (var i = k; i < k + 256; i++)
            {
                _pairs[i] = _pool.New<Pair>();
            }

            tx.Commit();
        }
    }

    [Benchmark(Baseline = true)]
    public void Two_tx_of_two_8B_writes()
    {
        var i = _cursor = (_cursor + 1) & 1023;
        var p = _pairs[i];
        using (var tx = _pool.BeginTransaction())
        {
            p.A = i;
            p.B = i;
            tx.Commit();
        }

        using (var tx = _pool.BeginTransaction())
        {
            p.A = -i;
            p.B = -i;
            tx.Commit();
        }
    }

    [Benchmark]
    public void Dictionary_Add_then_Remove()
    {
        var key = Prefill + (_cursor = (_cursor + 1) & 1023);
        _map.Add(key, key);
        _map.Remove(key);
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}

/// <summary>Dictionary lookup (TryGetValue) in a prefilled 10,000-entry dictionary against <c>Dictionary&lt;long, long&gt;</c>.</summary>
public class PoolDictionaryLookupBenchmarks
{
    private const int Prefill = 10_000;
    private const int Lookups = 64;
    private PersistentPool _pool = null!;
    private PersistentDictionary<long, long> _map = null!;
    private readonly Dictionary<long, long> _managed = new();
    private long[] _keys = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "dict-lookup", 64L << 20);
        _map = PoolDictionaries.Prefill(_pool, Prefill);
        for (long k = 0; k < Prefill; k++)
        {
            _managed.Add(k, k * 3);
        }

        var random = new Random(42);
        _keys = new long[8192];
        for (var i = 0; i < _keys.Length; i++)
        {
            _keys[i] = random.Next(Prefill);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public long Managed_Dictionary_TryGetValue()
    {
        var start = _cursor = (_cursor + Lookups) & (_keys.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            _managed.TryGetValue(_keys[start + j], out var v);
            sum += v;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Persistent_Dictionary_TryGetValue()
    {
        var start = _cursor = (_cursor + Lookups) & (_keys.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            _map.TryGetValue(_keys[start + j], out var v);
            sum += v;
        }

        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}

internal static class PoolDictionaries
{
    /// <summary>The root's dictionary with keys 0..count-1 (value = 3 × key), filled in transactions of 250.</summary>
    public static PersistentDictionary<long, long> Prefill(PersistentPool pool, int count)
    {
        var map = pool.Root<MapHolder>().Map; // cached: each access of the property builds a new handle
        for (var k = 0; k < count; k += 250)
        {
            using var tx = pool.BeginTransaction();
            for (long j = k; j < Math.Min(k + 250, count); j++)
            {
                map.Add(j, j * 3);
            }

            tx.Commit();
        }

        return map;
    }
}
