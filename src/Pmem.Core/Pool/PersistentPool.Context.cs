// PersistentPool (context) -- what the layers below get from the pool: the heap's context and the transactions' pool.
using Pmem.Heap;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Transactions;

namespace Pmem.Pool;

/// <remarks>
/// The heap (<see cref="IHeapContext"/>) and the transaction layer (<see cref="ITransactionalPool"/>) get what they need
/// of the pool through these two internal interfaces, implemented explicitly so that users never see them: nothing
/// below the pool names <see cref="PersistentPool"/>.
/// </remarks>
public sealed partial class PersistentPool : IHeapContext, ITransactionalPool
{
    void IHeapContext.RetireBeforeReuse() => _commits.RetireAll(TransactionState.OfThread?.Commits);

    void IHeapContext.RetireThrough(long sequence) => _commits.RetireThrough(sequence, TransactionState.OfThread?.Commits);

    bool IHeapContext.Grow(long bytes) => GrowBy(bytes);

    bool IHeapContext.IsKnownType(uint typeIndex) => _types.IsKnown(typeIndex);

    long ITransactionalPool.InstanceId => InstanceId;

    PersistenceDomain ITransactionalPool.Domain => _domain;

    PoolHeap ITransactionalPool.Heap => _heap;

    CommitPipeline ITransactionalPool.Commits => _commits;

    void ITransactionalPool.ThrowIfDisposed() => ThrowIfDisposed();

    void ITransactionalPool.AddOwnedBlocks(long offset, uint typeIndex, ref List<long>? owned)
    {
        foreach (var field in _types.Get(typeIndex)?.Fields ?? [])
        {
            if (field.Kind is Objects.PersistentFieldKind.String or Objects.PersistentFieldKind.Collection)
            {
                var child = ReadValue<long>(offset + field.Offset);
                if (child != 0)
                {
                    (owned ??= []).Add(child);
                }
            }
        }

        foreach (var (child, isOwned, _) in InternalChildren(offset, typeIndex))
        {
            if (isOwned)
            {
                (owned ??= []).Add(child);
            }
        }
    }
}
