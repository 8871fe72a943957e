// CommitPipeline (clearing) -- process-crash commits that clear their log once applied, so that lanes share no word.
namespace Pmem.Log;

// On a process-crash pool every store survives the process the moment it is made, so an apply is durable when it is
// done, and a log can be cleared right after its apply with one more store. Then a whole log is a commit still in
// flight, and recovery needs no watermark to tell which logs to trust. Commits in flight at a crash had not returned,
// so none of them happened before another: they touch different data, and their order does not matter.
//
// That is what lets such a commit share nothing with other lanes: no pool-wide sequence number (each lane numbers its
// own commits, interleaved so that numbers stay unique, in its LaneWords), no scan of other lanes for R and C, no
// record of the durable R, and no pending apply to track. Every other commit path stays as it is: the watermarks stay
// fixed (R = C = the newest commit at open), so RetireThrough, RetireAll and writes outside the log find nothing to
// retire, which is true: no log can be replayed over anything they write.
//
// The first slot of each lane serves every commit (the lane's previous log is cleared), so the log's lines stay in this
// core's cache.
internal sealed partial class CommitPipeline
{
    /// <summary>
    /// A commit on a pipeline that clears applied logs: the sealed log, the apply, and the clear. The caller holds
    /// <paramref name="lane"/>; <paramref name="released"/> receives an external block the slot no longer needs.
    /// </summary>
    private void CommitInFlightOnly(RedoBuilder redo, int lane, long external, ref long released)
    {
        var slot = _lanes.SlotIndex(lane, 0);
        if (_slotExternal[slot] != 0 || external != 0)
        {
            released = _slotExternal[slot]; // its log was cleared by the lane's previous commit
            _slotExternal[slot] = external;
        }

        ref var next = ref _words.NextSequence(lane);
        var sequence = next;
        next = sequence + _lanes.Count;
        var slotOffset = _lanes.SlotOffset(lane, 0);
        var watermark = _sequence.Last; // fixed from open on: every log of an earlier session is applied
        RedoLog.WriteLog(_domain, slotOffset, _lanes.SlotSize, redo, (ulong)sequence, watermark, watermark, seal: true, _poolPath, external);
        _domain.Drain(); // the commit point: the seal before any store of the apply
        RedoApply.Apply(_domain, redo.Entries, default(NoFlush));
        if (redo.Entries.Length > 2048)
        {
            // A large apply may use string stores, which x86 orders only among themselves: all of them before the clear.
            Interlocked.MemoryBarrier();
        }
        else
        {
            _domain.Drain();
        }

        RedoLog.Clear(_domain, slotOffset);
    }

    /// <summary>
    /// At open, once the pool's format clears applied logs: makes R cover every log, clears them, and clears every
    /// later log once applied. Nothing may commit meanwhile (open is single-threaded). Nothing happens when already
    /// clearing, or when the domain does not keep the process's stores in order (a simulated domain).
    /// </summary>
    /// <param name="mine">The calling thread's commit state, if it has one.</param>
    public void StartClearingAppliedLogs(ThreadCommits? mine)
    {
        if (_clearsAppliedLogs || !_sealLogs)
        {
            return;
        }

        RetireAll(mine);
        ClearLogs(_domain, _lanes, _words.SlotSequences());
        ClearAppliedLogsFromNowOn();
    }

    /// <summary>
    /// Clears every whole log of <paramref name="slotSequences"/> (their sequences, 0 for none; zeroed here), all of
    /// them applied or never committed and covered by the durable R. The newest goes last, after a drain: a crash in
    /// between leaves it, which bounds R for the next recovery as before (see PersistentPool.PlanReplay).
    /// </summary>
    public static void ClearLogs(Memory.PersistenceDomain domain, LaneSet lanes, long[] slotSequences)
    {
        var newest = -1;
        for (var slot = 0; slot < slotSequences.Length; slot++)
        {
            if (slotSequences[slot] != 0 && (newest < 0 || slotSequences[slot] > slotSequences[newest]))
            {
                newest = slot;
            }
        }

        if (newest < 0)
        {
            return;
        }

        for (var slot = 0; slot < slotSequences.Length; slot++)
        {
            if (slotSequences[slot] != 0 && slot != newest)
            {
                RedoLog.Clear(domain, lanes.SlotOffset(slot));
                slotSequences[slot] = 0;
            }
        }

        domain.Drain();
        RedoLog.Clear(domain, lanes.SlotOffset(newest));
        slotSequences[newest] = 0;
        domain.Drain();
    }

    private void ClearAppliedLogsFromNowOn()
    {
        var newest = Volatile.Read(ref _sequence.Last);
        _retiredDurable = newest; // (equal already: nothing is in flight at open)
        for (var lane = 0; lane < _lanes.Count; lane++)
        {
            _words.NextSequence(lane) = newest + 1 + lane;
        }

        _clearsAppliedLogs = true;
    }
}
