// TransactionState -- the one per-thread context: the running transaction, the running batch, commit bookkeeping.
using System.Runtime.CompilerServices;
using Pmem.Log;

namespace Pmem.Transactions;

/// <summary>
/// The one per-thread context: the running transaction of the thread (its <see cref="Writes"/> kept in ordinary memory,
/// which reads see, the blocks it allocated and the blocks it will free), the thread's batch, and its commit state
/// (<see cref="Commits"/>). Nothing reaches the pool's live data before commit, so rollback is just forgetting; commit
/// turns everything into one redo log (<see cref="TransactionCommit"/>, and <c>docs/transactions.md</c>).
/// </summary>
internal sealed partial class TransactionState
{
    // One state per thread, made once and reused: Depth 0 means no transaction is running. A single thread-static
    // keeps begin, end and every property access in a transaction to one thread-local lookup each.
    [ThreadStatic]
    private static TransactionState? t_state;

    /// <summary>The transaction's writes (by reference: the set lives inline in this object).</summary>
    public WriteSet Writes = new();

    private readonly Thread _thread = Thread.CurrentThread; // each state is made by its thread (MakeForThread)

    private TransactionState()
    {
    }

    /// <summary>True once the thread this state belongs to has ended: a transaction it left open will never end.</summary>
    public bool ThreadEnded => !_thread.IsAlive;

