using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

internal static class SortedPrefill
{
    /// <summary>Entries of the prefilled sorted dictionary: even keys 0, 2, …, inserted in random order (leaves about 70 % full).</summary>
    public const int Count = 1_000_000;

    /// <summary>The keys 2i in the random order every store is filled in (SQLite and LMDB too: <see cref="SortedPeers"/>).</summary>
    public static long[] Keys()
    {
        var keys = Enumerable.Range(0, Count).Select(i => 2L * i).ToArray();
        new Random(42).Shuffle(keys);
        return keys;
    }

    /// <summary>The root's sorted dictionary with keys 2i (value = 3 × key), filled in random order in transactions of 1,000.</summary>
    public static PersistentSortedDictionary<long, long> Fill(PersistentPool pool)
    {
        var map = pool.Root<SortedHolder>().Map;
        var keys = Keys();
        for (var k = 0; k < keys.Length; k += 1_000)
        {
            using var tx = pool.BeginTransaction();
            for (var j = k; j < Math.Min(k + 1_000, keys.Length); j++)
            {
                map.Add(keys[j], keys[j] * 3);
            }

            tx.Commit();
        }

        return map;
    }
}

/// <summary>
/// Point lookups in 1 M <c>long → long</c>: the persistent B+-tree against <c>SortedDictionary&lt;long, long&gt;</c>, and
/// beside them SQLite's prepared <c>SELECT v … WHERE k = $k</c> and LMDB's get (<see cref="SortedPeers"/>: the same keys).
/// </summary>
public class PoolSortedLookupBenchmarks
{
    private const int Lookups = 64;
    private PersistentPool? _pool;
    private PersistentSortedDictionary<long, long> _map = null!;
    private SortedDictionary<long, long> _managed = null!;
    private SqliteSorted? _sqlite;
    private LmdbSorted? _lmdb;
    private long[] _keys = null!;
    private int _cursor;

    [GlobalSetup(Targets = [nameof(SortedDictionary_TryGetValue), nameof(PersistentSorted_TryGetValue)])]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "sorted-lookup", 256L << 20);
        _map = SortedPrefill.Fill(_pool);
        _managed = new SortedDictionary<long, long>(_map.ToDictionary());
        MakeKeys();
    }

    [GlobalSetup(Target = nameof(Sqlite_select_by_key))]
    public void SetupSqlite() => (_sqlite, _keys) = (new SqliteSorted(BenchPools.ShmDirectory), MakeKeys());

    [GlobalSetup(Target = nameof(Lmdb_get))]
    public void SetupLmdb() => (_lmdb, _keys) = (new LmdbSorted(BenchPools.ShmDirectory), MakeKeys());

    private long[] MakeKeys()
    {
        var random = new Random(7);
        return _keys = [.. Enumerable.Range(0, 8192).Select(_ => 2L * random.Next(SortedPrefill.Count))];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public long SortedDictionary_TryGetValue()
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
    public long PersistentSorted_TryGetValue()
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

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Sqlite_select_by_key()
    {
        var start = _cursor = (_cursor + Lookups) & (_keys.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            sum += _sqlite!.Get(_keys[start + j]);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups), BenchmarkCategory(LmdbSorted.Category)]
    public long Lmdb_get()
    {
        var start = _cursor = (_cursor + Lookups) & (_keys.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            sum += _lmdb!.Get(_keys[start + j]);
        }

        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => SortedPeers.Dispose(ref _pool, ref _sqlite, ref _lmdb);
}

/// <summary>
/// Insert into 1 M entries, each in its own (implicit) transaction: one operation is an <c>Add</c> and a <c>Remove</c> of
/// an odd key, so the size stays put; the baseline is two transactions of two 8-byte writes (the same number of commits).
/// Beside them: SQLite's <c>INSERT</c> and <c>DELETE</c> (autocommit, WAL, synchronous=FULL) and LMDB's put and delete, a
/// write transaction each.
/// </summary>
public class PoolSortedInsertBenchmarks
{
    private PersistentPool? _pool;
    private PersistentSortedDictionary<long, long> _map = null!;
    private Pair _pair = null!;
    private SqliteSorted? _sqlite;
    private LmdbSorted? _lmdb;
    private long[] _keys = null!;
    private int _cursor;

    [GlobalSetup(Targets = [nameof(Two_tx_of_two_8B_writes), nameof(Sorted_Add_then_Remove)])]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "sorted-insert", 256L << 20);
        _map = SortedPrefill.Fill(_pool);
        _pair = _pool.New<Pair>();
        MakeKeys();
    }

    [GlobalSetup(Target = nameof(Sqlite_insert_then_delete))]
    public void SetupSqlite() => (_sqlite, _keys) = (new SqliteSorted(BenchPools.ShmDirectory), MakeKeys());

    [GlobalSetup(Target = nameof(Lmdb_put_then_delete))]
    public void SetupLmdb() => (_lmdb, _keys) = (new LmdbSorted(BenchPools.ShmDirectory), MakeKeys());

    private long[] MakeKeys()
    {
        var random = new Random(9);
        return _keys = [.. Enumerable.Range(0, 1024).Select(_ => 2L * random.Next(SortedPrefill.Count) + 1)];
    }

    [Benchmark(Baseline = true)]
    public void Two_tx_of_two_8B_writes()
    {
        var i = _cursor = (_cursor + 1) & 1023;
        using (var tx = _pool!.BeginTransaction())
        {
            _pair.A = i;
            _pair.B = i;
            tx.Commit();
        }

        using (var tx = _pool!.BeginTransaction())
        {
            _pair.A = -i;
            _pair.B = -i;
            tx.Commit();
        }
    }

    [Benchmark]
    public void Sorted_Add_then_Remove()
    {
        var key = _keys[_cursor = (_cursor + 1) & 1023];
        _map.Add(key, key);
        _map.Remove(key);
    }

    [Benchmark]
    public void Sqlite_insert_then_delete()
    {
        var key = _keys[_cursor = (_cursor + 1) & 1023];
        _sqlite!.Insert(key, key);
        _sqlite.Delete(key);
    }

    [Benchmark, BenchmarkCategory(LmdbSorted.Category)]
    public void Lmdb_put_then_delete()
    {
        var key = _keys[_cursor = (_cursor + 1) & 1023];
        _lmdb!.Put(key, key);
        _lmdb.Delete(key);
    }

    [GlobalCleanup]
    public void Cleanup() => SortedPeers.Dispose(ref _pool, ref _sqlite, ref _lmdb);
}

