using System.Runtime.InteropServices;

namespace Pmem.Benchmarks;

/// <summary>libpmemobj's object identifier (<c>PMEMoid</c>), passed by value as in C.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PMEMoid
{
    public ulong PoolUuidLo;
    public ulong Off;
}

/// <summary>
/// Native libpmemobj (PMDK, <c>libpmemobj.so.1</c>) loaded at run time like <see cref="NativeLibPmem"/>; the pool
/// benchmarks leave their native columns out when it is absent. Hot calls suppress the GC transition (as the
/// engine's own native calls do), so the native side pays the smallest possible call cost.
/// </summary>
/// <remarks>
/// Transactions use <c>pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE)</c>: with a NULL <c>jmp_buf</c> no setjmp is
/// needed and failures come back as return values. <c>pmemobj_tx_begin</c> is variadic; on x86-64 SysV a
/// non-variadic call with the terminating <c>TX_PARAM_NONE</c> (0) in the third integer register is what C emits.
/// </remarks>
internal static unsafe class NativeLibPmemObj
{
    public static readonly bool IsAvailable;
    public static readonly string Status;

    public static readonly delegate* unmanaged<byte*, byte*, nuint, uint, IntPtr> Create;
    public static readonly delegate* unmanaged<byte*, byte*, IntPtr> Open;
    public static readonly delegate* unmanaged<IntPtr, void> Close;
    public static readonly delegate* unmanaged[SuppressGCTransition]<IntPtr, PMEMoid*, nuint, ulong, int> Zalloc;
    public static readonly delegate* unmanaged[SuppressGCTransition]<PMEMoid*, void> Free;
    public static readonly delegate* unmanaged[SuppressGCTransition]<PMEMoid, void*> Direct;
    public static readonly delegate* unmanaged[SuppressGCTransition]<IntPtr, void*, nuint, void> Persist;
    public static readonly delegate* unmanaged[SuppressGCTransition]<IntPtr, void*, int, int> TxBegin;
    public static readonly delegate* unmanaged[SuppressGCTransition]<PMEMoid, ulong, nuint, int> TxAddRange;
    public static readonly delegate* unmanaged[SuppressGCTransition]<void> TxCommit;
    public static readonly delegate* unmanaged[SuppressGCTransition]<int> TxEnd;
    public static readonly delegate* unmanaged<byte*> ErrorMessage;

    static NativeLibPmemObj()
    {
        _ = NativeLibPmem.IsAvailable; // sets PMEM_IS_PMEM_FORCE in the C environment before libpmem starts
        if (!NativeLibrary.TryLoad("libpmemobj.so.1", out IntPtr library))
        {
            Status = "libpmemobj.so.1 not found (apt-get install libpmemobj-dev): native pool baseline columns skipped";
            return;
        }

        Create = (delegate* unmanaged<byte*, byte*, nuint, uint, IntPtr>)NativeLibrary.GetExport(library, "pmemobj_create");
        Open = (delegate* unmanaged<byte*, byte*, IntPtr>)NativeLibrary.GetExport(library, "pmemobj_open");
        Close = (delegate* unmanaged<IntPtr, void>)NativeLibrary.GetExport(library, "pmemobj_close");
        Zalloc = (delegate* unmanaged[SuppressGCTransition]<IntPtr, PMEMoid*, nuint, ulong, int>)NativeLibrary.GetExport(library, "pmemobj_zalloc");
        Free = (delegate* unmanaged[SuppressGCTransition]<PMEMoid*, void>)NativeLibrary.GetExport(library, "pmemobj_free");
        Direct = (delegate* unmanaged[SuppressGCTransition]<PMEMoid, void*>)NativeLibrary.GetExport(library, "pmemobj_direct");
        Persist = (delegate* unmanaged[SuppressGCTransition]<IntPtr, void*, nuint, void>)NativeLibrary.GetExport(library, "pmemobj_persist");
        TxBegin = (delegate* unmanaged[SuppressGCTransition]<IntPtr, void*, int, int>)NativeLibrary.GetExport(library, "pmemobj_tx_begin");
        TxAddRange = (delegate* unmanaged[SuppressGCTransition]<PMEMoid, ulong, nuint, int>)NativeLibrary.GetExport(library, "pmemobj_tx_add_range");
        TxCommit = (delegate* unmanaged[SuppressGCTransition]<void>)NativeLibrary.GetExport(library, "pmemobj_tx_commit");
        TxEnd = (delegate* unmanaged[SuppressGCTransition]<int>)NativeLibrary.GetExport(library, "pmemobj_tx_end");
        ErrorMessage = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(library, "pmemobj_errormsg");
        IsAvailable = true;
        Status = "libpmemobj.so.1 loaded";
    }

    /// <summary>Creates a pool file (mode 0600); throws with libpmemobj's message on failure.</summary>
    public static IntPtr CreatePool(string path, string layout, long size)
    {
        fixed (byte* p = Utf8(path))
        fixed (byte* l = Utf8(layout))
        {
            IntPtr pop = Create(p, l, (nuint)size, 0x180);
            return pop != IntPtr.Zero ? pop : throw new InvalidOperationException($"pmemobj_create({path}): {LastError()}");
        }
    }

    /// <summary>Opens a pool file; throws with libpmemobj's message on failure.</summary>
    public static IntPtr OpenPool(string path, string layout)
    {
        fixed (byte* p = Utf8(path))
        fixed (byte* l = Utf8(layout))
        {
            IntPtr pop = Open(p, l);
            return pop != IntPtr.Zero ? pop : throw new InvalidOperationException($"pmemobj_open({path}): {LastError()}");
        }
    }

    /// <summary>Allocates a zeroed object of <paramref name="size"/> bytes outside a transaction.</summary>
    public static PMEMoid Alloc(IntPtr pop, long size)
    {
        PMEMoid oid;
        if (Zalloc(pop, &oid, (nuint)size, 1) != 0)
        {
            throw new InvalidOperationException($"pmemobj_zalloc: {LastError()}");
        }

        return oid;
    }

    public static string LastError() => Marshal.PtrToStringUTF8((IntPtr)ErrorMessage()) ?? "(no message)";

    private static byte[] Utf8(string s) => System.Text.Encoding.UTF8.GetBytes(s + "\0");
}
