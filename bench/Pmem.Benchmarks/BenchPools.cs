using Pmem.Memory;
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

    public static string NewPath(string directory, string name) =>
        Path.Combine(directory, $"pmem-bench-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}.pool");

    /// <summary>Creates a pool whose file is unlinked at once (the mapping keeps it alive; nothing is left behind).</summary>
    public static PersistentPool CreateAnonymous(string directory, string name, long size, DurabilityMode durability = DurabilityMode.PowerFailure)
    {
        _ = NativeLibPmem.IsAvailable; // C environment first, as the engine benchmarks do
        var path = NewPath(directory, name);
        var pool = PersistentPool.Create(path, "bench", size, new PoolCreateOptions { Durability = durability });
        File.Delete(path);
        Console.WriteLine($"// pool {name}: {durability}, domain {pool.Domain.GetType().Name} ({pool.Domain.FlushPath}) on {directory}");
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
}
