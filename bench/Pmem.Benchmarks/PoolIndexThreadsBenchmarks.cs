// PoolIndexThreadsBenchmarks -- index lookups on one and on two threads at once: do reads of an index scale with threads?
using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// The 1 M <see cref="NamedItem"/>s of <see cref="PoolIndexLookupBenchmarks"/>; an operation is 4,096
/// <c>Index.Find</c>s of random names shared among <see cref="Threads"/> threads running at once (the caller's and the
/// thread pool's), so the figure is the time per lookup of all threads together: threads that scale show 1/T of one
/// thread's. <c>Hot</c> looks up 64 names only (nodes and objects in cache: what is left is what the threads share).
/// </summary>
public class PoolIndexThreadsBenchmarks
{
    private const int Lookups = 4096;
    private PersistentPool _pool = null!;
    private PersistentIndex<NamedItem, string> _index = null!;
    private string[] _names = null!;
    private string[] _hotNames = null!;

    /// <summary>How many threads share an operation's lookups.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "index-threads", 1L << 30);
        NamedPrefill.Fill(_pool);
        _index = _pool.Index<NamedItem, string>(nameof(NamedItem.Name));
        var random = new Random(7);
        _names = [.. Enumerable.Range(0, Lookups).Select(_ => NamedPrefill.Name(random.Next(NamedPrefill.Count)))];
        _hotNames = [.. Enumerable.Range(0, Lookups).Select(i => _names[i % 64])];
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Find() => Run(_names);

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Find_hot() => Run(_hotNames);

    private long Run(string[] names)
    {
        long sum = 0;
        var share = Lookups / Threads;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, thread =>
        {
            long own = 0;
            for (var i = thread * share; i < (thread + 1) * share; i++)
            {
                own += _index.Find(names[i])[0].Offset;
            }

            Interlocked.Add(ref sum, own);
        });
        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
