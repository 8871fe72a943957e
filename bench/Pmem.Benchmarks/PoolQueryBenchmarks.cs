using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// <c>pool.All&lt;T&gt;()</c> over 1 M objects of one type among 250 K of another (same size class), per object: the
/// heap scan plus the wrapper each object gets; <c>AllOfType</c> is the scan alone (offsets, no wrappers).
/// </summary>
public class PoolQueryBenchmarks
{
    private const int Objects = 1_000_000;
    private PersistentPool _pool = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "query", 256L << 20);
        for (var i = 0; i < Objects; i += 250)
        {
            using var tx = _pool.BeginTransaction();
            for (var j = 0; j < 250; j++)
            {
                _pool.New<Account>();
                if (j % 4 == 0)
                {
                    _pool.New<Pair>();
                }
            }

            tx.Commit();
        }
    }

    [Benchmark(OperationsPerInvoke = Objects)]
    public long All_T()
    {
        var sum = 0L;
        foreach (var account in _pool.All<Account>())
        {
            sum += account.Offset;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Objects)]
    public long AllOfType_offsets()
    {
        var sum = 0L;
        foreach (var offset in _pool.AllOfType("bench.account"))
        {
            sum += offset;
        }

        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
