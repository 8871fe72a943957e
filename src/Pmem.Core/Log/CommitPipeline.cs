// CommitPipeline -- the commit protocol: a log per commit in its lane's oldest slot, one drain, the apply in place.
using System.Runtime.CompilerServices;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Log;

/// <summary>
/// Commits redo logs with one drain: the log is the durable truth from its commit point on, and the in-place apply
/// becomes durable at the committing thread's next drain (usually its next commit's).
/// </summary>
/// <remarks>
/// <para>
/// A commit writes its log into the oldest of its lane's slots, flushes the lines its thread's previous apply stored
/// to, drains (the commit point), applies the entries in place without flushing them, and returns (see
/// <see cref="FlushDeferred"/> for why the flush waits). Until a later drain by the same thread covers the apply,
/// recovery may need the log, so the log stays valid; two watermarks in every log header tell recovery which logs to
/// trust:
/// </para>
/// <list type="bullet">
/// <item><description>R, retired: every commit ≤ R had its apply durable before this header was written. Recovery
/// ignores logs at or below the largest R it finds and replays the others in sequence order (newer wins).</description></item>
/// <item><description>C, committed: every commit ≤ C had passed its commit point. A log above C counts only if the
/// content it publishes (new objects' zeroes, strings) hashes as recorded; at or below C that content was durable and
/// may since have been changed by later commits.</description></item>
/// </list>
/// <para>
/// Why a stale log is never replayed over newer data: a newer commit whose log is still there is replayed after it;
/// a log disappears only when its slot is reused, and a slot is reused only once R durably covers the log in it (and
/// so every older log). A thread committing on its own lane finds the oldest slot covered by an R one of its recent
/// commits wrote (its previous one with three slots; see <see cref="CommitWatermarks"/> for twelve), so steady state
/// costs one drain. When another thread's apply holds R back, the
/// committer flushes that log's targets itself and drains (a flush writes back the line's current content, whoever
/// stored it). Writes that bypass the log (a single-word property set, a batch, the heap's chunk changes) first make
/// every applied log durable and store R, so a log they overwrite is never replayed over them. The one write outside
/// the log that skips this is the bit that allocates a prepared block: Or/And entries of other commits touch other
/// bits, and a freed block is prepared again only after <see cref="RetireThrough"/> covers the commit that freed it.
/// </para>
/// <para>On a process-crash pool an apply is durable when done (a store survives the process once made), so nothing
/// is pending there.</para>
/// <para>
/// The log layer reads no thread-static: each caller hands in its thread's <see cref="ThreadCommits"/> (a redo builder
/// carries its own), which the layers above keep in their one per-thread context.
/// </para>
/// </remarks>
internal sealed partial class CommitPipeline
{
    private readonly PersistenceDomain _domain;
    private readonly LaneSet _lanes;
    private readonly string _poolPath;
    private readonly long _retiredThroughOffset; // where the pool header keeps the durable R
    // Lock-free bookkeeping: in flight, pending applies, slot sequences and durable R per lane, one line per lane.
    private readonly LaneWords _words;
    private readonly long[] _slotExternal;  // per slot: the heap block holding its log's entries (0: in the slot)
    private readonly ILogSpace? _logSpace;
    private SequenceCounter _sequence;      // the newest sequence handed out, alone on its line (see SequenceCounter)
    private long _retiredDurable;           // a durable R recorded off the commit path (commits record theirs per lane)
    private bool _closed;

    // On a process-crash pool a store survives the process as soon as it is made (flush is nothing, drain only
    // orders), so an apply is durable when it is done: no pending applies to track.
    private readonly bool _appliesPersistAtOnce;

    // Logs are sealed rather than checksummed (RedoLog.WriteLog): when the pool's format allows it and the domain
    // keeps the process's stores in order (the process-crash domain, as for the applies above).
    private readonly bool _sealLogs;

    // Every commit reads all lanes' words for fresh watermarks (see CommitWatermarks). Not where published content is
    // drained before the log and the lanes have slack: there a lane scans every few commits.
    private readonly bool _scansEveryCommit;

