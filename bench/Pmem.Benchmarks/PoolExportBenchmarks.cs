using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Benchmarks;

/// <summary>
/// <c>PoolExport.Export</c> (what <c>pmem export</c> runs) of 1 M small objects, per object: each a number, a
/// short string (10 to 12 characters) and a reference to the next (so every object costs a type lookup, a string read and an id
/// lookup), written as JSON to <see cref="Stream.Null"/> (the serialization, not the disk). Target (issue 16):
/// at least 1 M objects per 5 s, i.e. at most 5 µs per object.
/// </summary>
public class PoolExportBenchmarks
{
    private const int Objects = 1_000_000;
    private PersistentPool _pool = null!;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "export", 512L << 20);
        Node? previous = null;
        for (var i = 0; i < Objects; i += 1000)
        {
            using var tx = _pool.BeginTransaction();
            for (var j = 0; j < 1000; j++)
            {
                var node = _pool.New<Node>();
                node.Value = i + j;
                node.Name = $"node {i + j,5}";
                node.Next = previous;
                previous = node;
            }

            tx.Commit();
        }
    }

    [Benchmark(OperationsPerInvoke = Objects)]
    public long Export_to_json() => PoolExport.Export(_pool, Stream.Null).Objects;

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
