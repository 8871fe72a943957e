using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Pmem.Memory;

/// <summary>
/// libpmem's function table over raw pointers: flush, drain, persist, msync and the persistent memcpy family.
/// </summary>
/// <remarks>
/// <para>
/// The strategy (flush instruction, whether drain fences, copy kernel, non-temporal threshold) is chosen once when
/// this class is first used, from CPUID, the <c>PMEM_*</c> environment variables and eADR detection, and kept in
/// <c>static readonly</c> fields. The JIT treats those as constants in optimized code, so the hot paths carry no
/// decisions. The flush loops are machine code emitted at start-up (see <see cref="ActiveFlushPath"/>).
/// </para>
/// <para>
/// These methods trust their arguments as libpmem does: the caller guarantees the ranges are valid memory. Layers
/// above use <see cref="PersistenceDomain"/>, which checks offsets once at its edge.
/// </para>
/// </remarks>
public static unsafe class LibPmem
{
    private static readonly EngineChoice Choice =
        EngineChoice.Choose(CpuFeatures.Current, PmemOptions.Current, AutoFlush.Detect(), FlushCode.IsAvailable);

    private static readonly delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> FlushLines = FlushCode.For(Choice.FlushPath);
    private static readonly delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> DeepFlushLines = FlushCode.For(Choice.CacheLineFlush);
    private static readonly bool FlushSkipped = Choice.FlushPath == FlushPath.NoFlushNeeded;
    private static readonly bool FlushViaMsync = Choice.FlushPath == FlushPath.Msync;
    private static readonly bool DrainFences = Choice.DrainFences;
    private static readonly VectorKernel Kernel = Choice.Kernel;
    private static readonly nuint MovntThreshold = (nuint)Math.Max(0, Choice.MovntThreshold);
    private static readonly bool IsPmemForced = PmemOptions.Current.IsPmemForce == true;
    private static readonly bool IsPmemForcedOff = PmemOptions.Current.IsPmemForce == false;

    /// <summary>How <see cref="Flush"/> reaches the persistence domain on this machine.</summary>
    /// <remarks>
    /// <see cref="FlushPath.Clwb"/>, <see cref="FlushPath.ClflushOpt"/> or <see cref="FlushPath.Clflush"/> when the
    /// emitted flush loop runs; <see cref="FlushPath.NoFlushNeeded"/> with eADR or <c>PMEM_NO_FLUSH=1</c>;
    /// <see cref="FlushPath.Msync"/> when no flush instruction can run (not x86-64, or the OS refused to make the
    /// code page executable), in which case every flush is a correct but slow msync of the page-aligned range.
    /// </remarks>
    public static FlushPath ActiveFlushPath => Choice.FlushPath;

    /// <summary>A human-readable description of the chosen flush, drain and memcpy kernels, and why.</summary>
    public static string Description =>
        $"{Choice}; cpu: {CpuFeatures.Current}" + (FlushCode.UnavailableReason is { } reason ? $"; flush code unavailable: {reason}" : string.Empty);

    /// <summary>True when the platform flushes CPU caches on power failure (eADR; <c>pmem_has_auto_flush</c>).</summary>
    public static bool HasAutoFlush { get; } = AutoFlush.Detect();

    /// <summary>
    /// True when the platform has a hardware drain instruction (<c>pmem_has_hw_drain</c>). Always false on x86-64, as
    /// in libpmem: SFENCE orders the flushes, and ADR guarantees the rest.
    /// </summary>
    public static bool HasHwDrain => false;

    /// <summary>Copies of at least this many bytes use non-temporal stores by default (<c>PMEM_MOVNT_THRESHOLD</c>).</summary>
    public static long NonTemporalThreshold => Choice.MovntThreshold;

    /// <summary>Starts write-back of every cache line overlapping the range (<c>pmem_flush</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flush(void* address, nuint length)
    {
        if (FlushSkipped)
        {
            return;
        }

        if (FlushViaMsync)
        {
            Msync(address, length);
            return;
        }

        FlushLines(address, length);
    }

    /// <summary>Waits for earlier flushes and non-temporal stores to be durable (<c>pmem_drain</c>): SFENCE, or nothing after CLFLUSH.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Drain()
    {
        if (DrainFences)
        {
            StoreFence();
        }
    }

    /// <summary>Makes the range durable: flush then drain (<c>pmem_persist</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Persist(void* address, nuint length)
    {
        Flush(address, length);
        Drain();
    }

