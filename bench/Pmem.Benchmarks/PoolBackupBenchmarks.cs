// PoolBackupBenchmarks -- pool.Backup of a 1 GiB pool, quiet and with a writer committing throughout, beside File.Copy.
using BenchmarkDotNet.Attributes;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// A 1 GiB pool holding 1,000,000 objects of 64 bytes (and, with <see cref="Fill"/> "full", 840 strings of 1 MiB). <c>File_copy</c> copies a closed file of the same pool (the
/// issue's reference); <c>Backup_quiet</c> backs the open pool up with no other thread; <c>Backup_with_writer</c> does
/// so while another thread commits transfers as fast as it can. Each backup is flushed to disk (File.Copy is not: the
/// ratio is the conservative one; <c>File_copy_and_fsync</c> is the like-for-like reference). The writer's commits and how long they were held are printed per iteration.
/// </summary>
[WarmupCount(1), IterationCount(5), InvocationCount(1)]
public class PoolBackupBenchmarks
{
    public const int Objects = 1_000_000;
    private const long PoolSize = 1L << 30;
    private string _closed = "";
    private string _open = "";
    private string _destination = "";
    private PersistentPool _pool = null!;

    [Params("shm", "disk")]
    public string Place { get; set; } = "shm";

    /// <summary>"objects": the million objects only (64 MB of a 1 GiB pool); "full": also strings of 1 MiB up to ~90 % of it.</summary>
    [Params("objects", "full")]
    public string Fill { get; set; } = "objects";

    [GlobalSetup]
    public void Setup()
    {
        var directory = Place == "shm" ? BenchPools.ShmDirectory : BenchPools.DiskDirectory;
        _closed = BenchPools.NewPath(directory, "backup-closed");
        _open = BenchPools.NewPath(directory, "backup-open");
        _destination = BenchPools.NewPath(directory, "backup-copy");
        using (var pool = PersistentPool.Create(_closed, "bench", PoolSize, new PoolCreateOptions { LaneSize = 1 << 20 }))
        {
            for (var done = 0; done < Objects; done += 1000)
            {
                using var tx = pool.BeginTransaction();
                for (var i = 0; i < 1000; i++)
                {
                    pool.New<Item>().Balance = done + i;
                }

                tx.Commit();
            }

            if (Fill == "full")
            {
                var text = new string('x', (512 << 10) - 64); // UTF-16, a large block of four chunks
                for (var i = 0; i < 840; i++)
                {
                    pool.New<Blob>().Text = text;
                }
            }
        }

        File.Copy(_closed, _open);
        _pool = PersistentPool.Open(_open, "bench", new PoolOpenOptions { Types = [Item.PersistentType] });
        Console.WriteLine($"// {Objects} objects ({Fill}) in a {PoolSize >> 20} MiB pool on {directory} ({_pool.Domain.FlushPath}), {_pool.GetStatistics().AllocatedBytes >> 20} MiB allocated");
    }

    /// <summary>
    /// Each iteration starts with no dirty pages: otherwise the previous iteration's copy, still being written back,
    /// slows the next one (File.Copy's most of all, since it returns before its own writeback).
    /// </summary>
    [IterationSetup]
    public void WriteBackEarlierCopies() => BenchPools.WriteBackDirtyPages();

    [Benchmark(Baseline = true)]
    public void File_copy() => File.Copy(_closed, _destination, overwrite: true);

    /// <summary>File.Copy then fsync: what a backup that survives a power failure costs the simplest way.</summary>
    [Benchmark]
    public void File_copy_and_fsync()
    {
        File.Copy(_closed, _destination, overwrite: true);
        using var copy = new FileStream(_destination, FileMode.Open, FileAccess.ReadWrite);
        copy.Flush(flushToDisk: true);
    }

    [Benchmark]
    public void Backup_quiet() => Report(_pool.Backup(_destination, overwrite: true), commits: 0);

    [Benchmark]
    public void Backup_with_writer()
    {
        var items = _pool.All<Item>().Take(64).ToArray();
        var stop = false;
        long commits = 0;
        var writer = new Thread(() =>
        {
            for (var i = 0; !Volatile.Read(ref stop); i++)
            {
                using var tx = _pool.BeginTransaction();
                items[i & 63].Balance -= 1;
                items[(i + 1) & 63].Balance += 1;
                tx.Commit();
                commits++;
            }
        });
        writer.Start();
        Thread.Sleep(20); // the writer is running before the copy starts
        var result = _pool.Backup(_destination, overwrite: true);
        Volatile.Write(ref stop, true);
        writer.Join();
        Report(result, commits);
    }

    private static void Report(PoolBackupResult result, long commits) =>
        Console.WriteLine($"// backup: {result.Bytes >> 20} MiB in {result.Elapsed.TotalMilliseconds:F0} ms, " +
            $"recopied {result.RecopiedBytes >> 10} KiB, writes held {result.WritesHeldFor.TotalMilliseconds:F1} ms, writer commits {commits}");

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        File.Delete(_closed);
        File.Delete(_open);
        File.Delete(_destination);
    }

    /// <summary>A string, to fill the pool.</summary>
    private sealed class Blob : PersistentObject, IPersistentObject<Blob>
    {
        private Blob(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new("bench.backup.blob", 64, 0xB4C2, 1, [new("Text", "string", 0, 8, isNullable: true)]);

        static Blob IPersistentObject<Blob>.Attach(ObjectHandle handle) => new(handle);

        public string? Text { get => ReadString(0); set => WriteString(0, value); }
    }

    /// <summary>A long in 64 bytes.</summary>
    private sealed class Item : PersistentObject, IPersistentObject<Item>
    {
        private Item(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new("bench.backup.item", 64, 0xB4C1, 1, [new("Balance", "System.Int64", 0, 8)]);

        static Item IPersistentObject<Item>.Attach(ObjectHandle handle) => new(handle);

        public long Balance { get => ReadField<long>(0); set => WriteField(0, value); }
    }
}
