// ITransactionalPool -- what the transaction layer needs of a pool (the pool implements it; nothing here calls up).
using Pmem.Heap;
using Pmem.Log;
using Pmem.Memory;

namespace Pmem.Transactions;

/// <summary>
/// A pool as transactions and batches see it: its memory, heap and commit pipeline, its identity for the per-thread
/// open-transaction count, and the one thing only the pool knows, which blocks an object owns. The pool implements it,
/// so the transaction layer (scopes, the thread context, the commit recipe) depends on nothing above it.
/// </summary>
internal interface ITransactionalPool
{
    /// <summary>Tells this pool from every other in the process (never 0), without holding it.</summary>
    long InstanceId { get; }

    /// <summary>A weak reference to the pool, made once (a thread counted on it does not keep it alive).</summary>
    WeakReference<ITransactionalPool> WeakSelf { get; }

    /// <summary>Names the pool in exceptions.</summary>
    string Path { get; }

    PersistenceDomain Domain { get; }

    PoolHeap Heap { get; }

    CommitPipeline Commits { get; }

    /// <summary>A thread begins to count as having a transaction on this pool.</summary>
    void TransactionOpened();

    /// <summary>A counted thread no longer has a transaction on this pool.</summary>
    void TransactionClosed();

    /// <exception cref="ObjectDisposedException">The pool is closed.</exception>
    void ThrowIfDisposed();

    /// <summary>Whether the pool was disposed (a transaction left open on it can only be forgotten).</summary>
    bool IsDisposed { get; }

    /// <summary>
    /// Adds to <paramref name="owned"/> (made at the first one) the blocks the block at <paramref name="offset"/> (of
    /// <paramref name="typeIndex"/>) owns and that go with it when it is freed: its strings and collections, a
    /// collection's storage and strings. Reads as the calling thread's transaction sees the pool.
    /// </summary>
    void AddOwnedBlocks(long offset, uint typeIndex, ref List<long>? owned);

    /// <summary>
    /// Returns a block the calling thread's commit has just freed, for that thread to reuse (see
    /// <see cref="PoolHeap.Release"/> for <paramref name="freedThrough"/>).
    /// </summary>
    void KeepFreed(in BlockReservation block, long freedThrough);

    /// <summary>
    /// The outermost level of <paramref name="tx"/> ended (after its commit or rollback) while it had created
    /// collections (<see cref="TransactionState.CreatedCollections"/>): the pool forgets them and wakes waiting threads.
    /// </summary>
    void CollectionCreationsEnded(TransactionState tx);
}