    /// <summary>The calling thread's state, running a transaction or not (null before its first transaction or batch).</summary>
    public static TransactionState? OfThread
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_state;
    }

    /// <summary>The calling thread's state, made on first use.</summary>
    public static TransactionState ForThread
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_state ?? MakeForThread();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static TransactionState MakeForThread() => t_state = new TransactionState();

    /// <summary>
    /// The <see cref="ITransactionalPool.InstanceId"/> of the pool of the thread's running batch (0 when none), its nesting
    /// depth, and a generation that tells a scope of an ended batch from one of the running batch. Kept here, not in a
    /// thread-static of its own, so that a write learns whether it is in a transaction or in a batch from one
    /// thread-static read (see <see cref="Batch"/>). An id, not a reference: beginning a batch then stores no
    /// reference, which would cost a GC write barrier.
    /// </summary>
    public long BatchPoolId;
    public int BatchDepth;
    public long BatchGeneration;

    /// <summary>
    /// Set when the thread's batch was disposed on another thread (an <c>await</c> moved the rest of its scope there):
    /// the thread ends it (one drain) the next time it writes in it or begins one (see <see cref="Batch"/>).
    /// </summary>
    public bool BatchAbandoned;

    /// <summary>The thread's commit bookkeeping (see <see cref="CommitPipeline"/>); null until it first commits or retires.</summary>
    public ThreadCommits? Commits;

    /// <summary>The thread's commit bookkeeping, made on first use (the log layer is handed it: it reads no thread-static).</summary>
    public ThreadCommits CommitsForThread => Commits ??= new ThreadCommits();

    /// <summary>The calling thread's running transaction on any pool, if any (for the scopes' own checks).</summary>
    public static TransactionState? Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_state is { Depth: > 0 } state ? state : null;
    }

    /// <summary>The pool of the running transaction (null between transactions).</summary>
    public ITransactionalPool Pool { get; private set; } = null!;

    /// <summary>True when this thread runs a transaction on <paramref name="pool"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool RunsOn(ITransactionalPool pool) => Depth > 0 && ReferenceEquals(Pool, pool);

    /// <summary>
    /// The pool whose open-transaction count includes this thread (its <see cref="ITransactionalPool.InstanceId"/>; 0 for
    /// none). It stays counted between transactions, so back to back transactions on one pool cost no locked
    /// instruction to begin and end; the count is given back when the thread begins one on another pool, when it
    /// reads the pool outside a transaction, or when it disposes the pool. A count too high only makes the pool's
    /// readers look at their thread-static (see <see cref="OnPool"/>). The pool itself is held weakly, so an
    /// idle thread keeps no pool alive.
    /// </summary>
    private long _countedPoolId;
    private WeakReference<ITransactionalPool>? _countedPool;

    public int Depth { get; private set; }

    /// <summary>
    /// Counts the thread's outermost transactions: a value cached for "the running transaction" (a collection header it
    /// made) is good only while both this state and this number are unchanged, since the state object is reused.
    /// </summary>
    public long Generation { get; private set; }

    /// <summary>
    /// The fields whose collection this transaction creates (registered with the pool so that another thread's first
    /// mutation waits for this transaction's end instead of creating a second header); null when none.
    /// </summary>
    public List<long>? CreatedCollections;

    /// <summary>Registers <paramref name="field"/> (a collection this transaction creates, or the index lock's mark) as held until the transaction ends.</summary>
    public void Hold(long field)
    {
        (CreatedCollections ??= []).Add(field);
        MarkFlowForHolds();
    }

    public bool RolledBack { get; private set; }

    private List<IMadeInTransaction>? _made; // handles New returned in this transaction: a rollback disarms them

    /// <summary>Notes a handle to an object this transaction made, so that a rollback makes it refuse every later use.</summary>
    public void NoteMade(IMadeInTransaction handle) => (_made ??= []).Add(handle);

    private void DisarmMade()
    {
        if (_made is { Count: > 0 } made)
        {
            foreach (var handle in made)
            {
                handle.NoteRolledBack();
            }
        }

        ForgetMade();
    }

    /// <summary>Drops the noted handles; a list a bulk transaction grew large is not kept for the thread's next one.</summary>
    private void ForgetMade()
    {
        if (_made is { } made)
        {
            if (made.Capacity > 4096)
            {
                _made = null;
            }
            else
            {
                made.Clear();
            }
        }
    }

    public bool HasWrites => Writes.HasWrites;

    /// <summary>
    /// The thread's redo builder, emptied: every commit the thread makes (a transaction's, or a single change's outside
    /// one) is built and committed at once, so one builder per thread serves them all.
    /// </summary>
    public RedoBuilder RentRedo()
    {
        var redo = _redo ??= new RedoBuilder(CommitsForThread);
        redo.Clear();
        return redo;
    }

    private RedoBuilder? _redo;

    /// <summary>The builder of the thread's last commit, holding its entries until the next is rented (for tests).</summary>
    internal RedoBuilder? LastRedo => _redo;

    /// <summary>Begins a transaction on <paramref name="pool"/> for the calling thread, or a nested level of its running one.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="withinOneCall">The library begins it for one call of its own, which ends it before returning (see <see cref="WithinOneCall"/>).</param>
    /// <exception cref="InvalidOperationException">The thread runs a transaction on another pool.</exception>
    public static TransactionState Begin(ITransactionalPool pool, bool withinOneCall = false)
    {
        var state = ForThread;
        if (state.Depth > 0 && state.IsLeftBehind)
        {
            state.DiscardAbandoned(); // given up on another thread, or left behind on this one by another async flow's await
        }

        if (state.Depth > 0 && !ReferenceEquals(state.Pool, pool) && state.Pool.IsDisposed)
        {
            state.ForgetDisposedPool();
        }

        if (state.Depth > 0)
        {
            if (!ReferenceEquals(state.Pool, pool))
            {
                throw new InvalidOperationException("This thread already runs a transaction on another pool; a thread runs one transaction at a time.");
            }

            state.Depth++;
            state.BeginScope();
            return state;
        }

        state.Pool = pool;
        state.Depth = 1;
        state.BeginScope();
        state.Generation++;
        state.RolledBack = false;
        state.MarkFlow(withinOneCall);
        if (state._countedPoolId != pool.InstanceId)
        {
            state.CountOn(pool);
        }

        return state;
    }

    /// <summary>
    /// The calling thread's transaction on <paramref name="pool"/>, if any: the one accessor for it (the pool calls it
    /// through its open-transaction count, <c>PersistentPool.CurrentTransaction</c>). A thread found idle but still
    /// counted on the pool gives the count back, so that reads outside transactions go back to skipping the
    /// thread-static.
    /// </summary>
    public static TransactionState? OnPool(ITransactionalPool pool)
    {
        var state = t_state;
        if (state is null)
        {
            return null;
        }

        if (state.Depth > 0)
        {
            if (!state.IsLeftBehind)
            {
                return ReferenceEquals(state.Pool, pool) ? state : null;
            }

            state.DiscardAbandoned(); // (see Begin)
        }

        state.StopCounting(pool);
        return null;
    }

    /// <summary>Gives back the calling thread's count on <paramref name="pool"/>, if it holds one and is idle.</summary>
    public static void StopCountingOnThisThread(ITransactionalPool pool)
    {
        if (t_state is { Depth: 0 } state)
        {
            state.StopCounting(pool);
        }
    }

    private void StopCounting(ITransactionalPool pool)
    {
        if (_countedPoolId == pool.InstanceId)
        {
            (_countedPoolId, _countedPool) = (0, null);
            pool.TransactionClosed();
        }
    }

    private void CountOn(ITransactionalPool pool)
    {
        if (_countedPool is { } previous && previous.TryGetTarget(out var counted))
        {
            counted.TransactionClosed(); // (a collected pool has no readers left to mislead)
        }

        pool.TransactionOpened();
        (_countedPoolId, _countedPool) = (pool.InstanceId, pool.WeakSelf);
    }

    /// <summary>Numbers the scope just begun at <see cref="Depth"/>: how a scope's Dispose tells itself from a later one at its depth.</summary>
    private void BeginScope()
    {
        if (Depth >= _scopes.Length)
        {
            Array.Resize(ref _scopes, _scopes.Length * 2);
        }

        _scopes[Depth] = ++_scopeSerial;
    }

    private long[] _scopes = new long[8];
    private long _scopeSerial;

    /// <summary>The number of the scope open at <paramref name="level"/> (see <see cref="BeginScope"/>); 0 past the innermost.</summary>
    public long ScopeAt(int level) => level <= Depth ? _scopes[level] : 0;

    /// <summary>
    /// Forgets a transaction its thread never ended on a pool since disposed (a scope without <c>using</c> that an
    /// exception skipped): nothing of it can commit, and its pool's memory is gone, so nothing is released into it.
    /// Without this, the thread could begin no transaction on any pool again.
    /// </summary>
    private void ForgetDisposedPool()
    {
        RolledBack = true;
        Depth = 0;
        Writes.Clear();
        ClearBlocks();
        CreatedCollections?.Clear();
        ForgetMade();
        Pool = null!;
    }

    /// <summary>Ends the innermost level; the outermost level's end clears the thread's transaction.</summary>
    public void EndLevel()
    {
        Depth--;
        if (Depth == 0)
        {
            Reset(); // the pool stays counted: see _countedPoolId
        }
    }

    /// <summary>Forgets every change; outer levels can then only roll back too.</summary>
    public void RollBack()
    {
        if (!RolledBack)
        {
            RolledBack = true;
            DisarmMade();
            try
            {
                TransactionCommit.ReleaseReservations(this);
            }
            catch (ObjectDisposedException) when (Pool.IsDisposed)
            {
                ClearBlocks(); // the pool closed under the transaction: its heap is gone, and a reopen finds the blocks free
            }

            Writes.Clear(); // reads until the scopes close see the pool as it is, not writes into blocks just released
            ReleaseCreatedCollections(); // the headers are gone: threads waiting for them need not wait for the scopes to close
        }
    }

    private void ReleaseCreatedCollections()
    {
        if (CreatedCollections is { Count: > 0 })
        {
            Pool.CollectionCreationsEnded(this);
            CreatedCollections.Clear();
        }
    }

    private void Reset()
    {
        ForgetMade(); // committed (a rollback disarmed them already)
        ReleaseCreatedCollections(); // committed (or rolled back): either way, waiting threads may look again
        Pool = null!;
        Writes.Clear();
        ClearBlocks();
    }
}