    // Sealed logs cleared once applied (see CommitInFlightOnly): commits then share no word. Set at open only.
    private bool _clearsAppliedLogs;

    /// <summary>A pipeline over a recovered pool's lanes.</summary>
    /// <param name="domain">The pool's domain.</param>
    /// <param name="lanes">The pool's lanes.</param>
    /// <param name="poolPath">Names the pool in exceptions.</param>
    /// <param name="retiredOnMedia">The watermark R recovery left durable: the newest sequence in the pool.</param>
    /// <param name="slotSequences">
    /// Per slot, the sequence of the whole log it holds (0: none), all retired by recovery. Each lane then overwrites
    /// its oldest log first, so the newest log, whose sequence the watermark R now holds, outlives a torn next commit.
    /// </param>
    /// <param name="formatAllowsSeals">The pool's format may hold sealed logs (see <see cref="RedoLog.WriteLog"/>).</param>
    /// <param name="retiredThroughOffset">Where the pool keeps the durable watermark R (an aligned 8-byte word).</param>
    /// <param name="logSpace">Heap space for logs too large for a slot (null: such a commit throws <see cref="TransactionTooLargeException"/>).</param>
    /// <param name="formatClearsLogs">The pool's format lets it clear logs once applied (see <see cref="StartClearingAppliedLogs"/>), and recovery left no whole log.</param>
    public CommitPipeline(PersistenceDomain domain, LaneSet lanes, string poolPath, long retiredOnMedia, long[] slotSequences, bool formatAllowsSeals, long retiredThroughOffset, ILogSpace? logSpace = null, bool formatClearsLogs = false)
    {
        _logSpace = logSpace;
        _slotExternal = new long[lanes.SlotCount];
        _domain = domain;
        _lanes = lanes;
        _poolPath = poolPath;
        _retiredThroughOffset = retiredThroughOffset;
        _words = slotSequences.Length == lanes.SlotCount
            ? new LaneWords(lanes.Count, lanes.SlotsPerLane, slotSequences)
            : throw new ArgumentException("one sequence per slot", nameof(slotSequences));
        _sequence.Last = retiredOnMedia;
        _retiredDurable = retiredOnMedia;
        _appliesPersistAtOnce = domain is ProcessCrashDomain;
        _sealLogs = formatAllowsSeals && _appliesPersistAtOnce;
        _scansEveryCommit = !DrainsPublishedContent(domain, lanes);
        if (formatClearsLogs && _sealLogs)
        {
            ClearAppliedLogsFromNowOn();
        }
    }

    /// <summary>Commits <paramref name="redo"/>: durable when this returns, and applied in place.</summary>
    /// <exception cref="PoolOutOfSpaceException">The log is larger than a slot and the heap has no room for it.</exception>
    public void Commit(RedoBuilder redo)
    {
        ThrowIfWritesRefused();
        if (_ahead is { } ahead)
        {
            CommitAhead(redo, ahead);
            return;
        }

        if (RedoLog.FitsSlot(redo.Length, _lanes.SlotSize))
        {
            Commit(redo, external: 0);
            return;
        }

        CommitExternal(redo);
    }

    /// <summary>
    /// Commits a log too large for its slot: its entries go to a heap block reserved for it, which the slot keeps until
    /// the log is retired (see <see cref="RedoLog.WriteLog"/>). The block is reserved before the commit takes a
    /// sequence number: recovery counts on every number up to C having a log.
    /// </summary>
    private void CommitExternal(RedoBuilder redo)
    {
        if (_logSpace is null)
        {
            throw new TransactionTooLargeException(_poolPath, RedoLog.HeaderSize + redo.Length, _lanes.SlotSize);
        }

        var external = _logSpace.Reserve(redo.Length);
        try
        {
            Commit(redo, external);
        }
        catch when (external != 0 && !SlotsHold(external))
        {
            _logSpace.Release(external); // no slot took it: nothing can refer to it
            throw;
        }
    }

