// PersistentPool (collection creation) -- a collection's header made at its first mutation, once, in the running transaction.
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    // Fields whose collection a still-open transaction is creating, and which transaction waits for which (to refuse a
    // wait that would close a cycle). Guarded by _creations itself; touched only by first mutations, never by reads.
    private readonly Dictionary<long, TransactionState> _creations = [];
    private readonly Dictionary<TransactionState, TransactionState> _creationWaits = [];

    /// <summary>Threads waiting for another transaction's collection creation (for tests).</summary>
    internal int CollectionCreationWaiters
    {
        get
        {
            lock (_creations)
            {
                return _creationWaits.Count;
            }
        }
    }

    /// <summary>
    /// The collection header in the field at <paramref name="fieldOffset"/>, as the running transaction sees it, made
    /// now (allocated, initialized and published in the field, all inside the running transaction) if there is none.
    /// </summary>
    /// <remarks>
    /// Reads never create a header: an empty field reads as an empty collection, so a getter writes nothing. The
    /// header of a first mutation is part of that mutation's transaction: a rollback leaves the field 0 and frees the
    /// header. Two threads mutating an uncreated collection at once must not each publish a header (the later commit
    /// would orphan the earlier one): the first registers the field until its transaction ends, and the second
    /// waits for that end, then finds the header (commit) or makes its own (rollback).
    /// </remarks>
    /// <exception cref="InvalidOperationException">
    /// No transaction runs; or waiting would deadlock (the other transaction waits, directly or not, for one this
    /// thread's transaction is creating): the caller's transaction then rolls back, which lets the other go on.
    /// </exception>
    internal long CreateCollection(long fieldOffset, uint typeIndex, long headerSize, Action<long> initialize)
    {
        var tx = CurrentTransactionOrThrow();
        lock (_creations)
        {
            while (true)
            {
                var existing = ReadValue<long>(fieldOffset); // as this transaction sees it: its own creation included
                if (existing != 0)
                {
                    return existing;
                }

                if (!_creations.TryGetValue(fieldOffset, out var owner) || ReferenceEquals(owner, tx))
                {
                    break;
                }

                WaitForCreations(tx, owner, $"a collection (field at offset {fieldOffset})");
            }

            _creations[fieldOffset] = tx;
            tx.Hold(fieldOffset);
        }

        var created = AllocateInTransaction(headerSize, typeIndex);
        initialize(created);
        WriteInTransaction(tx, fieldOffset, created);
        return created;
    }

    /// <summary>
    /// Waits (inside <c>lock (_creations)</c>) until a transaction ends, <paramref name="owner"/> being the one
    /// <paramref name="tx"/> waits for (null: none to blame, such as index readers), refusing a wait that would close a cycle.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The wait would deadlock (a cycle, or <paramref name="owner"/> is the caller's own transaction, left on another
    /// thread by an await): the caller's transaction then rolls back.
    /// </exception>
    private void WaitForCreations(TransactionState? tx, TransactionState? owner, string what)
    {
        if (owner is not null && TransactionState.IsLeftBehindByCallingFlow(owner))
        {
            tx?.RollBack();
            throw new InvalidOperationException(
                $"{Path}: this code would wait for {what}, held by the transaction it began itself on thread {owner.ThreadId} " +
                $"before an await moved it to thread {Environment.CurrentManagedThreadId}: the wait would never end. That " +
                "transaction cannot commit; do not await inside a transaction.");
        }

        if (tx is null || owner is null)
        {
            WaitForAnEnd();
            return;
        }

        for (var waiter = owner; waiter is not null; waiter = _creationWaits.GetValueOrDefault(waiter))
        {
            if (ReferenceEquals(waiter, tx))
            {
                tx.RollBack(); // even when nothing of this call was written: the other transaction waits for what this one holds
                throw new InvalidOperationException($"{Path}: two transactions each wait for what the other holds ({what}); this one rolls back.");
            }
        }

        _creationWaits[tx] = owner;
        try
        {
            WaitForAnEnd();
        }
        finally
        {
            _creationWaits.Remove(tx);
        }
    }

    /// <summary>
    /// Waits (inside <c>lock (_creations)</c>) for a creating (or index-changing) transaction to end
    /// (<see cref="ITransactionalPool.CollectionCreationsEnded"/>), a lookup to leave or the pool to close, or for
    /// <see cref="EndedThreadLookInterval"/>, then looks for transactions whose threads ended without ending them,
    /// which nothing else would ever end. The caller looks at what it waits for again: this may return with nothing changed.
    /// </summary>
    /// <remarks>
    /// It returns after a time-out too. A timed-out wait takes the monitor back after whoever holds it: an ending
    /// transaction or the last lookup leaving, whose pulse then reaches no waiter. Waiting again without looking
    /// lost that change for good (two threads New-ing indexed objects each waited forever: one for the lookup that
    /// had left, the other for the first's index lock).
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The pool is disposed (its Dispose wakes the waiters).</exception>
    private void WaitForAnEnd()
    {
        ThrowIfDisposed();
        if (!Monitor.Wait(_creations, EndedThreadLookInterval))
        {
            ForgetTransactionsOfEndedThreads();
        }

        ThrowIfDisposed();
    }

    private static readonly TimeSpan EndedThreadLookInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Lets go of the collections being created, and the index lock, held by transactions whose threads have ended with
    /// them open (a scope never disposed): such a transaction wrote nothing to the pool and can never commit.
    /// </summary>
    private void ForgetTransactionsOfEndedThreads()
    {
        var forgot = false;
        foreach (var field in _creations.Where(creation => creation.Value.ThreadEnded).Select(creation => creation.Key).ToList())
        {
            forgot |= _creations.Remove(field);
        }

        if (_indexLockOwner is { ThreadEnded: true })
        {
            _indexLockOwner = null;
            forgot = true;
        }

        if (forgot)
        {
            Monitor.PulseAll(_creations);
        }
    }

    /// <summary>
    /// True when the calling thread's running transaction allocated the block at <paramref name="offset"/>: a header
    /// it created, which a rollback frees, so a handle may keep it only while that transaction runs.
    /// </summary>
    internal bool IsOwnAllocation(long offset, out object? transaction, out long generation)
    {
        if (CurrentTransaction() is { } tx && tx.TryFindAllocation(offset, out _))
        {
            (transaction, generation) = (tx, tx.Generation);
            return true;
        }

        (transaction, generation) = (null, 0);
        return false;
    }

    /// <summary>True while the transaction that <see cref="IsOwnAllocation"/> named is still the thread's running one (not rolled back).</summary>
    internal bool IsRunningTransaction(object transaction, long generation) =>
        CurrentTransaction() is { RolledBack: false } tx && ReferenceEquals(tx, transaction) && tx.Generation == generation;

    void ITransactionalPool.CollectionCreationsEnded(TransactionState tx)
    {
        lock (_creations)
        {
            if (ReferenceEquals(_indexLockOwner, tx))
            {
                _indexLockOwner = null; // the index lock rides on the same list (IndexLockMark)
            }

            foreach (var field in tx.CreatedCollections!)
            {
                if (_creations.TryGetValue(field, out var owner) && ReferenceEquals(owner, tx))
                {
                    _creations.Remove(field);
                }
            }

            Monitor.PulseAll(_creations);
        }
    }
}
