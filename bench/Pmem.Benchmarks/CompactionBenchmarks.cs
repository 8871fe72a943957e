// CompactionBenchmarks -- compacting a pool fragmented to half occupancy: its time beside a file copy, and the sizes before and after.
using BenchmarkDotNet.Attributes;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Benchmarks;

/// <summary>
/// A pool of <see cref="Items"/> objects of 64 bytes, each with a string and a reference to the previous one, held in a
/// list from the root, then every other one deleted (its list element set to null): half occupancy, holes in every
/// run. Each invocation compacts a fresh copy; <c>Copy_file</c> copies the same pool, for scale. The sizes before and
/// after, and their ratio to the live bytes (the target: at most 1.1x), are printed at setup as "//" lines.
/// </summary>
[MinIterationCount(3), MaxIterationCount(6), WarmupCount(1), InvocationCount(1)]
public class CompactionBenchmarks
{
    public const int Items = 200_000;
    private const string Layout = "bench-compact";
    private string _template = "";
    private string _work = "";

    [GlobalSetup]
    public void Setup()
    {
        var directory = BenchPools.DiskDirectory;
        _template = BenchPools.NewPath(directory, "compact-template");
        _work = BenchPools.NewPath(directory, "compact-work");
        using (var pool = PersistentPool.Create(_template, Layout, 64L << 20, new PoolCreateOptions { MaxSize = 1L << 30 }))
        {
            var root = pool.Root<CompactionRoot>();
            CompactionItem? previous = null;
            for (var done = 0; done < Items; done += 1000)
            {
                using var tx = pool.BeginTransaction();
                for (var i = done; i < done + 1000; i++)
                {
                    var item = pool.New<CompactionItem>();
                    item.Value = i;
                    item.Name = $"item {i}";
                    item.Previous = previous;
                    previous = item;
                    root.Items.Add(item);
                }

                tx.Commit();
            }

            for (var done = 0; done < Items; done += 1000)
            {
                using var tx = pool.BeginTransaction();
                for (var i = done + 1; i < done + 1000; i += 2)
                {
                    var item = root.Items[i]!;
                    root.Items[i] = null;
                    if (i + 1 < Items)
                    {
                        root.Items[i + 1]!.Previous = null;
                    }

                    pool.Delete(item);
                }

                tx.Commit();
            }
        }

        File.Copy(_template, _work, overwrite: true);
        var result = PoolCompaction.Compact(_work, Layout);
        Console.WriteLine($"// {Items} items, half deleted: {result.SizeBefore >> 20} MiB -> {result.SizeAfter / (double)(1 << 20):F1} MiB " +
            $"(after/before {(double)result.SizeAfter / result.SizeBefore:F3}); live {result.LiveBytes / (double)(1 << 20):F1} MiB, after/live {(double)result.SizeAfter / result.LiveBytes:F3}");
    }

    [IterationSetup]
    public void CopyTemplate()
    {
        File.Copy(_template, _work, overwrite: true);
        File.Delete(PoolCompaction.TemporaryPath(_work));
    }

    [Benchmark(Baseline = true)]
    public void Copy_file() => File.Copy(_template, _work + ".copy", overwrite: true);

    [Benchmark]
    public PoolCompactionResult Compact() => PoolCompaction.Compact(_work, Layout);

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_template);
        File.Delete(_work);
        File.Delete(_work + ".copy");
    }
}

/// <summary>The root of the compaction benchmark's pool.</summary>
[PersistentObject]
public partial class CompactionRoot
{
    public partial PersistentList<CompactionItem?> Items { get; }
}

/// <summary>An item: a value, a string and a reference, so compaction rewrites all three kinds of offsets.</summary>
[PersistentObject]
public partial class CompactionItem
{
    public partial long Value { get; set; }

    public partial string? Name { get; set; }

    public partial CompactionItem? Previous { get; set; }
}