    private bool SlotsHold(long external) => Array.IndexOf(_slotExternal, external) >= 0;

    /// <summary>
    /// Takes a lane for a commit by <paramref name="mine"/>'s thread, its last one here when free, and remembers it;
    /// <paramref name="samePool"/>: the thread's previous commit was in this pipeline.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // the commit's hot path
    private int AcquireLane(ThreadCommits mine, out bool samePool, out bool biased)
    {
        samePool = ReferenceEquals(mine.LastPipeline, this);
        var lane = _lanes.Acquire(samePool ? mine.LastLane : -1, mine.LaneHolder, out biased);
        if (lane < 0)
        {
            ThrowShut(); // the lanes are shut only by Shut
        }

        mine.LastLane = lane;
        if (!samePool)
        {
            mine.LastPipeline = this; // (a reference store costs a GC write barrier: not on every commit)
        }

        return lane;
    }

    private void Commit(RedoBuilder redo, long external)
    {
        var mine = redo.ThreadCommits; // a builder is per thread and carries its thread's state: no TLS read
        var lane = AcquireLane(mine, out var samePool, out var biased);
        var released = 0L;
        try
        {
            if (_clearsAppliedLogs)
            {
                CommitInFlightOnly(redo, lane, external, ref released);
                return;
            }

            var inLane = ChooseSlot(lane, mine);
            var slot = _lanes.SlotIndex(lane, inLane);
            if (_slotExternal[slot] != 0 || external != 0)
            {
                // The slot's old log is retired now (ChooseSlot): its block can go once the lane is released.
                released = _slotExternal[slot];
                _slotExternal[slot] = external;
            }

            // The watermarks cover only commits numbered below the bound, so they can be taken before this commit
            // publishes itself. Then a lower bound of the sequence is published before the sequence is taken (the
            // increment is a full fence), so a thread computing watermarks never misses a commit that has its number
            // but has not published it yet.
            var bound = Volatile.Read(ref _sequence.Last) + 1;
            var (retired, committed) = CommitWatermarks(lane, bound);
            ref var inFlight = ref _words.InFlight(lane);
            Volatile.Write(ref inFlight, bound);
            var sequence = Interlocked.Increment(ref _sequence.Last);
            Volatile.Write(ref inFlight, sequence);

            var pastCommitPoint = false;
            try
            {
                // The thread's previous commit here has returned: this log, once whole, proves it committed even
                // while C lags behind a slow commit on another lane (see PersistentPool.Recovery).
                var previous = samePool ? mine.LastSequence : 0;
                RedoLog.WriteLog(_domain, _lanes.SlotOffset(lane, inLane), _lanes.SlotSize, redo, (ulong)sequence, retired, committed, _sealLogs, _poolPath, external, previous);
                _words.SlotSequence(slot) = sequence;
                if (!_appliesPersistAtOnce)
                {
                    FlushDeferred(mine); // this thread's earlier applies: their write-back overlaps the log's
                }

                _domain.Drain(); // the commit point; R and C are durable too, and this thread's earlier applies
                pastCommitPoint = true;
                mine.LastSequence = sequence;
                MarkLaneDurable(lane, retired);
                if (_appliesPersistAtOnce)
                {
                    RedoApply.Apply(_domain, redo.Entries, default(NoFlush)); // a store is all it takes there
                }
                else
                {
                    // Not flushed yet: see FlushDeferred. Durable at this thread's next drain in this pipeline.
                    RedoApply.Apply(_domain, redo.Entries, new DeferredFlush(mine, this));
                }
            }
            finally
            {
                if (pastCommitPoint && !_appliesPersistAtOnce)
                {
                    // Pending before no longer in flight: a thread computing watermarks reads in-flight entries first.
                    Volatile.Write(ref _words.Pending(slot), sequence);
                    ForgetDrained(mine, lane);
                    mine.Add(this, slot, sequence);
                }

                Volatile.Write(ref inFlight, 0);
            }
        }
        finally
        {
            _lanes.Release(lane, mine.LaneHolder, biased);
            if (released != 0)
            {
                _logSpace!.Release(released);
            }
        }
    }

