// PersistentPool (index lock) -- index trees change one transaction at a time, held until it ends; lookups wait for it.
using System.Numerics;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    private TransactionState? _indexLockOwner; // set under _creations (its waits join the creation waits' cycle check)
    private readonly IndexReaderCounts _indexReaders = new();

    /// <summary>
    /// Takes the index lock for the running transaction until it ends: index trees change one transaction at a time,
    /// and lookups wait for the change to commit. A wait that would close a cycle with collection creations throws.
    /// </summary>
    /// <remarks>
    /// The owner is set first, so that lookups arriving from then on step aside, and then the lookups under way are
    /// waited for: they wait for nothing themselves, so they end.
    /// </remarks>
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
            // A build holding the directory says it waits, so that a transaction holding this lock and waiting for the
            // directory gives up (see EnterIndexSync) rather than both waiting for ever.
            var awaits = _indexLockOwner is not null && Monitor.IsEntered(_indexSync);
            _indexSyncAwaitsIndexLock |= awaits;
            try
            {
                while (_indexLockOwner is not null)
                {
                    WaitForCreations(tx, _indexLockOwner, "the index lock");
                }
            }
            finally
            {
                if (awaits)
                {
                    _indexSyncAwaitsIndexLock = false;
                }
            }

            Interlocked.Exchange(ref _indexLockOwner, tx); // a full fence: see ReadIndexes
            tx.Hold(IndexLockMark); // so that the transaction's end releases it
            while (_indexReaders.AnyInside())
            {
                WaitForCreations(tx, null, "index lookups"); // the last lookup to leave wakes this
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="read"/> on <paramref name="state"/> while no other transaction changes an index (the calling
    /// thread's own changes are seen). The state is passed in so that callers' lambdas capture nothing (a lookup
    /// allocates no closure). <paramref name="read"/> must not wait for anything, nor read indexes again.
    /// </summary>
    /// <remarks>
    /// A lookup counts itself in its thread's slot of <see cref="IndexReaderCounts"/> and then looks for an owner; the
    /// lock's owner is set before it counts the lookups (both through full fences), so either the lookup sees the owner
    /// and steps aside, or the owner sees the lookup and waits for it. Lookups on different threads share no lock and
    /// (up to the slot count) no cache line.
    /// </remarks>
    internal TResult ReadIndexes<TState, TResult>(in TState state, Func<TState, TResult> read)
    {
        var tx = CurrentTransaction();
        if (tx is not null && HoldsIndexLock(tx))
        {
            return read(state);
        }

        ref var inside = ref _indexReaders.OfCurrentThread();
        Interlocked.Increment(ref inside);
        if (Volatile.Read(ref _indexLockOwner) is not null)
        {
            LeaveIndexRead(ref inside);
            lock (_creations)
            {
                while (_indexLockOwner is not null)
                {
                    WaitForCreations(tx, _indexLockOwner, "the index lock");
                }

                Interlocked.Increment(ref inside); // under the lock no owner can be set meanwhile
            }
        }

        try
        {
            return read(state);
        }
        finally
        {
            LeaveIndexRead(ref inside);
        }
    }

    /// <summary>Uncounts a lookup; the last one out wakes an owner waiting for the lookups under way.</summary>
    private void LeaveIndexRead(ref long inside)
    {
        if (Interlocked.Decrement(ref inside) == 0 && Volatile.Read(ref _indexLockOwner) is not null)
        {
            lock (_creations)
            {
                Monitor.PulseAll(_creations);
            }
        }
    }

    /// <summary>The index lock's place in a transaction's created collections: ending the transaction releases it.</summary>
    private const long IndexLockMark = -1;

    /// <summary>Whether <paramref name="tx"/> holds the index lock: only its own thread sets or clears that, so no lock is needed to ask.</summary>
    private bool HoldsIndexLock(TransactionState tx) => ReferenceEquals(Volatile.Read(ref _indexLockOwner), tx);

    /// <summary>
    /// Counts of the index lookups under way, one per slot on a cache-line pair of its own, a thread's slot chosen by its
    /// id: threads looking up at once then write different lines (a single count, or a monitor, made two threads'
    /// lookups slower together than one thread's alone: bench/RESULTS.md, session 16).
    /// </summary>
    private sealed class IndexReaderCounts
    {
        private const int Stride = 16; // longs: 128 bytes, so that the adjacent-line prefetcher does not pair two slots

        private readonly long[] _counts;
        private readonly int _mask;

        public IndexReaderCounts()
        {
            var slots = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, 2 * Environment.ProcessorCount)));
            _counts = new long[(slots + 1) * Stride]; // slot i at (i + 1) * Stride: none shares the array header's line
            _mask = slots - 1;
        }

        public ref long OfCurrentThread() => ref _counts[((Environment.CurrentManagedThreadId & _mask) + 1) * Stride];

        /// <summary>Whether a lookup is counted in any slot.</summary>
        public bool AnyInside()
        {
            for (var slot = 1; slot <= _mask + 1; slot++)
            {
                if (Volatile.Read(ref _counts[slot * Stride]) != 0)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
