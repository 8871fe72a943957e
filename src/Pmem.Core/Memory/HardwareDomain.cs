using System.Runtime.CompilerServices;

namespace Pmem.Memory;

/// <summary>
/// Persistent memory reached through CPU caches: flush writes back cache lines (CLWB, CLFLUSHOPT or CLFLUSH, as
/// chosen by <see cref="Pmem"/>), drain is SFENCE, copies use <see cref="Pmem"/>'s kernels.
/// </summary>
public sealed unsafe class HardwareDomain : MappedDomain
{
    internal HardwareDomain(PmemMapping mapping)
        : base(mapping)
    {
    }

    /// <inheritdoc />
    public override FlushPath FlushPath => Pmem.ActiveFlushPath;

    /// <inheritdoc />
    public override bool IsPersistentMemory => true;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override void Flush(long offset, long length) => Pmem.Flush(At(offset, length), (nuint)length);

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override void Drain() => Pmem.Drain();

    /// <summary>Stores a value and makes it durable before returning.</summary>
    /// <remarks>
    /// An aligned 8-byte value goes through one non-temporal store and a fence, which needs no flush and measured
    /// faster than store + CLWB + SFENCE here (see bench/RESULTS.md); it is still a single atomic store. Other sizes
    /// are stored, flushed and drained.
    /// </remarks>
    public override void WriteDurable<T>(long offset, T value)
    {
        if (sizeof(T) == 8 && (offset & 7) == 0 && StoreObserver is null)
        {
            Pmem.StoreDurable8((long*)At(offset, 8), Unsafe.As<T, long>(ref value));
            return;
        }

        base.WriteDurable(offset, value);
    }

    /// <inheritdoc />
    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* destination = At(offset, source.Length);
        fixed (byte* from = source)
        {
            Pmem.Memmove(destination, from, (nuint)source.Length, flags);
        }
    }

    /// <inheritdoc />
    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None) =>
        Pmem.Memset(At(offset, length), value, (nuint)length, flags);

    /// <inheritdoc />
    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* source = At(sourceOffset, length);
        Pmem.Memmove(At(destinationOffset, length), source, (nuint)length, flags);
    }
}