    /// <summary>Flushes the pages covering the range with <c>msync(MS_SYNC)</c> (<c>pmem_msync</c>); works on any file mapping.</summary>
    /// <exception cref="PmemIOException">msync failed (for example the range is not mapped).</exception>
    public static void Msync(void* address, nuint length)
    {
        nuint page = LibC.PageSize;
        nuint start = (nuint)address & ~(page - 1);
        nuint end = ((nuint)address + length + page - 1) & ~(page - 1);
        if (end == start)
        {
            end = start + page;
        }

        if (LibC.Msync((void*)start, end - start, LibC.MS_SYNC) != 0)
        {
            throw PmemIOException.FromErrno($"msync of [0x{start:x}, 0x{end:x})", null, Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// True when every byte of the range lies in mappings known to be persistent memory (<c>pmem_is_pmem</c>).
    /// <c>PMEM_IS_PMEM_FORCE=1</c> makes it always true, <c>=0</c> always false.
    /// </summary>
    public static bool IsPmem(void* address, nuint length)
    {
        if (IsPmemForced)
        {
            return true;
        }

        return !IsPmemForcedOff && MappingRegistry.IsPmem((nuint)address, length);
    }

    /// <summary>Flushes the range with the cache-line instruction even when eADR makes ordinary flushes unnecessary (<c>pmem_deep_flush</c>).</summary>
    public static void DeepFlush(void* address, nuint length)
    {
        if (DeepFlushLines != null)
        {
            DeepFlushLines(address, length);
        }
        else
        {
            Msync(address, length);
        }
    }

    /// <summary>
    /// Makes the range durable all the way to the media (<c>pmem_deep_persist</c>): deep flush and fence, then on
    /// Device DAX a write to the region's <c>deep_flush</c> file, otherwise an msync of the range.
    /// </summary>
    /// <exception cref="PmemIOException">The msync or the write to <c>deep_flush</c> failed.</exception>
    public static void DeepPersist(void* address, nuint length)
    {
        DeepFlush(address, length);
        StoreFence();
        string? deepFlushFile = MappingRegistry.DeepFlushFileFor((nuint)address);
        if (deepFlushFile is null)
        {
            Msync(address, length);
            return;
        }

        try
        {
            File.WriteAllText(deepFlushFile, "1");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PmemIOException($"deep flush through '{deepFlushFile}' failed: {e.Message}", deepFlushFile, e.HResult & 0xFFFF);
        }
    }

    /// <summary>Copies <paramref name="length"/> bytes and makes them durable as <paramref name="flags"/> say (<c>pmem_memcpy</c>). The ranges may overlap.</summary>
    /// <returns><paramref name="destination"/>.</returns>
    public static void* Memcpy(void* destination, void* source, nuint length, PmemCopyFlags flags = PmemCopyFlags.None) =>
        Memmove(destination, source, length, flags);

    /// <summary>Moves <paramref name="length"/> bytes (overlap allowed) and makes them durable as <paramref name="flags"/> say (<c>pmem_memmove</c>).</summary>
    /// <returns><paramref name="destination"/>.</returns>
    public static void* Memmove(void* destination, void* source, nuint length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        MoveNoDrain((byte*)destination, (byte*)source, length, flags);
        if ((flags & (PmemCopyFlags.NoDrain | PmemCopyFlags.NoFlush)) == 0)
        {
            Drain();
        }

        return destination;
    }

    /// <summary>Sets <paramref name="length"/> bytes to <paramref name="value"/> and makes them durable as <paramref name="flags"/> say (<c>pmem_memset</c>).</summary>
    /// <returns><paramref name="destination"/>.</returns>
    public static void* Memset(void* destination, byte value, nuint length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        FillNoDrain((byte*)destination, value, length, flags);
        if ((flags & (PmemCopyFlags.NoDrain | PmemCopyFlags.NoFlush)) == 0)
        {
            Drain();
        }

        return destination;
    }

    /// <summary>Copies and makes the copy durable (<c>pmem_memcpy_persist</c>).</summary>
    public static void* MemcpyPersist(void* destination, void* source, nuint length) => Memmove(destination, source, length);

    /// <summary>Copies and flushes without the final drain (<c>pmem_memcpy_nodrain</c>); call <see cref="Drain"/> once for a group.</summary>
    public static void* MemcpyNoDrain(void* destination, void* source, nuint length) => Memmove(destination, source, length, PmemCopyFlags.NoDrain);

    /// <summary>Moves (overlap allowed) and makes the result durable (<c>pmem_memmove_persist</c>).</summary>
    public static void* MemmovePersist(void* destination, void* source, nuint length) => Memmove(destination, source, length);

    /// <summary>Moves and flushes without the final drain (<c>pmem_memmove_nodrain</c>).</summary>
    public static void* MemmoveNoDrain(void* destination, void* source, nuint length) => Memmove(destination, source, length, PmemCopyFlags.NoDrain);

    /// <summary>Fills and makes the result durable (<c>pmem_memset_persist</c>).</summary>
    public static void* MemsetPersist(void* destination, byte value, nuint length) => Memset(destination, value, length);

    /// <summary>Fills and flushes without the final drain (<c>pmem_memset_nodrain</c>).</summary>
    public static void* MemsetNoDrain(void* destination, byte value, nuint length) => Memset(destination, value, length, PmemCopyFlags.NoDrain);

    /// <summary>Stores an aligned 8-byte value with a non-temporal store and fences it: durable on return, and atomic.</summary>
    /// <remarks>On ADR platforms a non-temporal store reaches the persistence domain at the fence, with no flush.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreDurable8(long* address, long value)
    {
        if (Sse2.X64.IsSupported)
        {
            Sse2.X64.StoreNonTemporal(address, value);
            Sse.StoreFence();
        }
        else
        {
            Volatile.Write(ref *address, value);
            Persist(address, 8);
        }
    }

    /// <summary>The chosen strategy, for tests and diagnostics.</summary>
    internal static EngineChoice ActiveChoice => Choice;

    private static void MoveNoDrain(byte* destination, byte* source, nuint length, PmemCopyFlags flags)
    {
        if (length == 0 || destination == source)
        {
            return;
        }

        if ((flags & PmemCopyFlags.NoFlush) != 0)
        {
            Buffer.MemoryCopy(source, destination, length, length);
            return;
        }

        if (FlushSkipped)
        {
            // eADR: the caches are persistent; only an explicit non-temporal request uses the streaming kernel.
            if ((flags & PmemCopyFlags.NonTemporal) != 0 && Kernel != VectorKernel.None)
            {
                NonTemporalKernels.Move(Kernel, destination, source, length, flushEdges: false);
            }
            else
            {
                Buffer.MemoryCopy(source, destination, length, length);
            }

            return;
        }

        if (Kernel != VectorKernel.None && UseNonTemporal(length, flags))
        {
            NonTemporalKernels.Move(Kernel, destination, source, length, flushEdges: true);
            if (!DrainFences)
            {
                // After CLFLUSH drain is empty, but non-temporal stores still need their fence.
                StoreFence();
            }
        }
        else
        {
            Buffer.MemoryCopy(source, destination, length, length);
            Flush(destination, length);
        }
    }

    private static void FillNoDrain(byte* destination, byte value, nuint length, PmemCopyFlags flags)
    {
        if (length == 0)
        {
            return;
        }

        if ((flags & PmemCopyFlags.NoFlush) != 0)
        {
            FillTemporal(destination, value, length);
            return;
        }

        if (FlushSkipped)
        {
            if ((flags & PmemCopyFlags.NonTemporal) != 0 && Kernel != VectorKernel.None)
            {
                NonTemporalKernels.Fill(Kernel, destination, value, length, flushEdges: false);
            }
            else
            {
                FillTemporal(destination, value, length);
            }

            return;
        }

        if (Kernel != VectorKernel.None && UseNonTemporal(length, flags))
        {
            NonTemporalKernels.Fill(Kernel, destination, value, length, flushEdges: true);
            if (!DrainFences)
            {
                StoreFence();
            }
        }
        else
        {
            FillTemporal(destination, value, length);
            Flush(destination, length);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool UseNonTemporal(nuint length, PmemCopyFlags flags)
    {
        // As libpmem2: an explicit request wins, non-temporal first; otherwise the size decides.
        if ((flags & (PmemCopyFlags.NonTemporal | PmemCopyFlags.WriteCombining)) != 0)
        {
            return true;
        }

        if ((flags & (PmemCopyFlags.Temporal | PmemCopyFlags.WriteBack)) != 0)
        {
            return false;
        }

        return length >= MovntThreshold;
    }

    private static void FillTemporal(byte* destination, byte value, nuint length)
    {
        while (length > int.MaxValue)
        {
            new Span<byte>(destination, int.MaxValue).Fill(value);
            destination += int.MaxValue;
            length -= int.MaxValue;
        }

        new Span<byte>(destination, (int)length).Fill(value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFence()
    {
        if (Sse.IsSupported)
        {
            Sse.StoreFence();
        }
        else
        {
            Interlocked.MemoryBarrier();
        }
    }
}
