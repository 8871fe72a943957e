// PersistentPool (index lock) -- index trees change one transaction at a time, held until it ends; lookups wait for it.
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    private TransactionState? _indexLockOwner; // guarded by _creations (its waits join the creation waits' cycle check)
    private int _indexReaders;
    private int _creationWaiters; // threads in WaitForCreations (guarded by _creations): a reader leaving wakes them only if any

    /// <summary>
    /// Takes the index lock for the running transaction until it ends: index trees change one transaction at a time,
    /// and lookups wait for the change to commit. A wait that would close a cycle with collection creations throws.
    /// </summary>
    /// <exception cref="InvalidOperationException">No transaction runs, or waiting would deadlock (this transaction then rolls back).</exception>
    internal void EnterIndexLock()
    {
        var tx = CurrentTransactionOrThrow();
        if (HoldsIndexLock(tx))
        {
            return;
        }

        lock (_creations)
        {
            while (_indexLockOwner is not null || _indexReaders > 0)
            {
                WaitForCreations(tx, _indexLockOwner, "the index lock");
            }

            _indexLockOwner = tx;
            (tx.CreatedCollections ??= []).Add(IndexLockMark); // so that the transaction's end releases it
        }
    }

    /// <summary>
    /// Runs <paramref name="read"/> on <paramref name="state"/> while no other transaction changes an index (the calling
    /// thread's own changes are seen). The state is passed in so that callers' lambdas capture nothing (a lookup
    /// allocates no closure).
    /// </summary>
    internal TResult ReadIndexes<TState, TResult>(in TState state, Func<TState, TResult> read)
    {
        var tx = CurrentTransaction();
        if (tx is not null && HoldsIndexLock(tx))
        {
            return read(state);
        }

        lock (_creations)
        {
            while (_indexLockOwner is not null)
            {
                WaitForCreations(tx, _indexLockOwner, "the index lock");
            }

            _indexReaders++;
        }

        try
        {
            return read(state);
        }
        finally
        {
            lock (_creations)
            {
                if (--_indexReaders == 0 && _creationWaiters > 0)
                {
                    Monitor.PulseAll(_creations); // a writer waits for the last reader (a native call each lookup would pay otherwise)
                }
            }
        }
    }

    /// <summary>The index lock's place in a transaction's created collections: ending the transaction releases it.</summary>
    private const long IndexLockMark = -1;

    /// <summary>Whether <paramref name="tx"/> holds the index lock: only its own thread sets or clears that, so no lock is needed to ask.</summary>
    private bool HoldsIndexLock(TransactionState tx) => ReferenceEquals(Volatile.Read(ref _indexLockOwner), tx);
}
