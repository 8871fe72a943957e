// CommitPipeline (write-ahead log) -- commits appended to a log file and synced by a group leader; applies synced at checkpoints.
using System.Security.Cryptography;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Log;

internal sealed partial class CommitPipeline
{
    private WriteAheadState? _ahead; // set: commits go to a write-ahead log file instead of the lane slots

    /// <summary>
    /// From now on commits write their logs to <paramref name="file"/>, made durable by one <c>fdatasync</c> for every
    /// committer waiting then, and their applies reach the pool file at checkpoints: an msync of the whole mapping,
    /// then R and the log position the next replay starts from (see docs/transactions.md, "Write-ahead log"). Called
    /// at open, before any other thread can commit.
    /// </summary>
    /// <param name="file">The log file; the pipeline owns it from now on.</param>
    /// <param name="lifeOffset">The header word naming the log's life while it is active (0: none).</param>
    /// <param name="startOffset">The header word holding the log position the next replay starts from.</param>
    /// <param name="mine">The calling thread's commit state, if any.</param>
    public void StartWriteAheadLog(WriteAheadFile file, long lifeOffset, long startOffset, ThreadCommits? mine)
    {
        RetireAll(mine); // every slot log retired: a replay never puts one back over the log's commits

        var life = 0UL;
        while (life == 0)
        {
            life = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        }

        // The log's own record of the life first (a pool never replays a log stamped for another), then the position,
        // then the life that makes it count: a replay reads this life's records from 0.
        file.StampLife(life);
        file.StartLife(life, 0);
        _domain.WriteDurable(startOffset, 0L);
        _domain.WriteDurable(lifeOffset, life);
        _ahead = new WriteAheadState(file, lifeOffset, startOffset, LastSequence);
    }

    /// <summary>The write-ahead log file while one is active (for tests and diagnostics).</summary>
    public WriteAheadFile? WriteAheadFile => _ahead?.File;

    /// <summary>
    /// A commit through the write-ahead log: its sequence number and log position taken together (so the log's order
    /// is the commits' order), the log written with one <c>pwrite</c>, the group's sync awaited (the commit point),
    /// then the apply in place, not flushed.
    /// </summary>
    private void CommitAhead(RedoBuilder redo, WriteAheadState ahead)
    {
        var mine = redo.ThreadCommits;
        var lane = AcquireLane(mine, out _, out var biased);
        var file = ahead.File;
        try
        {
            var length = RedoLog.HeaderSize + redo.Length;
            if (length > file.MaxPayload)
            {
                throw new TransactionTooLargeException(_poolPath, length, file.MaxPayload, "one record of the write-ahead log holds at most");
            }

            if (redo.DrainBeforeLog)
            {
                _domain.Drain(); // published content the record does not carry (past RedoBuilder.LoggedContentBudget), synced first
            }

            long sequence, lsn;
            while (true)
            {
                lock (ahead.Order)
                {
                    lsn = file.TryReserve(length);
                    if (lsn >= 0)
                    {
                        sequence = Interlocked.Increment(ref _sequence.Last);
                        break;
                    }
                }

                MakeRoom(ahead);
            }

            var end = lsn + WriteAheadFile.RecordSize(length);
            try
            {
                RedoLog.WriteHeader(redo.Log, redo.Count, (ulong)sequence, Volatile.Read(ref _retiredDurable), 0);
                file.Write(lsn, redo.Log);
            }
            catch (Exception exception) when (exception is not PmemIOException)
            {
                file.Abandon(exception); // a reserved record never written would hold every later one back
                throw;
            }

            file.WaitDurable(end); // the commit point
            mine.LastSequence = sequence;
            RedoApply.Apply(_domain, redo.Entries, default(NoFlush)); // durable at the next checkpoint
            ahead.MarkApplied(sequence, end);
        }
        finally
        {
            _lanes.Release(lane, mine.LaneHolder, biased);
        }

        if (file.InUse > file.Capacity / 2 && Monitor.TryEnter(ahead.Checkpointing))
        {
            try
            {
                Checkpoint(ahead);
            }
            finally
            {
                Monitor.Exit(ahead.Checkpointing);
            }
        }
    }

    /// <summary>The log is full: a checkpoint frees what is applied; when nothing is, waits for an apply first.</summary>
    private void MakeRoom(WriteAheadState ahead)
    {
        var before = ahead.File.InUse;
        lock (ahead.Checkpointing)
        {
            Checkpoint(ahead);
        }

        if (ahead.File.InUse >= before)
        {
            ahead.WaitApplied(ahead.AppliedThroughNow + 1, TimeSpan.FromMilliseconds(50));
        }
    }

    /// <summary>
    /// In write-ahead mode: makes R durably cover every commit up to <paramref name="sequence"/>, waiting for older
    /// commits still syncing or applying, with a checkpoint.
    /// </summary>
    private void RetireAhead(long sequence, WriteAheadState ahead)
    {
        if (Volatile.Read(ref _retiredDurable) >= sequence)
        {
            return;
        }

        ahead.WaitApplied(sequence, Timeout.InfiniteTimeSpan);
        lock (ahead.Checkpointing)
        {
            Checkpoint(ahead);
        }
    }

