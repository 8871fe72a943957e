namespace Pmem.Memory;

/// <summary>
/// Durability against the process being killed, not against power loss or an OS crash: every store to a shared file
/// mapping is in the page cache the moment it leaves the CPU, and the kernel writes it back in its own time. Flush
/// does nothing; drain is a full memory barrier so that the order of stores the layers above rely on is kept.
/// </summary>
public sealed unsafe class ProcessCrashDomain : MappedDomain
{
    internal ProcessCrashDomain(PmemMapping mapping)
        : base(mapping)
    {
    }

    /// <inheritdoc />
    public override FlushPath FlushPath => FlushPath.ProcessCrash;

    /// <inheritdoc />
    public override void Flush(long offset, long length) => CheckRange(offset, length);

    /// <inheritdoc />
    public override void Drain() => Interlocked.MemoryBarrier();

    /// <inheritdoc />
    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        source.CopyTo(new Span<byte>(At(offset, source.Length), source.Length));
        DrainUnless(flags);
    }

    /// <inheritdoc />
    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* destination = At(offset, length);
        for (long done = 0; done < length; done += int.MaxValue)
        {
            new Span<byte>(destination + done, (int)Math.Min(int.MaxValue, length - done)).Fill(value);
        }

        DrainUnless(flags);
    }

    /// <inheritdoc />
    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* source = At(sourceOffset, length);
        Buffer.MemoryCopy(source, At(destinationOffset, length), length, length);
        DrainUnless(flags);
    }

    private void DrainUnless(PmemCopyFlags flags)
    {
        if ((flags & (PmemCopyFlags.NoDrain | PmemCopyFlags.NoFlush)) == 0)
        {
            Drain();
        }
    }
}