/// <summary>
/// A 1,000-key range scan (keys and values summed) in 1 M entries, against enumerating a <c>SortedDictionary</c> of those
/// same 1,000 entries (it has no range API) and a <c>SortedSet&lt;long&gt;</c> view over 1 M keys; beside them SQLite's
/// prepared <c>SELECT k, v … WHERE k &gt;= $a ORDER BY k LIMIT 1000</c> and an LMDB cursor from the same key.
/// </summary>
public class PoolSortedRangeBenchmarks
{
    private const int RangeKeys = 1_000;
    private const long Lower = 2L * 400_000;
    private PersistentPool? _pool;
    private PersistentSortedDictionary<long, long> _map = null!;
    private SortedDictionary<long, long> _managedRange = null!;
    private SortedSet<long> _managedSet = null!;
    private SqliteSorted? _sqlite;
    private LmdbSorted? _lmdb;
    private long _lower;

    [GlobalSetup(Target = nameof(Sqlite_select_range_1000))]
    public void SetupSqlite() => (_sqlite, _lower) = (new SqliteSorted(BenchPools.ShmDirectory), Lower);

    [GlobalSetup(Target = nameof(Lmdb_cursor_range_1000))]
    public void SetupLmdb() => (_lmdb, _lower) = (new LmdbSorted(BenchPools.ShmDirectory), Lower);

    [GlobalSetup(Targets = [nameof(SortedDictionary_enumerate_1000), nameof(SortedSet_GetViewBetween_1000), nameof(PersistentSorted_Range_1000)])]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "sorted-range", 256L << 20);
        _map = SortedPrefill.Fill(_pool);
        _lower = Lower;
        _managedRange = new SortedDictionary<long, long>(_map.Range(_lower, _lower + 2 * RangeKeys).ToDictionary());
        _managedSet = [.. Enumerable.Range(0, SortedPrefill.Count).Select(i => 2L * i)];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = RangeKeys)]
    public long SortedDictionary_enumerate_1000()
    {
        long sum = 0;
        foreach (var pair in _managedRange)
        {
            sum += pair.Key + pair.Value;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = RangeKeys)]
    public long SortedSet_GetViewBetween_1000()
    {
        long sum = 0;
        foreach (var key in _managedSet.GetViewBetween(_lower, _lower + 2 * RangeKeys - 1))
        {
            sum += key;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = RangeKeys)]
    public long PersistentSorted_Range_1000()
    {
        long sum = 0;
        foreach (var pair in _map.Range(_lower, _lower + 2 * RangeKeys))
        {
            sum += pair.Key + pair.Value;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = RangeKeys)]
    public long Sqlite_select_range_1000() => _sqlite!.Range(_lower, RangeKeys);

    [Benchmark(OperationsPerInvoke = RangeKeys), BenchmarkCategory(LmdbSorted.Category)]
    public long Lmdb_cursor_range_1000() => _lmdb!.Range(_lower, RangeKeys);

    [GlobalCleanup]
    public void Cleanup() => SortedPeers.Dispose(ref _pool, ref _sqlite, ref _lmdb);
}
