// ThreadCommits -- one thread's commit state: its lane holder, applies not yet drained, lines still to flush.
using System.Runtime.CompilerServices;

namespace Pmem.Log;

/// <summary>
/// A thread's commit state: its lane, the applies it made but has not drained since, the lines of those applies
/// still to flush, and an R it stored before a write outside the log that its next drain makes durable. Kept in
/// the thread's one context of the layer above (TransactionState), so transactions, batches and commits share one
/// thread-static; the log layer itself never reads a thread-static and is handed this by its callers.
/// </summary>
internal sealed class ThreadCommits
{
    public UnfencedApply[] Unfenced = new UnfencedApply[4];
    public int Count;
    public DeferredRange[] Deferred = new DeferredRange[8];
    public int DeferredCount;
    public CommitPipeline? LastPipeline;
    public int LastLane;
    public long LastSequence; // the thread's last commit in LastPipeline that passed its commit point (0: none)
    public readonly LaneSet.Holder LaneHolder = new(); // one per thread: see LaneSet
    public CommitPipeline? PendingRetirementPipeline;  // the pipeline whose R this thread stored and has not drained
    public long PendingRetirement;

    /// <summary>True when the thread's next drain has something to record: applies to forget, or an R made durable.</summary>
    public bool AwaitsDrain
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Count > 0 || PendingRetirementPipeline is not null;
    }

    public void Add(CommitPipeline pipeline, int slot, long sequence)
    {
        if (Count == Unfenced.Length)
        {
            Array.Resize(ref Unfenced, Count * 2);
        }

        Unfenced[Count++] = new UnfencedApply(pipeline, slot, sequence);
    }

    public void Defer(CommitPipeline pipeline, long start, long length)
    {
        if (DeferredCount == Deferred.Length)
        {
            Array.Resize(ref Deferred, DeferredCount * 2);
        }

        Deferred[DeferredCount++] = new DeferredRange(pipeline, start, length);
    }
}

/// <summary>An apply not yet known durable; <see cref="Flushed"/> once its lines are flushed (then a drain makes it durable).</summary>
internal struct UnfencedApply(CommitPipeline pipeline, int slot, long sequence)
{
    public readonly CommitPipeline Pipeline = pipeline;
    public readonly int Slot = slot;
    public readonly long Sequence = sequence;
    public bool Flushed;
}

/// <summary>Bytes an apply stored to, to flush before the thread's next drain in <see cref="Pipeline"/>.</summary>
internal readonly record struct DeferredRange(CommitPipeline Pipeline, long Start, long Length);
