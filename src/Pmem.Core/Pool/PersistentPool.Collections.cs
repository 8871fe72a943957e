using System.Runtime.CompilerServices;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

/// <summary>The primitives persistent collections are built from: all transaction-aware, all offsets.</summary>
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
        get => OwnTransaction() is { HasWrites: true };
    }

    private static long s_lastInstanceId;
    private WeakReference<PersistentPool>? _weakSelf;

    /// <summary>Tells this pool object from every other in the process (never 0), without holding it.</summary>
    internal long InstanceId { get; } = Interlocked.Increment(ref s_lastInstanceId);

    /// <summary>A weak reference to this pool, made once.</summary>
    internal WeakReference<PersistentPool> WeakSelf => _weakSelf ??= new WeakReference<PersistentPool>(this);

    /// <summary>Threads counted as having a transaction on this pool (for tests).</summary>
    internal int OpenTransactionCount => Volatile.Read(ref _openTransactions);

    /// <summary>For tests: whether the next write outside the log must first retire applied logs (see CommitPipeline).</summary>
    internal bool MustRetireBeforeUnloggedWrite => _commits.MustRetireBeforeUnloggedWrite;

    internal void TransactionOpened() => Interlocked.Increment(ref _openTransactions);

    internal void TransactionClosed() => Interlocked.Decrement(ref _openTransactions);

    /// <summary>The calling thread's transaction on this pool, if any; reads no thread-static while none is open on it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TransactionState? OwnTransaction() => Volatile.Read(ref _openTransactions) == 0 ? null : CurrentTransactionOnThisPool();

    private TransactionState? CurrentTransactionOnThisPool() => TransactionState.OnPool(this);

    /// <summary>Reads bytes as the running transaction (if any) sees them.</summary>
    internal void ReadBytes(long offset, Span<byte> destination)
    {
        _domain.GetSpan(offset, destination.Length).CopyTo(destination);
        var tx = TransactionState.Current;
        if (tx is not null && tx.HasWrites && ReferenceEquals(tx.Pool, this))
        {
            tx.Overlay(offset, destination);
        }
    }

    /// <summary>Writes bytes inside the running transaction (in place when the transaction allocated the block).</summary>
    internal void WriteBytesInTransaction(long offset, ReadOnlySpan<byte> bytes)
    {
        var tx = RequireTransaction();
        if (tx.IsInOwnAllocation(offset, bytes.Length))
        {
            bytes.CopyTo(_domain.GetSpan(offset, bytes.Length));
            _domain.NotifyStore(offset, bytes.Length);
            _domain.Flush(offset, bytes.Length);
            return;
        }

        tx.Record(offset, bytes);
    }

    /// <summary>Allocates a zeroed internal block inside the running transaction.</summary>
    internal long AllocateInTransaction(long size, uint typeIndex)
    {
        var tx = RequireTransaction();
        var block = ReserveZeroed(size);
        tx.Allocations.Add(new AllocationRecord(block, typeIndex, (int)Math.Min(size, int.MaxValue)));
        return block.Offset;
    }

    /// <summary>Frees a block (and what it owns) when the running transaction commits.</summary>
    internal void FreeInTransaction(long offset) => FreeInTransaction(RequireTransaction(), offset);

    /// <summary>Runs <paramref name="body"/> as a transaction, or as part of the running one.</summary>
    internal void Atomically<TState>(TState state, Action<TState> body)
    {
        using var tx = BeginTransaction();
        body(state);
        tx.Commit();
    }

    /// <summary>The collection in the field at <paramref name="fieldOffset"/>, created on first use.</summary>
    internal long GetOrCreateCollection(long fieldOffset, uint typeIndex, long headerSize, Action<long> initialize)
    {
        var existing = ReadValue<long>(fieldOffset);
        if (existing != 0)
        {
            ResolveBlock(existing, typeIndex, typeIndex == TypeTable.ListTypeIndex ? "list" : "dictionary");
            return existing;
        }

        var created = 0L;
        Atomically(0, _ =>
        {
            created = ReadValue<long>(fieldOffset);
            if (created != 0)
            {
                return;
            }

            created = AllocateInTransaction(headerSize, typeIndex);
            initialize(created);
            WriteInTransaction(TransactionState.Current!, fieldOffset, created);
        });
        return created;
    }

    /// <summary>
    /// The size of the block at <paramref name="offset"/> if it is allocated (or allocated by this thread's running
    /// transaction) with type <paramref name="typeIndex"/>; -1 otherwise. For collections' checks of their storage.
    /// </summary>
    internal long AllocatedSizeOf(long offset, uint typeIndex)
    {
        var tx = TransactionState.Current;
        if (tx is not null && ReferenceEquals(tx.Pool, this) && tx.TryFindAllocation(offset, out var own))
        {
            return own.TypeIndex == typeIndex ? own.Block.Size : -1;
        }

        return _heap.TryGetAllocated(offset, out var block, out var stored) && stored == typeIndex ? block.Size : -1;
    }

    private TransactionState RequireTransaction()
    {
        var tx = TransactionState.Current;
        if (tx is null || !ReferenceEquals(tx.Pool, this))
        {
            throw new InvalidOperationException($"{Path}: this operation must run inside a transaction.");
        }

        ThrowIfRolledBack(tx);
        return tx;
    }

    /// <summary>
    /// The offsets an internal block owns or references, for frees (<paramref name="problems"/> null: a damaged
    /// collection header throws <see cref="PoolCorruptedException"/>) and checks (it is reported there).
    /// </summary>
    private IEnumerable<(long Offset, bool Owned)> InternalChildren(long offset, uint typeIndex, List<string>? problems = null) =>
        typeIndex is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex ? CollectionLayout.Children(this, offset, typeIndex, problems) : [];
}
