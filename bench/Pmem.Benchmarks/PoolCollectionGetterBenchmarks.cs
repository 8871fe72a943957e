// PoolCollectionGetterBenchmarks -- what a collection property's getter costs when the collection exists (the read path).
using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// A generated collection getter followed by <c>Count</c>, on objects whose collections exist: the handle is made,
/// the header found and checked, one field read. Collections are created by their first insert (reads never write),
/// so this is the path every read of an existing collection takes; it must cost what it cost when the getter created.
/// </summary>
public class PoolCollectionGetterBenchmarks
{
    private PersistentPool _pool = null!;
    private MapHolder _map = null!;
    private SortedHolder _sorted = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "collection-getter", 16L << 20);
        _map = _pool.Root<MapHolder>();
        _map.Map[1] = 1;
        _sorted = _pool.New<SortedHolder>();
        _sorted.Map[1] = 1;
    }

    [Benchmark(Baseline = true)]
    public int Dictionary_getter_then_Count() => _map.Map.Count;

    [Benchmark]
    public int Sorted_dictionary_getter_then_Count() => _sorted.Map.Count;

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
