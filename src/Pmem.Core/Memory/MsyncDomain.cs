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
/// Group commit: a sync takes every range recorded so far (everyone who has flushed by then), and a drain whose
/// flushes a running sync has taken waits for it on the monitor, without spinning. A drain whose flushes no running
/// sync took starts another sync at once (up to <see cref="MaxConcurrentSyncs"/>), so a lone thread never waits and
/// two threads do not take turns. A drain returns once its flushes are durable: when the sync that took them and
/// every older sync have finished (a newer sync's span need not cover an older one's). A failed sync puts its ranges
/// back, and no sync running then counts; the next drain syncs them again. Drain is conservative: it may also sync
/// other threads' flushed ranges, never fewer than its own.
/// </para>
/// </remarks>
public sealed unsafe class MsyncDomain : MappedDomain
{
    private readonly object _gate = new();
    private readonly DirtySpan _dirty = new((long)LibC.PageSize);
    private readonly Queue<SyncInFlight> _inFlight = new(); // syncs running, oldest first (epochs in order)
    private long _flushedEpoch;   // increases with every recorded flush
    private long _takenEpoch;     // every flush up to this epoch is in a sync that is running or done
    private long _syncedEpoch;    // every flush up to this epoch is durable
    private long _syncCalls;

    /// <summary>
    /// Syncs that may run at once. A drain whose flushes no running sync has taken starts its own while fewer than this
    /// run, instead of waiting for the running one to end and then syncing alone: the kernel and the device overlap
    /// concurrent syncs of one file (bench/RESULTS.md, session 8), and one serial sync at a time left two threads no
    /// faster than one.
    /// </summary>
    internal const int MaxConcurrentSyncs = 8;

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
        long mine;
        lock (_gate)
        {
            mine = _flushedEpoch;
        }

        while (true)
        {
            SyncInFlight sync;
            lock (_gate)
            {
                while (true)
                {
                    if (_syncedEpoch >= mine)
                    {
                        return; // syncs that began after our flushes have finished, and every sync before them
                    }

                    if (_takenEpoch < mine && _inFlight.Count < MaxConcurrentSyncs)
                    {
                        break; // our flushes are in no running sync, and another may start: lead it
                    }

                    Monitor.Wait(_gate); // a running sync takes ours, or a slot frees: no spinning
                }

                sync = new SyncInFlight(_flushedEpoch, _dirty.Take());
                _takenEpoch = sync.Epoch;
                _inFlight.Enqueue(sync);
            }

            Sync(sync); // then wait, if older syncs still run
        }
    }

    private void Sync(SyncInFlight sync)
    {
        var synced = false;
        try
        {
            var (start, end) = sync.Span;
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
                sync.Done = true;
                if (!synced)
                {
                    // Its ranges go back, and no sync running now may count as covering them: everything not known
                    // durable counts as untaken, so the next drain re-syncs it with these ranges.
                    _dirty.Add(sync.Span.Start, sync.Span.End - sync.Span.Start);
                    foreach (var running in _inFlight)
                    {
                        running.Tainted = true;
                    }

                    _takenEpoch = _syncedEpoch;
                }

                // Durable through a sync's epoch only once every older sync has finished too.
                while (_inFlight.TryPeek(out var oldest) && oldest.Done)
                {
                    _inFlight.Dequeue();
                    if (!oldest.Tainted)
                    {
                        _syncedEpoch = Math.Max(_syncedEpoch, oldest.Epoch);
                    }
                }

                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>A running sync: the flushes up to <see cref="Epoch"/> whose pages it syncs.</summary>
    private sealed class SyncInFlight(long epoch, (long Start, long End) span)
    {
        public readonly long Epoch = epoch;
        public readonly (long Start, long End) Span = span;
        public bool Done;

        // Running when another sync failed: it cannot advance the durable epoch; a later sync, which takes the failed
        // ranges again, does.
        public bool Tainted;
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
