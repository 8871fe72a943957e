// CommitPipeline (retirement) -- the watermarks R and C, and making applies durable so that logs can be retired.

using Pmem.Memory;

namespace Pmem.Log;

internal sealed partial class CommitPipeline
{
    /// <summary>Makes R cover every applied commit, durably (for rare paths and for close).</summary>
    public void RetireAll(ThreadCommits? mine)
    {
        if (_ahead is { } ahead)
        {
            RetireAhead(LastSequence, ahead);
            return;
        }

        if (RetiredDurable >= Volatile.Read(ref _sequence.Last))
        {
            return;
        }

        DrainPendingApplies(long.MaxValue, mine);

        RetireNow(mine);
    }

    /// <summary>
    /// Makes R durably cover every commit up to <paramref name="sequence"/> (which has returned): makes pending
    /// applies durable (this thread's by its drain, other threads' by flushing their targets) and stores R, waiting
    /// for older commits still applying; none of that when R already covers it. The heap calls this before it writes
    /// a freed block outside the log, and a commit before it reuses a slot, so no log that mentions the block (or
    /// any older log) can be replayed over newer data.
    /// </summary>
    /// <param name="sequence">A commit that has returned.</param>
    /// <param name="mine">The calling thread's commit state, if it has one.</param>
    public void RetireThrough(long sequence, ThreadCommits? mine)
    {
        if (Volatile.Read(ref _retiredDurable) >= sequence)
        {
            return; // recorded already: no lane's words read
        }

        if (sequence > Volatile.Read(ref _sequence.Last))
        {
            // No commit will ever reach it: waiting would never end.
            throw new InvalidOperationException($"{_poolPath}: cannot retire through commit {sequence}, past the newest commit {Volatile.Read(ref _sequence.Last)}.");
        }

        if (_ahead is { } ahead)
        {
            RetireAhead(sequence, ahead);
            return;
        }

        var spins = new SpinWait();
        while (RetiredDurable < sequence)
        {
            if (DurablyAppliedThrough() >= sequence)
            {
                RetireNow(mine);
            }
            else if (HasPendingThrough(sequence))
            {
                DrainPendingApplies(sequence, mine); // an apply not yet drained: ours (an idle lane) or another thread's
            }
            else
            {
                spins.SpinOnce(); // an older commit on another lane is still applying
            }
        }
    }

    /// <summary>Stores R, drains and records it durable: one extra fence, only on paths that cannot piggyback.</summary>
    private void RetireNow(ThreadCommits? mine)
    {
        var stored = StoreRetired();
        DrainWithDeferred(mine);
        MarkDurable(stored);
    }

    /// <summary>
    /// Drains on the rare paths, first flushing this thread's deferred applies so that the drain makes them durable
    /// too, then recording what it made durable (one thread-static read for both).
    /// </summary>
    private void DrainWithDeferred(ThreadCommits? mine)
    {
        if (mine is not null)
        {
            FlushDeferred(mine);
        }

        _domain.Drain();
        AfterDrain(mine);
    }

    /// <summary>
    /// Makes durable every pending apply at or below <paramref name="through"/>: this thread's by its drain, other
    /// threads' by flushing their logs' targets first. Drains nothing when none is pending.
    /// </summary>
    private void DrainPendingApplies(long through, ThreadCommits? mine)
    {
        // Per slot, the pending commit helped here (0: none). On the stack: a write outside the log after another
        // thread's commit comes here, and must not allocate (see docs/transactions.md, "The managed heap").
        const int MostOnStack = 256;
        var slots = _words.Slots;
        Span<long> helped = slots <= MostOnStack ? stackalloc long[MostOnStack] : new long[slots];
        helped = helped[..slots];
        var any = false;
        for (var slot = 0; slot < slots; slot++)
        {
            var sequence = Volatile.Read(ref _words.Pending(slot));
            helped[slot] = sequence != 0 && sequence <= through ? sequence : 0;
            any |= helped[slot] != 0;
        }

        if (!any)
        {
            return; // nothing pending: no drain
        }

        // A pending slot is not rewritten before its apply is durable; if another thread has just made it durable and
        // the slot is being reused, FlushTargets sees another sequence and flushes nothing.
        for (var slot = 0; slot < slots; slot++)
        {
            if (helped[slot] != 0)
            {
                RedoApply.FlushTargets(_domain, SlotOffset(slot), _lanes.SlotSize, (ulong)helped[slot]);
            }
        }

        DrainWithDeferred(mine); // this thread's own pending applies were flushed above; this lets the drain forget them
        for (var slot = 0; slot < slots; slot++)
        {
            if (helped[slot] != 0)
            {
                ClearPending(slot, helped[slot]);
            }
        }
    }

    /// <summary>
    /// How content a commit publishes (a new object's zeroes, a string's characters) becomes durable
    /// (<see cref="RedoBuilder.RequireDurable"/>): hashed into its log when small, drained before it, or, with a
    /// write-ahead log, copied into the log (the pool file's pages are synced only at checkpoints). Hashed content ties the log to
    /// C: a log above C whose content no longer hashes as recorded (a later commit changed it) counts only if something
    /// else proves it committed, so every commit's C must be fresh. Drained content needs no C, so a commit may carry
    /// stale watermarks and read the other lanes' words only every few commits (<see cref="CommitWatermarks"/>): done
    /// where a drain is a fence (persistent memory, and its simulation) and the lanes have slack for it (format 9). On a
    /// file, where a drain is an msync, the hash stays.
    /// </summary>
    public PublishedContent PublishedContentRule =>
        _ahead is not null ? PublishedContent.Log : _scansEveryCommit ? PublishedContent.Hash : PublishedContent.Drain;

