// TransactionState (abandonment) -- a thread's transaction given up by a Dispose on another thread, after an await.
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

    /// <summary>
    /// On the transaction's own thread: forgets a transaction given up on another thread, or left on this one by
    /// another async flow's await (nothing of it was written). The blocks it allocated are not released: the code that
    /// made them may still write its new objects (after the await, elsewhere), and a block reused meanwhile would take
    /// those writes into another's committed data. They stay reserved until the pool closes, and are free at its next open.
    /// </summary>
    public void DiscardAbandoned()
    {
        lock (_abandonLock)
        {
            if (!RolledBack)
            {
                RolledBack = true;
                DisarmMade(); // and the handles New returned refuse every use from now on
                ClearBlocks(); // kept reserved: see above
                Writes.Clear();
                ReleaseCreatedCollections();
            }

            Depth = 0;
            Reset();
            _abandonedTransaction = 0;
        }
    }
}
