using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>
/// A mapping that is not persistent memory (an ordinary file system): flush records the dirty range, drain syncs
/// the recorded ranges with one <c>msync(MS_SYNC)</c> over the span from the first to the last, so a batch or a
/// transaction (its log and the pages it changed) costs one msync, not one per flush or per dirty area.
/// </summary>
/// <remarks>
/// <para>
/// One call over the span rather than one per area: Linux syncs a file range by writing back only its dirty pages
/// (found through the page cache's dirty tags, not by walking the span) and then flushes the device's write cache
/// once per call, and that flush is what an msync costs on a disk. Clean pages inside the span cost nothing; dirty
/// pages nobody flushed yet are written early, which is always allowed.
/// </para>
/// <para>
/// Group commit: threads that drain at the same time share syncs. A drain waits for one sync that started after its
/// own flushes were recorded; while a sync runs, later drains queue, and the next sync takes all their ranges at once.
/// Drain is conservative: it may also sync other threads' flushed ranges, never fewer than its own.
/// </para>
/// </remarks>
public sealed unsafe class MsyncDomain : MappedDomain
{
    private readonly object _gate = new();
    private readonly DirtySpan _dirty = new((long)LibC.PageSize);
    private long _flushedEpoch;   // increases with every recorded flush
    private long _syncedEpoch;    // every flush up to this epoch is durable
    private bool _syncing;
    private long _syncCalls;

    internal MsyncDomain(PmemMapping mapping)
        : base(mapping)
    {
    }

    /// <inheritdoc />
    public override FlushPath FlushPath => FlushPath.Msync;

    /// <summary>Number of msync calls made so far (for tests and diagnostics).</summary>
    public long SyncCalls => Interlocked.Read(ref _syncCalls);

    /// <inheritdoc />
    public override void Flush(long offset, long length)
    {
        CheckRange(offset, length);
        if (length == 0)
        {
            return;
        }

        lock (_gate)
        {
            _dirty.Add(offset, length);
            _flushedEpoch++;
        }
    }

    /// <inheritdoc />
    /// <exception cref="PmemIOException">msync failed; the ranges stay recorded so a later drain retries them.</exception>
    public override void Drain()
    {
        (long Start, long End) span;
        long epoch;
        lock (_gate)
        {
            long mine = _flushedEpoch;
            while (true)
            {
                if (_syncedEpoch >= mine)
                {
                    return; // a sync that began after our flushes has finished
                }

                if (!_syncing)
                {
                    break;
                }

                Monitor.Wait(_gate);
            }

            _syncing = true;
            epoch = _flushedEpoch;
            span = _dirty.Take();
        }

        var synced = false;
        try
        {
            var (start, end) = span;
            end = Math.Min(end, (Length + (long)LibC.PageSize - 1) & ~((long)LibC.PageSize - 1));
            if (end > start)
            {
                Interlocked.Increment(ref _syncCalls);
                if (LibC.Msync(BaseAddress + start, (nuint)(end - start), LibC.MS_SYNC) != 0)
                {
                    throw PmemIOException.FromErrno($"msync of [{start}, {end})", Path, Marshal.GetLastPInvokeError());
                }
            }

            synced = true;
        }
        finally
        {
            lock (_gate)
            {
                if (!synced)
                {
                    _dirty.Add(span.Start, span.End - span.Start);
                }
                else
                {
                    _syncedEpoch = epoch;
                }

                _syncing = false;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <inheritdoc />
    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        source.CopyTo(new Span<byte>(At(offset, source.Length), source.Length));
        FlushAndDrainUnless(offset, source.Length, flags);
    }

    /// <inheritdoc />
    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* destination = At(offset, length);
        for (long done = 0; done < length; done += int.MaxValue)
        {
            new Span<byte>(destination + done, (int)Math.Min(int.MaxValue, length - done)).Fill(value);
        }

        FlushAndDrainUnless(offset, length, flags);
    }

    /// <inheritdoc />
    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        byte* source = At(sourceOffset, length);
        Buffer.MemoryCopy(source, At(destinationOffset, length), length, length);
        FlushAndDrainUnless(destinationOffset, length, flags);
    }

    private void FlushAndDrainUnless(long offset, long length, PmemCopyFlags flags)
    {
        if ((flags & PmemCopyFlags.NoFlush) != 0)
        {
            return;
        }

        Flush(offset, length);
        if ((flags & PmemCopyFlags.NoDrain) == 0)
        {
            Drain();
        }
    }
}
