using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>Where the pool benchmarks put their files, and helpers to make pools that leave nothing behind.</summary>
internal static class BenchPools
{
    /// <summary>tmpfs; with PMEM_IS_PMEM_FORCE=1 in the process environment both engines treat it as pmem.</summary>
    public const string ShmDirectory = "/dev/shm";

    /// <summary>A directory on an ordinary disk (PMEM_BENCH_DISK_DIR, default /tmp — check it is not tmpfs).</summary>
    public static string DiskDirectory => Environment.GetEnvironmentVariable("PMEM_BENCH_DISK_DIR") is { Length: > 0 } d ? d : "/tmp";

    public static bool PmemForced => Environment.GetEnvironmentVariable("PMEM_IS_PMEM_FORCE") == "1";

    /// <summary>
    /// Writes every dirty page of the machine back (<c>sync</c>), so that a timed operation on a disk does not also pay
    /// for writeback an earlier one left behind.
    /// </summary>
    public static void WriteBackDirtyPages()
    {
        using var sync = System.Diagnostics.Process.Start("sync")!;
        sync.WaitForExit();
    }

    public static string NewPath(string directory, string name) =>
        Path.Combine(directory, $"pmem-bench-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}.pool");

    /// <summary>Creates a pool whose file is unlinked at once (the mapping keeps it alive; nothing is left behind).</summary>
    public static PersistentPool CreateAnonymous(string directory, string name, long size, DurabilityMode durability = DurabilityMode.PowerFailure, bool writeAheadLog = false)
    {
        _ = NativeLibPmem.IsAvailable; // C environment first, as the engine benchmarks do
        var path = NewPath(directory, name);
        var pool = PersistentPool.Create(path, "bench", size, new PoolCreateOptions { Durability = durability, WriteAheadLog = writeAheadLog });
        File.Delete(path);
        File.Delete(PersistentPool.WriteAheadLogPath(path)); // open: its records still go to the unlinked file
        Console.WriteLine($"// pool {name}: {durability}{(writeAheadLog ? " with a write-ahead log" : "")}, domain {pool.Domain.GetType().Name} ({pool.Domain.FlushPath}) on {directory}");
        return pool;
    }

    /// <summary>Creates a native libpmemobj pool whose file is unlinked at once.</summary>
    public static IntPtr CreateNativeAnonymous(string directory, string name, long size)
    {
        var path = NewPath(directory, "native-" + name);
        var pop = NativeLibPmemObj.CreatePool(path, "bench", size);
        File.Delete(path);
        return pop;
    }

    /// <summary>Deletes every object of <paramref name="objects"/> (in transactions of 256, which a lane's log holds) and empties the list.</summary>
    public static void DeleteAll<T>(PersistentPool pool, List<T> objects) where T : PersistentObject
    {
        for (var i = 0; i < objects.Count; i += 256)
        {
            using var tx = pool.BeginTransaction();
            for (var j = i; j < Math.Min(i + 256, objects.Count); j++)
            {
                pool.Delete(objects[j]);
            }

            tx.Commit();
        }

        objects.Clear();
    }

    /// <summary>Frees every native object of <paramref name="oids"/> with <c>pmemobj_free</c> and empties the list.</summary>
    public static unsafe void FreeAllNative(List<PMEMoid> oids)
    {
        foreach (var oid in oids)
        {
            var copy = oid;
            NativeLibPmemObj.Free(&copy);
        }

        oids.Clear();
    }
}
