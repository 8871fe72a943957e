// PoolCheckBenchmarks -- Check() and OpenReadOnly of a pool with 1 M objects (the tool's check and info), time and memory.
using BenchmarkDotNet.Attributes;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// A pool of 1,000,000 objects of 64 bytes on /dev/shm, each with a string and a reference to the one before (a chain
/// from the root, so every object is reachable): what <c>pmem check</c> does, opened read-only as the tool opens it.
/// The same objects never linked (as a program that finds them by <c>All&lt;T&gt;()</c> keeps them) are walked as
/// detached. The memory diagnoser reports what the check allocates (its bookkeeping per block).
/// </summary>
[MemoryDiagnoser]
[WarmupCount(1), IterationCount(5), InvocationCount(1)]
public class PoolCheckBenchmarks
{
    public const int Objects = 1_000_000;
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _path = BenchPools.NewPath(BenchPools.ShmDirectory, "check");
        using var pool = PersistentPool.Create(_path, "bench", 512L << 20, new PoolCreateOptions { LaneSize = 1 << 20 });
        Node? previous = null;
        for (var done = 0; done < Objects; done += 1000)
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 1000; i++)
            {
                var node = done + i == 0 ? pool.Root<Node>() : pool.New<Node>();
                node.Name = "n";
                if (previous is not null)
                {
                    previous.Next = node;
                }

                previous = node;
            }

            tx.Commit();
        }
    }

    /// <summary>A second pool: one dictionary of 1 M <c>long → long</c> entries, whose table Check walks and rehashes key by key.</summary>
    private string _dictionaryPath = "";

    [GlobalSetup(Target = nameof(Check_dictionary))]
    public void SetupDictionary()
    {
        _dictionaryPath = BenchPools.NewPath(BenchPools.ShmDirectory, "check-dictionary");
        using var pool = PersistentPool.Create(_dictionaryPath, "bench", 256L << 20, new PoolCreateOptions { LaneSize = 1 << 20 });
        var map = pool.Root<Pmem.Benchmarks.Objects.MapHolder>().Map;
        for (var done = 0; done < Objects; done += 1000)
        {
            using var tx = pool.BeginTransaction();
            for (var i = done; i < done + 1000; i++)
            {
                map[i * 7919L] = i;
            }

            tx.Commit();
        }
    }

    /// <summary>A third pool: the same nodes and strings, none linked (no root): every one detached.</summary>
    private string _detachedPath = "";

    [GlobalSetup(Target = nameof(Open_read_only_and_check_detached))]
    public void SetupDetached()
    {
        _detachedPath = BenchPools.NewPath(BenchPools.ShmDirectory, "check-detached");
        using var pool = PersistentPool.Create(_detachedPath, "bench", 512L << 20, new PoolCreateOptions { LaneSize = 1 << 20 });
        for (var done = 0; done < Objects; done += 1000)
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 1000; i++)
            {
                pool.New<Node>().Name = "n";
            }

            tx.Commit();
        }
    }

    [Benchmark]
    public long Open_read_only_and_check_detached()
    {
        using var pool = PersistentPool.OpenReadOnly(_detachedPath, "bench");
        var report = pool.Check();
        return report.IsClean && report.DetachedObjects == 2L * Objects ? report.DetachedObjects : throw new InvalidOperationException("not clean");
    }

    [Benchmark]
    public long Check_dictionary()
    {
        using var pool = PersistentPool.OpenReadOnly(_dictionaryPath, "bench");
        var report = pool.Check();
        return report.IsConsistent ? report.ReachableObjects : throw new InvalidOperationException("not clean");
    }

    [Benchmark]
    public long Open_read_only()
    {
        using var pool = PersistentPool.OpenReadOnly(_path, "bench");
        return pool.Size;
    }

    [Benchmark]
    public long Open_read_only_and_check()
    {
        using var pool = PersistentPool.OpenReadOnly(_path, "bench");
        var report = pool.Check();
        return report.IsConsistent && report.ReachableObjects >= Objects ? report.ReachableObjects : throw new InvalidOperationException("not clean");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var path in new[] { _path, _dictionaryPath, _detachedPath })
        {
            if (path.Length > 0)
            {
                File.Delete(path); // each benchmark made one of them only (File.Delete("") throws)
            }
        }
    }

    /// <summary>A string and a reference in 64 bytes.</summary>
    private sealed class Node : PersistentObject, IPersistentObject<Node>
    {
        private Node(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new(
            "bench.check.node", 64, 0xC4EC, 1, [new("Name", "string", 0, 8, isNullable: true), new("Next", "reference", 8, 8, target: "bench.check.node", isNullable: true)]);

        static Node IPersistentObject<Node>.Attach(ObjectHandle handle) => new(handle);

        public string? Name { get => ReadString(0); set => WriteString(0, value); }

        public Node? Next { get => ReadReference<Node>(8); set => WriteReference(8, value); }
    }
}
