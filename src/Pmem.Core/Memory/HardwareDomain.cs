using System.Runtime.CompilerServices;

namespace Pmem.Memory;

/// <summary>
/// Persistent memory reached through CPU caches: flush writes back cache lines (CLWB, CLFLUSHOPT or CLFLUSH, as
/// chosen by <see cref="LibPmem"/>), drain is SFENCE, copies use <see cref="LibPmem"/>'s kernels.
/// </summary>
public sealed unsafe class HardwareDomain : MappedDomain
{
    internal HardwareDomain(PmemMapping mapping)
        : base(mapping)
    {
        InlineStoreFlush = InlineFlush.Engine;
    }

    /// <inheritdoc />
    public override FlushPath FlushPath => LibPmem.ActiveFlushPath;

    /// <inheritdoc />
    public override bool IsPersistentMemory => true;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override void Flush(long offset, long length) => LibPmem.Flush(At(offset, length), (nuint)length);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override void Drain() => LibPmem.Drain();

    /// <summary>Stores a value and makes it durable before returning (store, cache-line flush, SFENCE).</summary>
    /// <remarks>
    /// A non-temporal 8-byte store + SFENCE needs no flush and is also atomic, but it measured slower than store +
    /// CLWB + SFENCE for a cold line (figures in bench/RESULTS.md, SmallDurableStoreBenchmarks), so the flush path is
    /// used for every size. <see cref="LibPmem.StoreDurable8"/> keeps the alternative for re-measuring.
    /// </remarks>
    public override void WriteDurable<T>(long offset, T value)
    {
        Write(offset, value);
        LibPmem.Persist(BaseAddress + offset, (nuint)sizeof(T));
    }

    /// <inheritdoc />
    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* destination = At(offset, source.Length);
        fixed (byte* from = source)
        {
            LibPmem.Memmove(destination, from, (nuint)source.Length, flags);
        }
    }

    /// <inheritdoc />
    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None) =>
        LibPmem.Memset(At(offset, length), value, (nuint)length, flags);

    /// <inheritdoc />
    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* source = At(sourceOffset, length);
        LibPmem.Memmove(At(destinationOffset, length), source, (nuint)length, flags);
    }
}
