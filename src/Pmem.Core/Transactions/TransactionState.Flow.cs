// TransactionState (async flow) -- which async flow a thread's transaction belongs to: no other flow on its thread joins it, and its own never waits for it.
using System.Runtime.CompilerServices;

namespace Pmem.Transactions;

internal sealed partial class TransactionState
{
    // A transaction is thread-local, but code runs in async flows that share threads: a flow that awaits inside a
    // scope leaves its transaction open on the thread, and the next flow the thread runs (a thread-pool work item, a
    // UI message) would join it, its commits and writes swallowed by a transaction nobody commits. So each scope a
    // program begins records its flow (an AsyncLocal, read again only when the thread's execution context changed),
    // and a thread reached from another flow gives the left-behind transaction up before serving it.
    private static readonly AsyncLocal<FlowMark?> s_flowMark = new(OnFlowSwitched);

    /// <summary>
    /// The mark of the transaction a flow began on a thread. <see cref="Departed"/>: the thread now runs something
    /// else (the flow awaited), which tells the flow's continuation from a task the flow started and left running
    /// beside it.
    /// </summary>
    private sealed class FlowMark(TransactionState state, long generation)
    {
        public readonly TransactionState State = state;
        public readonly long Generation = generation;
        public volatile bool Departed;
    }

    private ExecutionContext? _flowContext; // the context the running transaction was last seen from in its own flow

    /// <summary>True when the running transaction was begun by the library for one call (a single indexed write, a collection call): no await can come inside it.</summary>
    public bool WithinOneCall { get; private set; }

    /// <summary>Whether the running transaction's flow is marked: other flows on its thread are then told from it.</summary>
    private bool _flowMarked;

    /// <summary>The managed id of the thread this state belongs to.</summary>
    public int ThreadId { get; } = Environment.CurrentManagedThreadId; // each state is made by its thread

    /// <summary>
    /// Marks the calling flow as the one running the transaction just begun (outermost scope), where the thread runs
    /// other flows' work while one awaits: a thread-pool thread (the next work item) or one with a
    /// <see cref="SynchronizationContext"/> (the next message). A thread of the program's own runs only its own code
    /// and its async methods' first parts; it is marked later, and only if the transaction holds what others wait for.
    /// </summary>
    private void MarkFlow(bool withinOneCall)
    {
        WithinOneCall = withinOneCall;
        _flowMarked = false;
        if (!withinOneCall && (Thread.CurrentThread.IsThreadPoolThread || SynchronizationContext.Current is not null))
        {
            StoreFlowMark();
        }
    }

    /// <summary>Marks the flow when the transaction first holds what other threads may wait for (see <see cref="IsLeftBehindByCallingFlow"/>).</summary>
    private void MarkFlowForHolds()
    {
        if (!_flowMarked && !WithinOneCall)
        {
            StoreFlowMark();
        }
    }

    private void StoreFlowMark()
    {
        // A new mark each time: an async method begins in its caller's context, so a mark stored there before (the
        // caller's transaction) is the caller's too, and changing it would make the caller's flow this one's.
        s_flowMark.Value = new FlowMark(this, Generation);
        _flowContext = ExecutionContext.Capture();
        _flowMarked = true;
    }

    /// <summary>
    /// True when the calling code belongs to the flow that began the running transaction: the same execution context
    /// as last seen, or one carrying its mark (an unmarked transaction cannot be told from other flows: see <see cref="MarkFlow"/>).
    /// </summary>
    private bool IsOfCallingFlow
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !_flowMarked || ReferenceEquals(_flowContext, ExecutionContext.Capture()) || CallingFlowCarriesMark();
    }

    /// <summary>
    /// True when the running transaction is not the caller's to use: given up on another thread, or left on this one
    /// by another async flow's await. The caller then discards it (<see cref="DiscardAbandoned"/>) and goes on without it.
    /// </summary>
    public bool IsLeftBehind
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => IsAbandoned || !IsOfCallingFlow;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool CallingFlowCarriesMark()
    {
        if (s_flowMark.Value is { } mark && ReferenceEquals(mark.State, this) && mark.Generation == Generation)
        {
            _flowContext = ExecutionContext.Capture(); // the flow changed an AsyncLocal of its own since: look once
            return true;
        }

        return false;
    }

    /// <summary>Marks a flow's transaction departed when its thread switches away from the flow, and back when it returns.</summary>
    private static void OnFlowSwitched(AsyncLocalValueChangedArgs<FlowMark?> change)
    {
        if (change.ThreadContextChanged)
        {
            var thread = Environment.CurrentManagedThreadId;
            if (change.PreviousValue is { } left && left.State.ThreadId == thread)
            {
                left.Departed = true;
            }

            if (change.CurrentValue is { } back && back.State.ThreadId == thread)
            {
                back.Departed = false;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="owner"/>, holding what the caller would wait for (a collection it creates, the index
    /// lock), is the running transaction of the caller's own async flow, whose thread has moved on (an await inside
    /// its scope): waiting for it would never end, since only this flow can end it.
    /// </summary>
    /// <remarks>Called under the pool's creation lock with <paramref name="owner"/> still registered, so it has not ended.</remarks>
    public static bool IsLeftBehindByCallingFlow(TransactionState owner) =>
        s_flowMark.Value is { Departed: true } mark && ReferenceEquals(mark.State, owner) && mark.Generation == owner.Generation &&
        !ReferenceEquals(OfThread, owner);
}
