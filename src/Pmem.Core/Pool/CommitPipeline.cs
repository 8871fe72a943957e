using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>
/// Commits redo logs with two drains, and retires applied logs without a third one.
/// </summary>
/// <remarks>
/// <para>
/// A commit writes its log into one of its lane's two slots and drains (the commit point), applies the entries and
/// drains again. It does not invalidate its log. Instead the pool header holds a watermark R: every commit with a
/// sequence number ≤ R is applied, and recovery ignores logs at or below it. Each commit writes R (all commits
/// applied so far) into its own log header, so the commit-point drain makes it durable for free and on the same page
/// (one msync range on ordinary files); recovery takes the largest R of the pool header and every whole log.
/// </para>
/// <para>
/// Why a stale log can never be replayed over newer data: recovery replays the logs above R in sequence order, so a
/// newer commit whose log is still there wins. A newer commit's log disappears only when its slot is reused, and a
/// slot is reused only once R (durably) covers the log in it — which then also covers every older log. Writes that
/// bypass the log (a single-word property set, a batch, the heap's chunk changes) first store R too, drained by their
/// own drain, so a log they overwrite is never replayed over them.
/// </para>
/// </remarks>
internal sealed class CommitPipeline
{
    [ThreadStatic]
    private static PendingRetirement? t_pending;

    private readonly PersistenceDomain _domain;
    private readonly LaneSet _lanes;
    private readonly string _poolPath;
    private readonly Lock _sequenceLock = new();
    private readonly long[] _inFlight;
    private readonly long[] _slotSequence;
    private long _lastSequence;
    private long _retiredDurable;

    public CommitPipeline(PersistenceDomain domain, LaneSet lanes, string poolPath, long retiredOnMedia)
    {
        _domain = domain;
        _lanes = lanes;
        _poolPath = poolPath;
        _inFlight = new long[lanes.Count];
        _slotSequence = new long[lanes.Count * 2]; // recovery retires every log, so all slots start free
        _lastSequence = retiredOnMedia;
        _retiredDurable = retiredOnMedia;
    }

    /// <summary>Commits <paramref name="redo"/>: durable and applied when this returns.</summary>
    public void Commit(RedoBuilder redo)
    {
        var lane = _lanes.Acquire();
        try
        {
            long sequence;
            lock (_sequenceLock)
            {
                sequence = ++_lastSequence;
                _inFlight[lane] = sequence;
            }

            try
            {
                var slot = ChooseSlot(lane);
                var retired = AppliedThrough(); // carried in the log header: durable with the log, on the same page
                RedoLog.WriteLog(_domain, _lanes.SlotOffset(lane, slot), _lanes.SlotSize, redo, (ulong)sequence, retired, _poolPath);
                _slotSequence[lane * 2 + slot] = sequence;
                _domain.Drain(); // the commit point; R is durable too
                MarkDurable(retired);
                RedoLog.Apply(_domain, redo.Entries);
                _domain.Drain();
            }
            finally
            {
                lock (_sequenceLock)
                {
                    _inFlight[lane] = 0;
                }
            }
        }
        finally
        {
            _lanes.Release(lane);
        }
    }

    /// <summary>
    /// Before a write that bypasses the log: stores and flushes R if applied logs are not yet durably retired. The
    /// caller's own drain makes it durable; <see cref="AfterDrain"/> then records that.
    /// </summary>
    public void BeforeUnloggedWrite()
    {
        if (Volatile.Read(ref _retiredDurable) >= Volatile.Read(ref _lastSequence))
        {
            return; // the common case: nothing committed since R was last made durable
        }

        var pending = t_pending;
        if (pending is not null && ReferenceEquals(pending.Pipeline, this) && pending.Value >= Volatile.Read(ref _lastSequence))
        {
            return; // already stored by this thread, awaiting its drain
        }

        var stored = StoreRetired();
        t_pending = pending is not null && ReferenceEquals(pending.Pipeline, this) ? pending with { Value = stored } : new PendingRetirement(this, stored);
    }

    /// <summary>Records that this thread drained after storing R.</summary>
    public void AfterDrain()
    {
        if (t_pending is { } pending && ReferenceEquals(pending.Pipeline, this))
        {
            t_pending = null;
            MarkDurable(pending.Value);
        }
    }

    /// <summary>Makes R cover every applied commit, durably (for rare paths and for close).</summary>
    public void RetireAll()
    {
        if (Volatile.Read(ref _retiredDurable) >= Volatile.Read(ref _lastSequence))
        {
            return;
        }

        RetireNow();
        AfterDrain();
    }

    /// <summary>The newest sequence number handed out: every commit that has returned is at or below it.</summary>
    public long LastSequence => Volatile.Read(ref _lastSequence);

    /// <summary>
    /// Makes R durably cover every commit up to <paramref name="sequence"/> (which has returned), waiting for older
    /// commits still applying; at most one drain, none when R already covers it. The heap calls this before it writes
    /// a freed block outside the log, so no log that mentions the block can be replayed over those writes.
    /// </summary>
    public void RetireThrough(long sequence)
    {
        var spins = new SpinWait();
        while (Volatile.Read(ref _retiredDurable) < sequence)
        {
            if (AppliedThrough() >= sequence)
            {
                RetireNow();
            }
            else
            {
                spins.SpinOnce(); // an older commit on another lane is still applying
            }
        }
    }

    /// <summary>Stores R, drains and records it durable: one extra fence, only on paths that cannot piggyback.</summary>
    private void RetireNow()
    {
        var stored = StoreRetired();
        _domain.Drain();
        MarkDurable(stored);
    }

    /// <summary>Every commit with a sequence number at or below this is applied.</summary>
    private long AppliedThrough()
    {
        lock (_sequenceLock)
        {
            var lowest = long.MaxValue;
            foreach (var sequence in _inFlight)
            {
                if (sequence != 0 && sequence < lowest)
                {
                    lowest = sequence;
                }
            }

            return lowest == long.MaxValue ? _lastSequence : lowest - 1;
        }
    }

    /// <summary>Raises R on the media to <see cref="AppliedThrough"/> (never lowers it) and flushes it.</summary>
    private long StoreRetired()
    {
        var target = AppliedThrough();
        ref var word = ref _domain.GetRef<long>(PoolLayout.RetiredThroughOffset);
        while (true)
        {
            var current = Volatile.Read(ref word);
            if (current >= target)
            {
                return current;
            }

            if (Interlocked.CompareExchange(ref word, target, current) == current)
            {
                _domain.NotifyStore(PoolLayout.RetiredThroughOffset, 8);
                _domain.Flush(PoolLayout.RetiredThroughOffset, 8);
                return target;
            }
        }
    }

    private void MarkDurable(long retired)
    {
        var current = Volatile.Read(ref _retiredDurable);
        while (retired > current)
        {
            var seen = Interlocked.CompareExchange(ref _retiredDurable, retired, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>The lane's slot holding the older log, once R durably covers it (so recovery ignores it).</summary>
    private int ChooseSlot(int lane)
    {
        var slot = _slotSequence[lane * 2] <= _slotSequence[lane * 2 + 1] ? 0 : 1;
        var old = _slotSequence[lane * 2 + slot];
        var spins = new SpinWait();
        while (old > Volatile.Read(ref _retiredDurable))
        {
            if (AppliedThrough() >= old)
            {
                RetireNow(); // rare: only when no later commit has made R durable yet
            }
            else
            {
                spins.SpinOnce(); // an older commit on another lane is still applying
            }
        }

        return slot;
    }

    private sealed record PendingRetirement(CommitPipeline Pipeline, long Value);
}
