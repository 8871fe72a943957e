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

    long IHeapContext.RetiredDurable => _commits.RetiredDurable;

    bool IHeapContext.Grow(long bytes) => GrowBy(bytes);

    KnownTypeIndexes IHeapContext.KnownTypes => _types.Known;

    long ITransactionalPool.InstanceId => InstanceId;

    PersistenceDomain ITransactionalPool.Domain => _domain;

    PoolHeap ITransactionalPool.Heap => _heap;

    CommitPipeline ITransactionalPool.Commits => _commits;

    void ITransactionalPool.ThrowIfDisposed() => ThrowIfDisposed();

    bool ITransactionalPool.IsDisposed => Volatile.Read(ref _disposed);

    void ITransactionalPool.AddOwnedBlocks(long offset, uint typeIndex, ref List<long>? owned)
    {
        // Indexed, not enumerated through the interface: enumerating an empty array that way uses one enumerator
        // shared by the whole process, whose MoveNext stores to it, so every thread deleting an object without strings
        // or collections wrote the same cache line (bench/RESULTS.md, session 13).
        var fields = _types.Get(typeIndex)?.Fields;
        for (var i = 0; i < fields?.Count; i++)
        {
            var field = fields[i];
            if (field.Kind is Objects.PersistentFieldKind.String or Objects.PersistentFieldKind.Collection)
            {
                var child = ReadValue<long>(offset + field.Offset);
                if (child != 0)
                {
                    (owned ??= []).Add(child);
                }
            }
        }

        if (!HasInternalChildren(typeIndex))
        {
            return; // an object: what it owns is in its fields
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
