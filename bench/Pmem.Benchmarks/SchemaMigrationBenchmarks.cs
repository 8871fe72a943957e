// SchemaMigrationBenchmarks -- opening a pool whose class changed: 1 M objects migrated in place or moved, beside a file copy.
using BenchmarkDotNet.Attributes;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// A pool of 1,000,000 objects of 64 bytes (a long and a string each, as version 1 of a class), opened by a program
/// whose class changed: one property added that still fits the 64-byte block (converted in place), or one that grows
/// the object to 128 bytes (every object moves and every reference to it is rewritten). Each invocation migrates a
/// fresh copy of the pool; <c>Copy_file</c> is the reference the issue sets for a disk file (copying the same pool).
/// On an ordinary file (msync) an open migrates in a copy renamed over the file; the <c>_without_copy</c> rows migrate
/// the file itself in synced transactions, as an open does when no copy can be made.
/// </summary>
[MinIterationCount(3), MaxIterationCount(6), WarmupCount(1), InvocationCount(1)]
public class SchemaMigrationBenchmarks
{
    public const int Objects = 1_000_000;
    private const long PoolSize = 512L << 20;
    private string _template = "";
    private string _work = "";

    [Params("shm", "disk")]
    public string Place { get; set; } = "shm";

    [GlobalSetup]
    public void Setup()
    {
        var directory = Place == "shm" ? BenchPools.ShmDirectory : BenchPools.DiskDirectory;
        _template = BenchPools.NewPath(directory, "migration-template");
        _work = BenchPools.NewPath(directory, "migration-work");
        CreateTemplate(_template);
    }

    /// <summary>Writes the version-1 pool every migration starts from: <see cref="Objects"/> items in 1,000-object transactions.</summary>
    internal static void CreateTemplate(string path)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var pool = PersistentPool.Create(path, "bench", PoolSize, new PoolCreateOptions { LaneSize = 1 << 20 });
        for (var done = 0; done < Objects; done += 1000)
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 1000; i++)
            {
                var item = pool.New<ItemV1>();
                item.Balance = done + i;
            }

            tx.Commit();
        }

        Console.WriteLine($"// {Objects} objects in a {PoolSize >> 20} MiB pool at {path} ({pool.Domain.FlushPath}), created in {watch.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// A fresh copy to migrate, written back before the timed operation: otherwise its 512 MiB of dirty pages (and the
    /// previous iteration's) reach the disk during the next operation, whichever it is.
    /// </summary>
    [IterationSetup]
    public void CopyTemplate()
    {
        File.Copy(_template, _work, overwrite: true);
        BenchPools.WriteBackDirtyPages();
    }

    [Benchmark(Baseline = true)]
    public void Copy_file() => File.Copy(_template, _work + ".copy", overwrite: true);

    /// <summary>File.Copy then fsync: a copy that survives a power failure, as a migrated pool must.</summary>
    [Benchmark]
    public void Copy_file_and_sync()
    {
        File.Copy(_template, _work + ".copy", overwrite: true);
        using var copy = new FileStream(_work + ".copy", FileMode.Open, FileAccess.ReadWrite);
        copy.Flush(flushToDisk: true);
    }

    [Benchmark]
    public void Open_unchanged()
    {
        using var pool = PersistentPool.Open(_work, "bench", new PoolOpenOptions { Types = [ItemV1.PersistentType] });
    }

    [Benchmark]
    public void Migrate_in_place()
    {
        using var pool = PersistentPool.Open(_work, "bench", new PoolOpenOptions { Types = [ItemInPlace.PersistentType] });
    }

    [Benchmark]
    public void Migrate_growing()
    {
        using var pool = PersistentPool.Open(_work, "bench", new PoolOpenOptions { Types = [ItemGrown.PersistentType] });
    }

    /// <summary>The same migration in synced transactions on the file itself (what an open does when no copy can be made).</summary>
    [Benchmark]
    public void Migrate_in_place_without_copy()
    {
        using var pool = PersistentPool.Open(_work, "bench", new PoolOpenOptions { Types = [ItemInPlace.PersistentType], MigrateInPlace = true });
    }

    [Benchmark]
    public void Migrate_growing_without_copy()
    {
        using var pool = PersistentPool.Open(_work, "bench", new PoolOpenOptions { Types = [ItemGrown.PersistentType], MigrateInPlace = true });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_template);
        File.Delete(_work);
        File.Delete(_work + ".copy");
        File.Delete(_work + ".migrating");
    }

    /// <summary>Version 1: a long in 64 bytes.</summary>
    internal sealed class ItemV1 : PersistentObject, IPersistentObject<ItemV1>
    {
        private ItemV1(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new("bench.item", 64, 0x17E41, 1, [new("Balance", "System.Int64", 0, 8)]);

        static ItemV1 IPersistentObject<ItemV1>.Attach(ObjectHandle handle) => new(handle);

        public long Balance { get => ReadField<long>(0); set => WriteField(0, value); }
    }

    /// <summary>A property added that still fits: converted in place.</summary>
    internal sealed class ItemInPlace : PersistentObject, IPersistentObject<ItemInPlace>
    {
        private ItemInPlace(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new(
            "bench.item", 64, 0x17E42, 1, [new("Balance", "System.Int64", 0, 8), new("Count", "System.Int32", 8, 4)]);

        static ItemInPlace IPersistentObject<ItemInPlace>.Attach(ObjectHandle handle) => new(handle);
    }

    /// <summary>A property added past the first line: every object moves to a 128-byte block.</summary>
    internal sealed class ItemGrown : PersistentObject, IPersistentObject<ItemGrown>
    {
        private ItemGrown(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new(
            "bench.item", 128, 0x17E43, 1, [new("Balance", "System.Int64", 0, 8), new("Note", "System.Int64", 64, 8)]);

        static ItemGrown IPersistentObject<ItemGrown>.Attach(ObjectHandle handle) => new(handle);
    }
}
