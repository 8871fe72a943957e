// TransactionState (abandonment) -- a transaction an await left behind: given up by a Dispose on another thread, known to its async flow.
using System.Runtime.CompilerServices;

namespace Pmem.Transactions;

internal sealed partial class TransactionState
{
    // The generation of the thread's transaction that a Dispose on another thread gave up on (0: none): the thread
    // discards it the next time it begins a transaction or reaches it from the pool, so that later work on the thread
    // does not join a transaction nobody will end. Set and discarded under _abandonLock.
    private long _abandonedTransaction;
    private readonly Lock _abandonLock = new();

    /// <summary>True when the running transaction was given up by a Dispose on another thread (see <see cref="AbandonTransaction"/>).</summary>
    public bool IsAbandoned
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref _abandonedTransaction) is var given && given != 0 && given == Generation;
    }

    /// <summary>
    /// Gives up the transaction of generation <paramref name="generation"/>, called on another thread than the one
    /// running it (its scope's Dispose after an <c>await</c>): threads waiting for the collections it creates or for
    /// the index lock it holds stop waiting now, and its own thread discards the rest when it next comes by.
    /// </summary>
    public void AbandonTransaction(long generation)
    {
        lock (_abandonLock)
        {
            if (Depth > 0 && Generation == generation)
            {
                Volatile.Write(ref _abandonedTransaction, generation);
                ReleaseCreatedCollections();
            }
        }
    }

    /// <summary>On the transaction's own thread: forgets a transaction given up on another thread (nothing of it was written).</summary>
    public void DiscardAbandoned()
    {
        lock (_abandonLock)
        {
            RollBack();
            Depth = 0;
            Reset();
            _abandonedTransaction = 0;
        }
    }

    // The transaction holding what other threads wait for (a collection it creates, the index lock), as the async flow
    // that took it knows it: an await in its scope moves the rest of the flow to another thread, where a wait for it
    // would never end (only that flow can end it). Set when a transaction first takes such a thing, so only those pay,
    // and never cleared (a second store would cost a second context): a hold of an ended transaction matches nothing.
    private static readonly AsyncLocal<FlowHold?> s_flowHold = new(OnFlowSwitched);

    /// <summary>
    /// A transaction's hold as its async flow sees it. <see cref="Departed"/>: its thread now runs something else (the
    /// flow awaited), which tells the flow's continuation from work the flow started and left running beside it
    /// (a task started inside the scope, which may wait: the transaction's thread will end it).
    /// </summary>
    private sealed class FlowHold(TransactionState state, long generation)
    {
        public readonly TransactionState State = state;
        public readonly long Generation = generation;
        public volatile bool Departed;
    }

    /// <summary>Marks a hold departed when its transaction's thread switches away from the flow, and back when it returns.</summary>
    private static void OnFlowSwitched(AsyncLocalValueChangedArgs<FlowHold?> change)
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

    /// <summary>The managed id of the thread this state belongs to.</summary>
    public int ThreadId { get; } = Environment.CurrentManagedThreadId; // each state is made by its thread

    /// <summary>
    /// Registers <paramref name="field"/> (a collection this transaction creates, or the index lock's mark) as held until
    /// the transaction ends, and lets the calling async flow know it holds it (see <see cref="IsLeftBehindByCallingFlow"/>).
    /// </summary>
    public void Hold(long field)
    {
        var held = CreatedCollections ??= [];
        held.Add(field);
        if (held.Count == 1)
        {
            s_flowHold.Value = new FlowHold(this, Generation);
        }
    }

    /// <summary>
    /// True when <paramref name="owner"/>, holding what the caller would wait for, is the running transaction of the
    /// caller's own async flow, whose thread has moved on (an await inside its scope): waiting for it would never end.
    /// </summary>
    /// <remarks>Called under the pool's creation lock with <paramref name="owner"/> still registered, so it has not ended.</remarks>
    public static bool IsLeftBehindByCallingFlow(TransactionState owner) =>
        s_flowHold.Value is { Departed: true } hold && ReferenceEquals(hold.State, owner) && hold.Generation == owner.Generation &&
        !ReferenceEquals(OfThread, owner);
}
