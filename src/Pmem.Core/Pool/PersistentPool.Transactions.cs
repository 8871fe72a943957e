// PersistentPool (transactions) -- beginning transactions and batches, and the thread's transaction on this pool.
using System.Runtime.CompilerServices;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    // Threads with a transaction open on this pool, or that had one and have not read the pool since (they stay
    // counted, so back-to-back transactions need no locked instruction: TransactionState._countedPoolId). Zero proves
    // that the calling thread has none, so lookups skip the thread-static read (a call into the TLS resolver on
    // Linux). A count that is too high only costs that read; it is raised before a transaction can write and lowered
    // only for a thread with none open, so it is never too low for the own thread.
    private int _openTransactions;

    /// <summary>
    /// True when the calling thread runs a transaction on this pool that has written something: reads must then
    /// overlay its write set. When false, the live mapping is exactly what this thread sees, so a collection may read
    /// it directly (one check per operation instead of one per field read).
    /// </summary>
    internal bool HasUncommittedWrites
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => CurrentTransaction() is { HasWrites: true };
    }

    private static long s_lastInstanceId;
    private WeakReference<ITransactionalPool>? _weakSelf;

    /// <summary>Tells this pool object from every other in the process (never 0), without holding it.</summary>
    internal long InstanceId { get; } = Interlocked.Increment(ref s_lastInstanceId);

    /// <summary>A weak reference to this pool, made once.</summary>
    WeakReference<ITransactionalPool> ITransactionalPool.WeakSelf => _weakSelf ??= new WeakReference<ITransactionalPool>(this);

    /// <summary>Threads counted as having a transaction on this pool (for tests).</summary>
    internal int OpenTransactionCount => Volatile.Read(ref _openTransactions);

    /// <summary>For tests: whether the next write outside the log must first retire applied logs (see CommitPipeline).</summary>
    internal bool MustRetireBeforeUnloggedWrite => _commits.MustRetireBeforeUnloggedWrite;

    void ITransactionalPool.TransactionOpened() => Interlocked.Increment(ref _openTransactions);

    void ITransactionalPool.TransactionClosed() => Interlocked.Decrement(ref _openTransactions);

    /// <summary>
    /// The calling thread's running transaction on this pool, or null: the one accessor for it. It reads no
    /// thread-static while no thread is counted on this pool (the count is never too low for the calling thread), and a
    /// thread found idle but still counted gives its count back (<see cref="TransactionState.OnPool"/>), so later reads
    /// outside transactions skip the thread-static again.
    /// </summary>
    /// <remarks>
    /// The one other way in is <see cref="WriteValue{T}"/>'s: it reads the thread's context once for both the
    /// transaction and the batch and asks <see cref="TransactionState.RunsOn"/>, with the same answer for the
    /// transaction (but no count given back: a write outside a transaction is no read).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TransactionState? CurrentTransaction() => Volatile.Read(ref _openTransactions) == 0 ? null : TransactionState.OnPool(this);

    /// <summary>The calling thread's running transaction on this pool, which must exist and not be rolled back.</summary>
    /// <exception cref="InvalidOperationException">No transaction runs on this pool on this thread.</exception>
    /// <exception cref="TransactionAbortedException">The transaction was rolled back by a nested scope.</exception>
    private TransactionState CurrentTransactionOrThrow()
    {
        var tx = CurrentTransaction() ?? throw new InvalidOperationException($"{Path}: this operation must run inside a transaction.");
        ThrowIfRolledBack(tx);
        return tx;
    }

    /// <summary>Begins a transaction on this thread (or a nested scope of the running one).</summary>
    /// <exception cref="InvalidOperationException">This thread runs a transaction on another pool.</exception>
    /// <exception cref="PoolReadOnlyException">The pool was opened read-only.</exception>
    public Transaction BeginTransaction()
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        return new Transaction(TransactionState.Begin(this));
    }

    /// <summary>Begins a batch: each write is flushed as it is made and one drain at the end makes them durable.</summary>
    /// <exception cref="PoolReadOnlyException">The pool was opened read-only.</exception>
    public Batch Batch()
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        return Transactions.Batch.Begin(this);
    }

    private void ThrowIfRolledBack(TransactionState tx)
    {
        if (tx.RolledBack)
        {
            throw new TransactionAbortedException($"{Path}: the transaction was rolled back by a nested scope; no further changes can join it.");
        }
    }
}
