// CommitPipeline (deferred applies) -- an apply's lines flushed at the thread's next drain, and what that drain made durable.
using System.Runtime.CompilerServices;

namespace Pmem.Log;

internal sealed partial class CommitPipeline
{
    /// <summary>
    /// Records that the calling thread drained: its flushed applies and any R it stored are durable.
    /// <paramref name="mine"/> is the thread's commit state (null when the thread never committed nor retired).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AfterDrain(ThreadCommits? mine)
    {
        if (mine is { AwaitsDrain: true })
        {
            RecordDrained(mine);
        }
    }

    private void RecordDrained(ThreadCommits mine)
    {
        if (mine.Count > 0)
        {
            ForgetDrained(mine);
        }

        if (mine.PendingRetirementPipeline is { } pipeline)
        {
            if (ReferenceEquals(pipeline, this))
            {
                mine.PendingRetirementPipeline = null;
                MarkDurable(mine.PendingRetirement);
            }
            else if (Volatile.Read(ref pipeline._closed))
            {
                mine.PendingRetirementPipeline = null; // a closed pool's: drop it rather than keep the pool alive
            }
        }
    }

    /// <summary>
    /// This thread drained this pipeline's domain, so its applies flushed before the drain are durable. Applies whose
    /// flush is still deferred, and other pools' entries, stay. <paramref name="heldLane"/> is the lane the caller
    /// holds (-1 for none): see <see cref="ClearPending"/>.
    /// </summary>
    private void ForgetDrained(ThreadCommits mine, int heldLane = -1)
    {
        var entries = mine.Unfenced;
        var kept = 0;
        for (var i = 0; i < mine.Count; i++)
        {
            var entry = entries[i];
            if (entry.Flushed && ReferenceEquals(entry.Pipeline, this))
            {
                ClearPending(entry.Slot, entry.Sequence, heldLane);
                continue;
            }

            if (Volatile.Read(ref entry.Pipeline._closed))
            {
                continue; // a closed pool retired every log: nothing left to track, and no reason to keep it alive
            }

            entries[kept++] = entry;
        }

        entries.AsSpan(kept, mine.Count - kept).Clear();
        mine.Count = kept;
    }

    /// <summary>
    /// Flushes the lines this thread's applies in this pool stored to, and marks those applies flushed. An apply is
    /// not flushed when made but just before the thread's next drain: CLWB is ordered with locked instructions, so a
    /// flush issued right after the apply made the next lock (the open-transaction count, the lane, the sequence)
    /// wait for the write-back, a second fence in all but name, and it kept the next reads of those lines waiting.
    /// </summary>
    private void FlushDeferred(ThreadCommits mine)
    {
        if (mine.Count == 0 && mine.DeferredCount == 0)
        {
            return; // (an apply with no range to flush, Verify entries only, still gets marked below)
        }

        var ranges = mine.Deferred;
        var kept = 0;
        for (var i = 0; i < mine.DeferredCount; i++)
        {
            var range = ranges[i];
            if (ReferenceEquals(range.Pipeline, this))
            {
                _domain.Flush(range.Start, range.Length);
            }
            else if (!Volatile.Read(ref range.Pipeline._closed))
            {
                ranges[kept++] = range; // another pool's, flushed before that pool's drain (never a closed pool's)
            }
        }

        ranges.AsSpan(kept, mine.DeferredCount - kept).Clear();
        mine.DeferredCount = kept;
        var entries = mine.Unfenced;
        for (var i = 0; i < mine.Count; i++)
        {
            if (ReferenceEquals(entries[i].Pipeline, this))
            {
                entries[i].Flushed = true;
            }
        }
    }

    /// <summary>
    /// The apply of <paramref name="sequence"/> in <paramref name="slot"/> is durable. Only the holder of a slot's
    /// lane stores a sequence there (others only clear it), so the holder clears without a locked instruction: a
    /// commit's only locked instructions then come before its drain, and the write-back it waits for overlaps
    /// everything up to the next commit's lane and sequence.
    /// </summary>
    private void ClearPending(int slot, long sequence, int heldLane = -1)
    {
        ref var pending = ref _words.Pending(slot);
        if (_lanes.LaneOfSlot(slot) == heldLane)
        {
            if (Volatile.Read(ref pending) == sequence)
            {
                Volatile.Write(ref pending, 0);
            }

            return;
        }

        Interlocked.CompareExchange(ref pending, 0, sequence);
    }

    /// <summary>Apply's flusher for a pipeline whose applies are flushed late (see <see cref="FlushDeferred"/>).</summary>
    private readonly struct DeferredFlush(ThreadCommits mine, CommitPipeline pipeline) : IRangeFlusher
    {
        public void Flush(long offset, long length) => mine.Defer(pipeline, offset, length);
    }
}