    /// <summary>
    /// Makes every apply through the newest commit applied so far durable (msync of the whole mapping: only its dirty
    /// pages are written), then R and the log position after that commit's record; the log's room before it is free
    /// again. The caller holds <see cref="WriteAheadState.Checkpointing"/>.
    /// </summary>
    private void Checkpoint(WriteAheadState ahead)
    {
        var (through, end) = ahead.AppliedNow();
        if (through <= Volatile.Read(ref _retiredDurable))
        {
            return;
        }

        _domain.Flush(0, _domain.Length);
        _domain.Drain();
        StoreRetiredAndPosition(_domain, _retiredThroughOffset, through, ahead.StartOffset, end);
        MarkDurable(through);
        ahead.File.Reclaim(end);
    }

    /// <summary>
    /// Makes R (<paramref name="retired"/>) and the log position the next replay starts from (<paramref name="position"/>,
    /// where commit R + 1's record lies) durable together, as a checkpoint and a recovery leave them.
    /// </summary>
    /// <remarks>
    /// R and the position lie in one 512-byte sector of the header page, which one msync writes whole: a power failure
    /// keeps both or neither (PostgreSQL keeps pg_control within a sector for the same reason). Recovery counts on it: a
    /// new position beside the old R would look like a damaged position (a record before it above R), and an old one
    /// beside a new R like a damaged R (the record at the position not commit R + 1). A drain between them would cost
    /// an msync per checkpoint (bench/RESULTS.md, session 25).
    /// </remarks>
    public static void StoreRetiredAndPosition(PersistenceDomain domain, long retiredOffset, long retired, long positionOffset, long position)
    {
        domain.Write(retiredOffset, retired);
        domain.Write(positionOffset, position);
        domain.Flush(retiredOffset, 8);
        domain.Flush(positionOffset, 8);
        domain.Drain();
    }

    /// <summary>
    /// At a clean close in write-ahead mode: the last checkpoint, then the header's life cleared, so the file is whole
    /// without the log.
    /// </summary>
    private void CloseAhead(WriteAheadState ahead)
    {
        _ahead = null;
        try
        {
            RetireAhead(LastSequence, ahead);
        }
        catch (PmemIOException) when (ahead.File.IsDeleted)
        {
            // Deleted while open: no replay could find it, so the pool file itself is made whole, with what was
            // applied (commits whose sync found the log gone failed and applied nothing), and names no log.
            lock (ahead.Checkpointing)
            {
                Checkpoint(ahead);
            }
        }
        catch (PmemIOException)
        {
            ahead.File.Dispose(); // the log failed: it stays active in the header, for the next open to replay
            return;
        }

        _domain.WriteDurable(ahead.LifeOffset, 0L);
        ahead.File.Dispose();
    }

    /// <summary>What a pipeline keeps while commits go to a write-ahead log.</summary>
    private sealed class WriteAheadState(WriteAheadFile file, long lifeOffset, long startOffset, long appliedThrough)
    {
        private readonly SortedDictionary<long, long> _appliedAhead = []; // applied past a commit still applying: sequence → record end
        private long _appliedThrough = appliedThrough;                   // every commit at or below it has applied
        private long _appliedEnd;                                         // the log position after that commit's record

        public WriteAheadFile File { get; } = file;

        public long LifeOffset { get; } = lifeOffset;

        public long StartOffset { get; } = startOffset;

        /// <summary>Taken around a sequence number and a log position, so that both give one order.</summary>
        public object Order { get; } = new();

        /// <summary>Held by the one checkpoint running.</summary>
        public object Checkpointing { get; } = new();

        private object Applied => _appliedAhead;

        public long AppliedThroughNow
        {
            get
            {
                lock (Applied)
                {
                    return _appliedThrough;
                }
            }
        }

        public (long Through, long End) AppliedNow()
        {
            lock (Applied)
            {
                return (_appliedThrough, _appliedEnd);
            }
        }

        public void MarkApplied(long sequence, long end)
        {
            lock (Applied)
            {
                if (sequence != _appliedThrough + 1)
                {
                    _appliedAhead.Add(sequence, end);
                    return;
                }

                (_appliedThrough, _appliedEnd) = (sequence, end);
                while (_appliedAhead.Remove(_appliedThrough + 1, out var next))
                {
                    (_appliedThrough, _appliedEnd) = (_appliedThrough + 1, next);
                }

                Monitor.PulseAll(Applied);
            }
        }

        /// <summary>Waits until every commit up to <paramref name="sequence"/> has applied, or the timeout passes.</summary>
        public void WaitApplied(long sequence, TimeSpan timeout)
        {
            lock (Applied)
            {
                while (_appliedThrough < sequence)
                {
                    if (!Monitor.Wait(Applied, timeout == Timeout.InfiniteTimeSpan ? LaneSet.ShutCheckMilliseconds : (int)timeout.TotalMilliseconds) && timeout != Timeout.InfiniteTimeSpan)
                    {
                        return;
                    }

                    File.ThrowIfFailed();
                }
            }
        }
    }
}
