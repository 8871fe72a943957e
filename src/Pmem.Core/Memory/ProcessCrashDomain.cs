namespace Pmem.Memory;

/// <summary>
/// Durability against the process being killed, not against power loss or an OS crash: every store to a shared file
/// mapping is in the page cache the moment it leaves the CPU, and the kernel writes it back in its own time. Flush
/// does nothing; drain only keeps the order of stores the layers above rely on (see <see cref="Drain"/>).
/// </summary>
public sealed unsafe class ProcessCrashDomain : MappedDomain
{
    internal ProcessCrashDomain(PmemMapping mapping)
        : base(mapping)
    {
        InlineStoreFlush = InlineFlush.OrderOnly;
    }

    /// <inheritdoc />
    public override FlushPath FlushPath => FlushPath.ProcessCrash;

    /// <inheritdoc />
    public override void Flush(long offset, long length) => CheckRange(offset, length);

    /// <summary>
    /// Orders every store before the drain ahead of every store after it, as seen by whoever maps the file next.
    /// </summary>
    /// <remarks>
    /// <para>
    /// When a process is killed, the stores it has retired are not lost: they are in the CPU's store buffer or caches,
    /// which belong to the machine, not the process, and drain into the shared page cache. So what a later opener sees
    /// is, for each thread, a prefix of that thread's stores in the order the memory system made them visible. x86
    /// (TSO) makes a core's stores visible in program order and to all other cores at once, so the processor never
    /// reorders store after store; only the compiler could. <see cref="Volatile.WriteBarrier"/> forbids that (no later
    /// store moves above it, no earlier access below it) and costs no instruction on x86 — where a full
    /// <c>MemoryBarrier</c> (a locked instruction, ~8 ns here) would also order loads, which no crash can observe.
    /// On weaker architectures (Arm64) the same call emits the store fence the hardware needs, so this stays correct.
    /// Non-temporal stores (a large copy may use them) are retired in order too, and the write-combining buffers holding
    /// them are written out at the interrupt or locked instruction that the kernel executes before the process is gone.
    /// </para>
    /// <para>
    /// Cross-thread ordering is not the drain's job: threads that hand data to each other use locks or interlocked
    /// operations, which order stores on their own.
    /// </para>
    /// </remarks>
    public override void Drain() => Volatile.WriteBarrier();

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