    /// <summary>
    /// Bytes of published content one write-ahead record carries (<see cref="RedoBuilder.RequireDurable"/>): at most
    /// half of what a record holds, so content never makes a transaction too large for the log.
    /// </summary>
    public int LoggedContentBudget => _ahead is { } ahead ? Math.Min(RedoBuilder.MaxLoggedContent, ahead.File.MaxPayload / 2) : 0;

    private static bool DrainsPublishedContent(PersistenceDomain domain, LaneSet lanes) =>
        domain.IsPersistentMemory && lanes.SlotsPerLane > LaneSet.LegacySlotsPerLane;

    /// <summary>
    /// R and C for the header of a commit on <paramref name="lane"/> (the caller holds it), for commits below
    /// <paramref name="bound"/>. Fresh (<see cref="Watermarks"/>) where every commit scans; otherwise the lane's last
    /// scan's, rescanned every half lane of commits. Stale watermarks are still true (R and C only claim something of
    /// every commit at or below them, and a durable apply stays durable); what needs them fresh is reusing a slot, and
    /// a lane reuses its oldest slot, whose log is a lane's worth of commits old: the scan made durable by a commit half
    /// a lane before covers it, unless another lane holds R back (then <see cref="ChooseSlot"/> retires through it).
    /// </summary>
    private (long Retired, long Committed) CommitWatermarks(int lane, long bound)
    {
        if (_scansEveryCommit)
        {
            return Watermarks(bound);
        }

        ref var left = ref _words.CommitsBeforeScan(lane);
        if (left > 0)
        {
            left--;
            return (_words.KnownRetired(lane), _words.KnownCommitted(lane));
        }

        var (retired, committed) = Watermarks(bound);
        _words.KnownRetired(lane) = retired;
        _words.KnownCommitted(lane) = committed;
        left = _lanes.SlotsPerLane / 2 - 1;
        return (retired, committed);
    }

    /// <summary>
    /// R and C for commits up to <paramref name="bound"/> (exclusive; read before calling): R is just below the
    /// oldest commit still applying or whose apply is not yet drained, C just below the oldest commit still before
    /// its commit point (counted until it has applied, which only makes C smaller). Lock-free: a commit publishes
    /// itself as pending before it stops being in flight, and this reads the in-flight entries first.
    /// </summary>
    private (long Retired, long Committed) Watermarks(long bound)
    {
        var (oldestInFlight, oldestUndrained) = _words.Oldest(bound, withPending: !_appliesPersistAtOnce);
        return (oldestUndrained - 1, oldestInFlight - 1);
    }

    /// <summary>Every commit with a sequence number at or below this has its apply durable.</summary>
    private long DurablyAppliedThrough() => Watermarks(Volatile.Read(ref _sequence.Last) + 1).Retired;

    /// <summary>Raises R on the media to <see cref="DurablyAppliedThrough"/> (never lowers it) and flushes it.</summary>
    private long StoreRetired()
    {
        var target = DurablyAppliedThrough();
        ref var word = ref _domain.GetRef<long>(_retiredThroughOffset);
        while (true)
        {
            var current = Volatile.Read(ref word);
            if (current >= target)
            {
                // Stored by another thread, which may not have drained it yet: flush it here too, so this thread's
                // drain makes it durable before it is recorded as such.
                _domain.Flush(_retiredThroughOffset, 8);
                return current;
            }

            if (Interlocked.CompareExchange(ref word, target, current) == current)
            {
                _domain.NotifyStore(_retiredThroughOffset, 8);
                _domain.Flush(_retiredThroughOffset, 8);
                return target;
            }
        }
    }

    /// <summary>
    /// Raises the record of the durable R off the commit path (retirements, a thread's drain after it stored R). A plain
    /// store: two threads racing may leave the smaller value, which only under-claims (a later retirement raises it).
    /// </summary>
    private void MarkDurable(long retired)
    {
        if (retired > Volatile.Read(ref _retiredDurable))
        {
            Volatile.Write(ref _retiredDurable, retired);
        }
    }

    /// <summary>
    /// A commit's record of the R its drained log made durable: in its lane's words, which only the lane's holder
    /// writes, so a commit writes no pool-wide word but the sequence number.
    /// </summary>
    private void MarkLaneDurable(int lane, long retired)
    {
        ref var word = ref _words.Retired(lane);
        if (retired > word)
        {
            Volatile.Write(ref word, retired);
        }
    }

    /// <summary>
    /// The largest R known durable: recorded off the commit path, or by any lane's commits. Every log at or below it is
    /// retired, so a block freed by such a commit may be written outside the log at once.
    /// </summary>
    public long RetiredDurable
    {
        get
        {
            var recorded = Volatile.Read(ref _retiredDurable);
            var lanes = _words.MaxRetired();
            if (lanes <= recorded)
            {
                return recorded;
            }

            MarkDurable(lanes); // so that the next check finds it without reading every lane
            return lanes;
        }
    }

    /// <summary>Whether some apply at or below <paramref name="sequence"/> is still pending.</summary>
    private bool HasPendingThrough(long sequence) => _words.OldestPending(sequence + 1) <= sequence;
}
