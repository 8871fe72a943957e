// PersistentPool (write-ahead log) -- the opt-in log file of a pool on an ordinary file: its replay at open and its start.
using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>Record bytes of a new write-ahead log file (a checkpoint runs when half of it is in use).</summary>
    internal const long WriteAheadCapacity = 64L << 20;

    /// <summary>
    /// The write-ahead log file a pool file at <paramref name="poolPath"/> keeps beside it: the path of the file itself
    /// (where a symbolic link points) with <c>.wal</c> appended, so that every name of the pool uses one log.
    /// </summary>
    /// <remarks>
    /// It exists once the pool was opened with <see cref="PoolOpenOptions.WriteAheadLog"/>. After a clean close the
    /// pool file is whole without it; after a crash it holds the latest committed transactions, so a copy of the pool
    /// file made by hand then needs the log file too (<see cref="Backup(string, bool)"/> needs neither).
    /// </remarks>
    public static string WriteAheadLogPath(string poolPath) => FileBehind(poolPath) + ".wal";

    /// <summary>The file a path names, through symbolic links; the path itself when it is none (or cannot be read).</summary>
    private static string FileBehind(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return path;
        }
    }

    /// <summary>
    /// What <paramref name="destination"/> is of the pool file <paramref name="poolPath"/> ("the pool itself" or "the
    /// pool's write-ahead log", links included), or null when neither: a tool writing a file refuses such a
    /// destination, since replacing it would destroy the pool.
    /// </summary>
    internal static string? PoolFileNamedBy(string destination, string poolPath) =>
        DurableFiles.IsSameFile(destination, poolPath) ? "the pool itself"
        : DurableFiles.IsSameFile(destination, WriteAheadLogPath(poolPath)) || DurableFiles.IsSameFile(destination, poolPath + ".wal") ? "the pool's write-ahead log"
        : null;

    /// <summary>The path of this pool's write-ahead log file, if it lives in a file (null: memory without a file).</summary>
    private string? WriteAheadPath => _domain is MappedDomain mapped ? WriteAheadLogPath(mapped.Path) : null;

    /// <summary>The write-ahead log file commits go to (null: none active), for tests and benchmarks.</summary>
    internal WriteAheadFile? WriteAheadLogFile => _commits.WriteAheadFile;

    /// <summary>The header names an active write-ahead log: its records after the last checkpoint are replayed at open.</summary>
    private bool WriteAheadLogActive => _domain.Read<ulong>(PoolLayout.WriteAheadLifeOffset) != 0;

    /// <summary>
    /// Inside recovery's rollback scope: replays the write-ahead log's records after the last checkpoint, in order,
    /// remembering what each store overwrote. Records at or below R were made durable by a checkpoint and are skipped.
    /// Reads the log only (a read-only open replays into its private pages).
    /// </summary>
    /// <returns>
    /// The newest commit found, at least <paramref name="newest"/>; the records replayed; and the log position after the
    /// last of them (null: no active log).
    /// </returns>
    /// <exception cref="PoolCorruptedException">
    /// The log is missing, not a log, or holds a whole record that is invalid; or the header's position and R disagree.
    /// </exception>
    private (long Newest, int Replayed, long? Stop) ReplayWriteAheadLog(long newest, List<(long Offset, byte[] Bytes)> overwritten)
    {
        var life = _domain.Read<ulong>(PoolLayout.WriteAheadLifeOffset);
        if (life == 0)
        {
            return (newest, 0, null);
        }

        var path = WriteAheadPath
            ?? throw new PoolCorruptedException(Path, "the header names an active write-ahead log, but the pool is not in a file that could have one");
        if (!File.Exists(path) && _domain is MappedDomain mapped && mapped.Path + ".wal" is var beside && File.Exists(beside))
        {
            path = beside; // releases before this one put it beside the symbolic link the pool was opened through
        }

        if (!File.Exists(path))
        {
            throw new PoolCorruptedException(Path, $"the header names an active write-ahead log, but '{path}' does not exist: it holds the pool's latest committed transactions; put it back beside the pool file and open it again");
        }

        var start = _domain.Read<long>(PoolLayout.WriteAheadStartOffset);
        if (start < 0)
        {
            throw new PoolCorruptedException(Path, $"the header's write-ahead log position (offset {PoolLayout.WriteAheadStartOffset}) holds the impossible value {start}");
        }

        WriteAheadFile file;
        try
        {
            file = WriteAheadFile.Open(path, 0, writable: false);
        }
        catch (InvalidDataException exception)
        {
            throw new PoolCorruptedException(Path, exception.Message);
        }

        using (file)
        {
            if (file.StampedLife is var stamped and not 0 && stamped != life)
            {
                throw new PoolCorruptedException(Path, $"the write-ahead log '{path}' was started for another run of the pool than the one its header names (log life {stamped:x16}, header {life:x16}): replaying it would lose that run's commits. The pool was last opened by another name (a hard link) whose log beside it holds them: open it by that name");
            }

            var retired = _domain.Read<long>(PoolLayout.RetiredThroughOffset);
            var poolSize = Size;
            var previous = -1L;
            var replayed = 0;
            var stop = file.Read(life, start, (position, record) =>
            {
                var where = $"at position {position} of the write-ahead log '{path}'";
                var log = RedoLog.TryParse(record, position)
                    ?? throw new PoolCorruptedException(Path, $"the record {where} is whole but holds no redo log");
                var sequence = (long)log.Sequence;
                if (previous >= 0 && sequence != previous + 1)
                {
                    throw new PoolCorruptedException(Path, $"the record {where} is commit {sequence}, but follows commit {previous}");
                }

                // A checkpoint (and a recovery) writes R and the position together, so the record there is commit R + 1:
                // any other R is damaged, and one inside the records would skip committed transactions without a trace.
                if (previous < 0 && sequence != retired + 1)
                {
                    throw new PoolCorruptedException(Path, $"the record {where}, where the header's position (offset {PoolLayout.WriteAheadStartOffset}) says the replay starts, is commit {sequence}, but the header's retirement watermark R is {retired}: they are written together, so the header is damaged, and trusting it would skip or repeat committed transactions");
                }

                previous = sequence;
                if (sequence > retired)
                {
                    RedoLog.Validate(log, PoolLayout.PoolSizeOffset, poolSize, Path, PoolLayout.UpgradeWords, where);
                    SaveTargets(log.Entries, overwritten);
                    RedoApply.Apply(_domain, log.Entries);
                    newest = Math.Max(newest, sequence);
                    replayed++;
                }

                return true;
            });

            CheckLogAgainstHeader(file, life, start, stop, Math.Max(retired, previous), retired, path);
            return (newest, replayed, stop);
        }
    }

    /// <summary>
    /// After a replay, once its stores are durable: R covers <paramref name="newest"/>, and an active log's position
    /// moves past the records replayed (<paramref name="aheadStop"/>) with it, as at a checkpoint, so that a crash
    /// before the log is ended leaves the pair a replay expects (the record at the position is commit R + 1).
    /// </summary>
    private void RetireReplayed(long newest, long? aheadStop)
    {
        if (newest <= _domain.Read<long>(PoolLayout.RetiredThroughOffset))
        {
            return;
        }

        if (aheadStop is { } stop)
        {
            CommitPipeline.StoreRetiredAndPosition(_domain, PoolLayout.RetiredThroughOffset, newest, PoolLayout.WriteAheadStartOffset, stop);
        }
        else
        {
            _domain.WriteDurable(PoolLayout.RetiredThroughOffset, newest);
        }
    }

    /// <summary>
    /// After the replay stopped at <paramref name="stop"/>: reads every whole record of the life once and refuses what
    /// no crash leaves, so that damage never passes for a shorter log. A commit returns only once every record before
    /// its own is durable, so the commits from the one whose record ends the replay on had all not returned, and each
    /// held a lane: the newest whole record is at most the lane count past <paramref name="lastSeen"/> (more: a durable
    /// record was damaged). A checkpoint syncs R and the position together (one sector), so no record before the position
    /// is above R (one is: the position is damaged), and the record of commit R stays in the file until a newer one
    /// overwrites it (none as new: R is damaged). Each would otherwise skip committed records without a trace.
    /// <paramref name="lastSeen"/> is the newest commit the replay read or R covers.
    /// </summary>
    private void CheckLogAgainstHeader(WriteAheadFile file, ulong life, long start, long stop, long lastSeen, long retired, string path)
    {
        var newest = long.MinValue;
        (long Position, long Sequence)? skipped = null;
        file.ForEachWholeRecord(life, (position, record) =>
        {
            var sequence = record.Length >= RedoLog.HeaderSize ? (long)BinaryPrimitives.ReadUInt64LittleEndian(record[RedoLog.SequenceOffset..]) : long.MinValue;
            newest = Math.Max(newest, sequence);
            if (position < start && sequence > retired && skipped is null)
            {
                skipped = (position, sequence);
            }
        });

        if (newest == long.MinValue)
        {
            return; // no record of this life: nothing replayed, nothing skipped
        }

        if (newest - lastSeen > _lanes.Count)
        {
            throw new PoolCorruptedException(Path, $"the record at position {stop} of the write-ahead log '{path}' is damaged or missing, but the log holds commit {newest}, {newest - lastSeen} past the last one replayed (a crash leaves at most {_lanes.Count} unfinished): committed transactions would be lost");
        }

        if (skipped is { } early)
        {
            throw new PoolCorruptedException(Path, $"the header's write-ahead log position (offset {PoolLayout.WriteAheadStartOffset}) is {start}, past the record at position {early.Position} of '{path}', commit {early.Sequence}, which no checkpoint applied (R is {retired}): the header is damaged, and replaying from it would skip committed transactions");
        }

        if (retired > newest)
        {
            throw new PoolCorruptedException(Path, $"the header's retirement watermark R is {retired}, but the newest commit in the write-ahead log '{path}' is {newest}: the header is damaged, and trusting it would skip committed transactions");
        }
    }

    /// <summary>
    /// After recovery made everything durable and R covers it: the header names no active log any more, so the file
    /// is whole on its own (an open with <see cref="PoolOpenOptions.WriteAheadLog"/> then starts a new life).
    /// </summary>
    private void EndWriteAheadLog()
    {
        if (WriteAheadLogActive)
        {
            _domain.WriteDurable(PoolLayout.WriteAheadLifeOffset, 0UL);
        }
    }

    /// <summary>Refuses a write-ahead log to a pool older than format 9, whose three-slot lanes version 10 would misread.</summary>
    /// <exception cref="NotSupportedException">The pool's format is older than 9 and it lives where a log would be used.</exception>
    private void RequireWriteAheadFormat()
    {
        if (FormatVersion < PoolLayout.RoomyLanesVersion && _domain is MsyncDomain && WriteAheadPath is not null)
        {
            throw new NotSupportedException($"{Path}: a write-ahead log needs a pool of format {PoolLayout.RoomyLanesVersion} or later, and this one is format {FormatVersion}; compacting it (pmem compact, or PoolCompaction.Compact) moves a format-8 pool to {PoolLayout.RoomyLanesVersion}.");
        }
    }

    /// <summary>
    /// At the end of a writable open with <see cref="PoolOpenOptions.WriteAheadLog"/>: moves a version-9 pool to 10
    /// (through a slot log) and hands the log file to the commit pipeline. Nothing on persistent memory, in a
    /// process-crash pool or in memory without a file, where a commit syncs nothing a log file would save.
    /// </summary>
    /// <param name="capacity">Record bytes of the log file, if this creates it.</param>
    private void StartWriteAheadLog(long capacity)
    {
        if (_domain is not MsyncDomain || WriteAheadPath is not { } path)
        {
            return;
        }

        RequireWriteAheadFormat();
        if (FormatVersion < PoolLayout.WriteAheadLogVersion)
        {
            var redo = RentRedo();
            redo.Set(PoolLayout.VersionOffset, PoolLayout.WriteAheadLogVersion);
            redo.Set(PoolLayout.HeaderChecksumOffset, HeaderChecksumWithVersion(_domain, PoolLayout.WriteAheadLogVersion));
            CommitRedo(redo);
            FormatVersion = _domain.Read<uint>(PoolLayout.VersionOffset);
        }

        var file = WriteAheadFile.Open(path, capacity, writable: true, accessOf: Path);
        try
        {
            _commits.StartWriteAheadLog(file, PoolLayout.WriteAheadLifeOffset, PoolLayout.WriteAheadStartOffset, TransactionState.OfThread?.Commits);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
