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

    /// <summary>
    /// Items per transaction for work the pool commits in batches (compaction, index builds, repairs, migrations):
    /// <paramref name="per64KiB"/> for each 64 KiB of this pool's log slots, at least one. A batch's log then stays in
    /// its slot: a larger one needs a block of the heap, which a full or freshly compacted pool may not have, and slots
    /// are 16 KiB by default from format 9 on (64 KiB before).
    /// </summary>
    private int PerLogSlot(int per64KiB) => Math.Max(1, (int)((long)per64KiB * _lanes.SlotSize / (64 * 1024)));

    /// <summary>
    /// Whether the calling thread's transaction has logged about half a log slot: work that commits in batches whose
    /// logs vary (an index build's tree nodes) ends its batch there, for the reason of <see cref="PerLogSlot"/>.
    /// </summary>
    private bool LogNearsSlot()
    {
        var tx = CurrentTransactionOrThrow();
        return tx.Writes.LoggedBytes + 64L * (tx.Allocations.Count + tx.Frees.Count) >= _lanes.SlotSize / 2;
    }

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
    /// <exception cref="TransactionAbortedException">The transaction was rolled back (a nested scope ended without committing, or an operation in it failed).</exception>
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

    /// <summary>A transaction the library begins and ends within one call of its own (no await can come inside): it leaves no flow mark.</summary>
    internal Transaction BeginTransactionWithinOneCall()
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        return new Transaction(TransactionState.Begin(this, withinOneCall: true));
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
            throw new TransactionAbortedException($"{Path}: the transaction was rolled back (a nested scope ended without committing, or an operation in it failed, such as a unique index's refusal); no further changes can join it.");
        }
    }
}