    /// <summary>
    /// True when a write that bypasses the log must first call <see cref="RetireBeforeUnloggedWrite"/>: something was
    /// committed since R was last made durable, or writes are held or refused (see <see cref="HoldWrites"/>). Three
    /// loads; false in the common case.
    /// </summary>
    public bool MustRetireBeforeUnloggedWrite
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Volatile.Read(ref _retiredDurable) < Volatile.Read(ref _sequence.Last)) | (Volatile.Read(ref _writesHeld) != 0);
    }

    /// <summary>
    /// Before a write that bypasses the log: makes every applied log durable and stores and flushes R over them, so
    /// that recovery never replays a log over the write. The caller's own drain makes R durable;
    /// <see cref="AfterDrain"/> then records that.
    /// </summary>
    /// <param name="mine">The calling thread's commit state.</param>
    public void RetireBeforeUnloggedWrite(ThreadCommits mine)
    {
        WaitUntilWritesAllowed();
        if (Volatile.Read(ref _retiredDurable) >= Volatile.Read(ref _sequence.Last))
        {
            return; // only held back: nothing to retire
        }

        if (_ahead is { } ahead)
        {
            RetireAhead(LastSequence, ahead); // every commit that has returned, replayed over the write never again
            return;
        }

        if (ReferenceEquals(mine.PendingRetirementPipeline, this) && mine.PendingRetirement >= Volatile.Read(ref _sequence.Last))
        {
            return; // already stored by this thread, awaiting its drain
        }

        DrainPendingApplies(long.MaxValue, mine); // one extra drain, only for the first such write after commits

        var stored = StoreRetired();
        mine.PendingRetirementPipeline = this;
        mine.PendingRetirement = stored;
    }

    /// <summary>At a clean close: retires every log, so threads' records of this pool's applies can be dropped.</summary>
    public void Close(ThreadCommits? mine)
    {
        if (_ahead is { } ahead)
        {
            CloseAhead(ahead);
        }

        RetireAll(mine);
        Volatile.Write(ref _closed, true);
        AfterDrain(mine);
    }

    /// <summary>The newest sequence number handed out: every commit that has returned is at or below it.</summary>
    public long LastSequence => Volatile.Read(ref _sequence.Last);

    /// <summary>
    /// The lane's slot holding its oldest log, once R durably covers that log (so recovery ignores it): makes pending
    /// applies durable, or stores R, when they hold it back.
    /// </summary>
    private int ChooseSlot(int lane, ThreadCommits mine)
    {
        var first = _lanes.SlotIndex(lane, 0);
        var slot = 0;
        for (var i = 1; i < _lanes.SlotsPerLane; i++)
        {
            if (_words.SlotSequence(first + i) < _words.SlotSequence(first + slot))
            {
                slot = i;
            }
        }

        var oldest = _words.SlotSequence(first + slot);
        if (Volatile.Read(ref _words.Retired(lane)) < oldest)
        {
            RetireThrough(oldest, mine); // in steady state this lane's own last log covers it: not even called
        }

        return slot;
    }

    private long SlotOffset(int slotIndex) => _lanes.SlotOffset(slotIndex);
}

/// <summary>
/// Heap space for logs too large for their slot, provided by the pool (the log layer sits below the heap). Blocks are
/// reserved, never allocated: a crash leaves them free, and recovery reads a log before anything can reuse its block.
/// </summary>
internal interface ILogSpace
{
    /// <summary>Reserves a 64-byte-aligned block of at least <paramref name="bytes"/> bytes (volatile only).</summary>
    /// <exception cref="PoolOutOfSpaceException">No room, even after growing.</exception>
    long Reserve(long bytes);

    /// <summary>Returns a block <see cref="Reserve"/> gave, once no recovery can need the log in it.</summary>
    void Release(long offset);
}
