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
        AddChain(_pool, Objects, null);
    }

    /// <summary>Adds <paramref name="objects"/> nodes, each referring to the one before (the first to <paramref name="first"/>), 1,000 per transaction.</summary>
    internal static void AddChain(PersistentPool pool, int objects, Node? first)
    {
        var previous = first;
        for (var i = 0; i < objects; i += 1000)
        {
            using var tx = pool.BeginTransaction();
            for (var j = 0; j < 1000; j++)
            {
                var node = pool.New<Node>();
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

/// <summary>
/// <c>PoolExport.Import</c> (what <c>pmem import</c> runs) of 100,000 such objects into a new pool file on disk
/// (<see cref="BenchPools.DiskDirectory"/>), per object: the JSON is parsed and every object built through the
/// library, in transactions of 4,096 writes, and the file is published by a synced rename.
/// </summary>
[WarmupCount(1), IterationCount(5), InvocationCount(1)]
public class PoolImportBenchmarks
{
    private const int Objects = 100_000;
    private byte[] _export = [];
    private string _target = "";

    [GlobalSetup]
    public void Setup()
    {
        using var pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "import-source", 64L << 20);
        PoolExportBenchmarks.AddChain(pool, Objects, pool.Root<Node>());

        using var json = new MemoryStream();
        PoolExport.Export(pool, json);
        _export = json.ToArray();
        _target = BenchPools.NewPath(BenchPools.DiskDirectory, "import");
    }

    [IterationCleanup]
    public void DeleteTarget() => File.Delete(_target);

    [Benchmark(OperationsPerInvoke = Objects)]
    public long Import_to_disk() => PoolExport.Import(new MemoryStream(_export), _target).Objects;
}
