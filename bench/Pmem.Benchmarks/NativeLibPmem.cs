using System.Runtime.InteropServices;

namespace Pmem.Benchmarks;

/// <summary>
/// Native libpmem (PMDK, <c>libpmem.so.1</c>) loaded at run time, so the benchmarks still run where it is not
/// installed (the native columns are then left out). Calls suppress the GC transition, like the engine's own flush
/// calls, so both sides pay the same call cost.
/// </summary>
internal static unsafe class NativeLibPmem
{
    public static readonly bool IsAvailable;
    public static readonly string Status;

    public static readonly delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> Persist;
    public static readonly delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> Flush;
    public static readonly delegate* unmanaged[SuppressGCTransition]<void> Drain;
    public static readonly delegate* unmanaged[SuppressGCTransition]<void*, void*, nuint, void*> MemcpyPersist;
    public static readonly delegate* unmanaged[SuppressGCTransition]<void*, void*, nuint, void*> MemcpyNoDrain;

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    static NativeLibPmem()
    {
        // .NET keeps its own copy of the environment; libpmem reads the C one, so set the knob there too.
        SetEnv("PMEM_IS_PMEM_FORCE", "1", 1);
        if (!NativeLibrary.TryLoad("libpmem.so.1", out IntPtr library))
        {
            Status = "libpmem.so.1 not found (apt-get install libpmem-dev): native baseline columns skipped";
            return;
        }

        Persist = (delegate* unmanaged[SuppressGCTransition]<void*, nuint, void>)NativeLibrary.GetExport(library, "pmem_persist");
        Flush = (delegate* unmanaged[SuppressGCTransition]<void*, nuint, void>)NativeLibrary.GetExport(library, "pmem_flush");
        Drain = (delegate* unmanaged[SuppressGCTransition]<void>)NativeLibrary.GetExport(library, "pmem_drain");
        MemcpyPersist = (delegate* unmanaged[SuppressGCTransition]<void*, void*, nuint, void*>)NativeLibrary.GetExport(library, "pmem_memcpy_persist");
        MemcpyNoDrain = (delegate* unmanaged[SuppressGCTransition]<void*, void*, nuint, void*>)NativeLibrary.GetExport(library, "pmem_memcpy_nodrain");
        IsAvailable = true;
        Status = "libpmem.so.1 loaded";
    }
}
