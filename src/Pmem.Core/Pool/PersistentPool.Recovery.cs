// PersistentPool (recovery) -- at open: validates the type table, logs and heap, replays committed logs, writes nothing on failure.
using Pmem.Heap;
using Pmem.Log;
using Pmem.Memory;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// Validates the type table, the logs and the heap, replays the committed logs and completes what a crash left
    /// unfinished. If anything is invalid, every byte the replay stored is put back before the exception leaves, so a
    /// failed open leaves the file as it found it.
    /// </summary>
    /// <exception cref="PoolCorruptedException">Invalid type table, watermarks, logs, heap or root.</exception>
    /// <exception cref="PersistentSchemaException">The program's types need a migration it cannot make (see <see cref="PlanEvolution"/>).</exception>
    /// <returns>What the schema's evolution does once the pool is open.</returns>
    private EvolutionWork Recover(PoolOpenOptions options)
    {
        var (replay, newest, slotSequences) = PlanReplay();
        _heap.Load();

        // Replay in commit order (newer wins), remembering what each store overwrote. Whatever is found invalid after
        // the replay (an allocated block without a known type, a root that is not allocated) puts it all back.
        var overwritten = new List<(long Offset, byte[] Bytes)>();
        var aheadReplayed = 0;
        long? aheadStop = null;
        EvolutionWork evolution;
        try
        {
            foreach (var log in replay)
            {
                SaveTargets(log.Entries, overwritten);
                RedoApply.Apply(_domain, log.Entries);
            }

            (newest, aheadReplayed, aheadStop) = ReplayWriteAheadLog(newest, overwritten); // its commits follow every slot's

            _types.Load(Size); // after the replay: migrations change the table through logs
            FormatVersion = _domain.Read<uint>(PoolLayout.VersionOffset); // a replayed log may have upgraded it
            if (_domain.Read<ulong>(PoolLayout.HeaderChecksumOffset) != HeaderChecksum(_domain, PoolLayout.Magic))
            {
                throw new PoolCorruptedException(Path, "the pool header fails its checksum"); // torn, and no log completes it
            }
            _heap.ValidateAfterReplay();
            ValidateRoot();
            ValidateStoredSchema();
            ValidateIndexDirectory();
            evolution = PlanEvolution(options);
            if (evolution.Migrates && !options.MigrationInputsChecked)
            {
                ValidateMigrationInputs(evolution.Migrations);
            }
        }
        catch (PoolException) when (overwritten.Count > 0)
        {
            for (var i = overwritten.Count - 1; i >= 0; i--)
            {
                var (offset, bytes) = overwritten[i];
                bytes.CopyTo(_domain.GetSpan(offset, bytes.Length));
                _domain.NotifyStore(offset, bytes.Length);
                _domain.Flush(offset, bytes.Length);
            }

            _domain.Drain();
            throw;
        }

        _domain.Drain();

        // Every whole log is now applied or abandoned: the header's watermark covers them all, so the slots can be
        // reused without their own watermarks.
        RetireReplayed(newest, aheadStop);
        EndWriteAheadLog();

        var clearsLogs = ClearsAppliedLogs;
        if (clearsLogs)
        {
            // Such a pool keeps whole logs only for commits in flight: these are applied now (see ClearsAppliedLogs).
            CommitPipeline.ClearLogs(_domain, _lanes, slotSequences);
        }

        _commits = new CommitPipeline(
            _domain, _lanes, Path, newest, slotSequences, _logsMayBeSealed, PoolLayout.RetiredThroughOffset, new HeapLogSpace(_heap, () => _commits.LastSequence), clearsLogs);
        RecoveredTransactions = replay.Count + aheadReplayed;
        return evolution; // the heap's own upkeep waits for FinishOpen: a migration through a copy never needs it here
    }

    /// <summary>
    /// Reads every slot (writing nothing) and returns the logs to replay, in commit order: above the watermark R, and
    /// committed (at or below C, or with the content they publish durable). Refuses watermarks no crash can leave and
    /// a committed log that is damaged or missing, rather than silently dropping its transaction.
    /// </summary>
    private ReplayPlan PlanReplay()
    {
        var headerRetired = _domain.Read<long>(PoolLayout.RetiredThroughOffset);
        if (headerRetired < 0)
        {
            throw new PoolCorruptedException(Path, $"the header's retirement watermark R (offset {PoolLayout.RetiredThroughOffset}) holds the impossible value {headerRetired}");
        }

        var found = new List<SlotLog>();
        var slotSequences = new long[_lanes.SlotCount];
        for (var lane = 0; lane < _lanes.Count; lane++)
        {
            for (var slot = 0; slot < _lanes.SlotsPerLane; slot++)
            {
                if (RedoLog.TryRead(_domain, _lanes.SlotOffset(lane, slot), _lanes.SlotSize, _logsMayBeSealed) is { } log)
                {
                    found.Add(log);
                    slotSequences[_lanes.SlotIndex(lane, slot)] = (long)log.Sequence;
                }
            }
        }

        // R is a commit's sequence number whose log outlives it until two newer logs fill its lane, so at most one torn
        // log per lane (the one a crash cut short) can stand above the newest whole log. (Earlier releases could
        // overwrite the newest log first after a recovery, which the same bound covers.) A pool that clears applied
        // logs may have none left, and then R only numbers the next commits: it must leave room for them.
        var newestLog = found.Count == 0 ? 0 : (long)found.Max(log => log.Sequence);
        if (headerRetired > MaxRetiredWatermark)
        {
            throw new PoolCorruptedException(Path, $"the header's retirement watermark R (offset {PoolLayout.RetiredThroughOffset}) holds the impossible value {headerRetired}");
        }

        // A write-ahead log's commits leave no log in the slots, so from version 10 R may stand far above them.
        if (headerRetired > newestLog + _lanes.Count && !(found.Count == 0 && ClearsAppliedLogs) && FormatVersion < PoolLayout.WriteAheadLogVersion)
        {
            throw new PoolCorruptedException(Path, $"the header's retirement watermark R is {headerRetired}, but the newest whole log is commit {newestLog}: the watermark or the logs are damaged");
        }

        // A whole log's watermarks are as true as the header's.
        var retired = Math.Max(headerRetired, found.Count == 0 ? 0 : found.Max(log => log.Retired));
        var committed = found.Count == 0 ? 0 : found.Max(log => log.Committed);
        var newest = Math.Max(headerRetired, newestLog);

        // Every commit in (R, C] passed its commit point and its log is kept until R covers it: each must be here.
        if (committed > retired)
        {
            if (committed - retired > (long)_lanes.SlotCount)
            {
                throw new PoolCorruptedException(Path, $"the logs' watermarks claim {committed - retired} committed transactions awaiting recovery, more than the {_lanes.SlotCount} log slots hold");
            }

            for (var sequence = retired + 1; sequence <= committed; sequence++)
            {
                if (!found.Exists(log => log.Sequence == (ulong)sequence))
                {
                    throw new PoolCorruptedException(Path, $"the redo log of committed transaction {sequence} is damaged or missing, so it cannot be completed (the logs' watermarks show it committed)");
                }
            }
        }

        // Above C, a log counts only if the content it publishes hashes as recorded (see CommitPipeline).
        var replay = found
            .Where(log => log.Sequence > (ulong)retired && (log.Sequence <= (ulong)committed || ProvenCommitted(log, found) || RedoLog.ContentIsDurable(_domain, log.Entries)))
            .OrderBy(log => log.Sequence)
            .ToList();
        var poolSize = Size;
        foreach (var log in replay)
        {
            RedoLog.Validate(log, PoolLayout.PoolSizeOffset, poolSize, Path, PoolLayout.UpgradeWords);
        }

        return new ReplayPlan(replay, newest, slotSequences);
    }

    /// <summary>
    /// Whether this pool clears each log once applied (a process-crash pool of <see cref="PoolLayout.ClearedLogsVersion"/>
    /// or later): its commits leave no whole log behind, so a whole log found at open is a commit that was in flight, and
    /// once recovery has applied it, it is cleared too. Logs an older pipeline wrote (one that ran this pool without
    /// clearing, as a simulated domain does) keep their watermarks, which recovery reads as for any pool.
    /// </summary>
    private bool ClearsAppliedLogs => FormatVersion >= PoolLayout.ClearedLogsVersion && Durability == DurabilityMode.ProcessCrash;

    /// <summary>The largest R a pool can hold: commits numbered above it would overflow.</summary>
    private const long MaxRetiredWatermark = long.MaxValue / 4;

    /// <summary>What recovery found in the lanes (see <see cref="PlanReplay"/>).</summary>
    /// <param name="Logs">The logs to replay, in commit order.</param>
    /// <param name="Newest">The newest sequence number in the pool: the watermark once the replay is durable.</param>
    /// <param name="SlotSequences">Per slot, the sequence of the whole log it holds (0: none).</param>
    private sealed record ReplayPlan(List<SlotLog> Logs, long Newest, long[] SlotSequences);

    /// <summary>
    /// Whether a later whole log proves that <paramref name="log"/> passed its commit point although C does not reach
    /// it (a slow commit on another lane holds C back): a newer log in the same lane (the lane is held through the
    /// whole commit), or a log naming it as its thread's previous commit. The content such a log published may since
    /// have changed (later commits write into a new array or object), so its Verify entries no longer tell; dropping
    /// it would let older logs replay over what it wrote.
    /// </summary>
    private bool ProvenCommitted(SlotLog log, List<SlotLog> found)
    {
        var lane = _lanes.LaneOf(log.SlotOffset);
        foreach (var other in found)
        {
            if (other.Sequence > log.Sequence && (other.Previous == (long)log.Sequence || _lanes.LaneOf(other.SlotOffset) == lane))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Copies the bytes each entry of a log is about to overwrite.</summary>
    private void SaveTargets(byte[] entries, List<(long Offset, byte[] Bytes)> overwritten)
    {
        var reader = new RedoReader(entries);
        while (reader.MoveNext(out _))
        {
            if (reader.Operation != RedoOperation.Verify)
            {
                overwritten.Add((reader.Target, _domain.GetSpan(reader.Target, (int)reader.Length).ToArray()));
            }
        }
    }

    private void ValidateRoot()
    {
        var root = _domain.Read<long>(PoolLayout.RootOffsetOffset);
        var rootType = _domain.Read<uint>(PoolLayout.RootTypeOffset);
        if (root == 0)
        {
            if (rootType != 0)
            {
                // Both are set in one commit: a type without an offset is a damaged header, not a pool without a root.
                throw new PoolCorruptedException(Path, $"the root offset is 0 but the root type index is {rootType}");
            }

            return;
        }

        if (!_heap.TryGetAllocated(root, out _, out var stored) || stored != rootType)
        {
            throw new PoolCorruptedException(Path, $"the root object at offset {root} is not an allocated object of its recorded type");
        }
    }

    /// <summary>
    /// Visits the heap ranges the lane slots' headers name as holding their logs' entries (logs too large for a slot;
    /// <see cref="RedoLog.ExternalOffset"/>), bounded by the pool, whether the log is whole or not: they lie in blocks
    /// reserved, not allocated, so in free chunks, and recovery reads them even retired. A copy that leaves free chunks
    /// out copies these.
    /// </summary>
    private void ForEachLogOutsideSlots(Action<long, long> visit)
    {
        var length = _domain.Length;
        for (var lane = 0; lane < _lanes.Count; lane++)
        {
            for (var slot = 0; slot < _lanes.SlotsPerLane; slot++)
            {
                var header = _lanes.SlotOffset(lane, slot);
                var external = _domain.Read<long>(header + RedoLog.ExternalOffset);
                if (external > 0 && external < length)
                {
                    visit(external, Math.Min(_domain.Read<uint>(header + RedoLog.EntryBytesOffset), length - external));
                }
            }
        }
    }
}
