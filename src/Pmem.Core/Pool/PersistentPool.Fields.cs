// PersistentPool (fields) -- the surface generated code calls: read and write a field, a reference, durably.
using System.Runtime.CompilerServices;
using Pmem.Heap;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>Reads a value as this thread sees the pool (through its transaction's writes, if it runs one here).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal T ReadValue<T>(long offset) where T : unmanaged
    {
        // With no transaction open on this pool (the common case for reads) the thread-static is not even read.
        return Volatile.Read(ref _openTransactions) == 0 ? _domain.Read<T>(offset) : ReadThroughTransaction<T>(offset);
    }

    private T ReadThroughTransaction<T>(long offset) where T : unmanaged
    {
        var value = _domain.Read<T>(offset);
        return CurrentTransaction() is { HasWrites: true } tx ? tx.Writes.Read(offset, value) : value;
    }

    /// <summary>Writes a value durably and failure-atomically, or into the thread's transaction or batch on this pool.</summary>
    /// <remarks>
    /// The paths taken on every call end in the write itself, and the rare ones (a transaction, a wide value, logs to
    /// retire first) are calls in tail position: nothing needs the offset or value after a call, so a caller's loop
    /// keeps them in registers rather than spilling them (see <see cref="PersistenceDomain.WriteAndFlush"/>).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal unsafe void WriteValue<T>(long offset, T value) where T : unmanaged
    {
        var scopes = TransactionState.OfThread; // one thread-static read tells both the transaction and the batch
        if (scopes is { } tx && tx.RunsOn(this))
        {
            WriteInTransaction(tx, offset, value);
        }
        else if (sizeof(T) > 8 || (offset & 7) + sizeof(T) > 8)
        {
            WriteWide(offset, value);
        }
        else if (_commits.MustRetireBeforeUnloggedWrite)
        {
            WriteWordAfterRetiring(offset, value);
        }
        else
        {
            WriteWord(scopes, offset, value);
        }
    }

    /// <summary>
    /// A write within one aligned 8-byte word, outside a transaction: one store persists whole or not at all. In a
    /// batch it is flushed now and drained at the batch's end; otherwise it is durable on return.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteWord<T>(TransactionState? scopes, long offset, T value) where T : unmanaged
    {
        if (scopes is not null)
        {
            if (scopes.BatchPoolId == InstanceId)
            {
                if (!Volatile.Read(ref scopes.BatchAbandoned))
                {
                    _domain.WriteAndFlush(offset, value);
                    return;
                }

                Transactions.Batch.End(scopes, this); // then this write is durable on its own
            }

            if (scopes.Commits is { AwaitsDrain: true } commits)
            {
                WriteDurableAndRecordDrain(commits, offset, value);
                return;
            }
        }

        _domain.WriteAndPersist(offset, value);
        _domain.ThrowIfDisposedAfterAccess(); // a write racing Dispose reports it unless it landed in the file
    }

    /// <summary>A durable word write whose drain also makes the thread's earlier applies or stored R durable.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteDurableAndRecordDrain<T>(ThreadCommits commits, long offset, T value) where T : unmanaged
    {
        _domain.WriteAndPersist(offset, value);
        _commits.AfterDrain(commits);
        _domain.ThrowIfDisposedAfterAccess();
    }

    /// <summary>
    /// The write bypasses the log, so applied logs are made durable and retired first (see CommitPipeline); only the
    /// first such write after commits comes here.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteWordAfterRetiring<T>(long offset, T value) where T : unmanaged
    {
        var scopes = TransactionState.ForThread; // retiring needs the thread's commit state (made on first use)
        _commits.RetireBeforeUnloggedWrite(scopes.CommitsForThread);
        WriteWord(scopes, offset, value);
    }

    private void WriteInTransaction<T>(TransactionState tx, long offset, T value) where T : unmanaged
    {
        if (tx.IsLeftBehind)
        {
            tx.DiscardAbandoned(); // given up on another thread, or left here by another flow's await: this write is outside any transaction
            WriteValue(offset, value);
            return;
        }

        ThrowIfRolledBack(tx);
        ThrowIfDisposed(); // a transaction that outlived its pool: the write could never commit
        if (tx.IsInOwnAllocation(offset, Unsafe.SizeOf<T>()))
        {
            // Nobody can see a block this transaction allocated: write it in place; commit's first drain covers it.
            _domain.Write(offset, value);
            _domain.Flush(offset, Unsafe.SizeOf<T>());
            tx.CountInPlaceWrite();
            return;
        }

        tx.Writes.Record(offset, value);
    }

    /// <summary>A value wider than one word: a one-entry redo log makes it failure-atomic.</summary>
    private void WriteWide<T>(long offset, T value) where T : unmanaged
    {
        var redo = RentRedo();
        redo.Set(offset, value);
        CommitRedo(redo);
    }

    /// <summary>Reads a reference field: null for 0, else the object, checked to be an allocated <typeparamref name="T"/>.</summary>
    internal T? ReadReference<T>(long fieldOffset) where T : PersistentObject, IPersistentObject<T>
    {
        var reference = ReadValue<long>(fieldOffset);
        return reference == 0 ? null : ReadReferenceAt<T>(reference);
    }

    /// <summary>
    /// The object a reference word (not 0) designates, checked to be an allocated <typeparamref name="T"/> in the
    /// generation the reference was written with.
    /// </summary>
    /// <exception cref="PersistentDanglingReferenceException">The object was deleted (its block is free or was allocated again).</exception>
    /// <exception cref="PersistentTypeMismatchException">The block holds another type.</exception>
    internal T ReadReferenceAt<T>(long reference) where T : PersistentObject, IPersistentObject<T>
    {
        var target = BlockGeneration.TargetOf(reference);
        var generation = ResolveReference(target, BlockGeneration.OfReference(reference), StoredTypeIndexOf<T>(), T.PersistentType.Name);
        return T.Attach(new ObjectHandle(this, target, generation));
    }

    /// <summary>The word a reference to <paramref name="value"/> stores (its offset and generation), checked to be in this pool.</summary>
    internal long ReferenceOffset(PersistentObject? value)
    {
        if (value is not null && !ReferenceEquals(value.Pool, this))
        {
            throw new ArgumentException($"{Path}: a reference must point to an object in the same pool; {ForeignObject(value.Pool, "")}.", nameof(value));
        }

        value?.ThrowIfKeptPastDelete(); // a wrapper a Delete was given: storing it would make a dangling reference
        return value?.Reference ?? 0L;
    }

    /// <summary>The word a reference to the object at <paramref name="offset"/> (0: none) stores, with the object's generation.</summary>
    internal long ReferenceTo(long offset) => offset == 0 ? 0 : BlockGeneration.Reference(offset, GenerationAt(offset));

    /// <summary>The generation of the block at <paramref name="offset"/> (allocated, or allocated by this thread's transaction); 0 when there is none.</summary>
    internal ushort GenerationAt(long offset) => TryGetBlockHeader(offset, out var header) ? BlockGeneration.Of(header) : (ushort)0;

    /// <summary>
    /// Checks that a reference to <paramref name="target"/> written in <paramref name="generation"/> leads to a live
    /// block of <paramref name="typeIndex"/>; returns the block's generation.
    /// </summary>
    private ushort ResolveReference(long target, ushort generation, uint typeIndex, string expected)
    {
        if (!TryGetBlockHeader(target, out var header))
        {
            ThrowIfDisposed(); // a read racing with Dispose may see the closed pool's bytes: that is the error to report
            throw new PersistentDanglingReferenceException($"{Path}: a reference to a {expected} points to offset {target}, where no object is allocated (it was deleted, or the reference is damaged).", target);
        }

        var (stored, current) = (BlockGeneration.TypeOf(header), BlockGeneration.Of(header));
        if (!BlockGeneration.Matches(generation, current))
        {
            ThrowIfDisposed();
            throw new PersistentDanglingReferenceException(
                $"{Path}: a reference to a {expected} points to offset {target}, whose object was deleted; the block now holds a newer {_types.NameOf(stored)} (generation {current}, the reference was written for {generation}).", target);
        }

        CheckType(target, stored, typeIndex, expected);
        return current;
    }

    /// <summary>Writes a reference field (a word write: see <see cref="WriteValue{T}"/>).</summary>
    internal void WriteReference<T>(long fieldOffset, T? value) where T : PersistentObject, IPersistentObject<T>
    {
        WriteValue(fieldOffset, ReferenceOffset(value));
    }

    /// <summary>
    /// Checks that <paramref name="target"/> is an allocated block of <paramref name="typeIndex"/> (or one this thread's
    /// transaction allocated); returns its capacity. <paramref name="expected"/> names the type in the exception
    /// (default: the type table's name for the index).
    /// </summary>
    private long ResolveBlock(long target, uint typeIndex, string? expected = null)
    {
        expected ??= _types.NameOf(typeIndex);
        if (!TryGetBlock(target, out var block, out var stored))
        {
            ThrowIfDisposed();
            throw new PersistentTypeMismatchException($"{Path}: offset {target} does not designate an allocated object (expected a {expected}).");
        }

        CheckType(target, stored, typeIndex, expected);
        return block.Size;
    }

    /// <summary>
    /// The allocation header (type index and generation) of the block that starts at <paramref name="offset"/>:
    /// allocated, or allocated by this thread's running transaction. Cheaper than <see cref="TryGetBlock"/>.
    /// </summary>
    internal bool TryGetBlockHeader(long offset, out uint header)
    {
        // The heap first (see AllocatedSizeOf): a transaction's own blocks are not allocated there before it commits.
        if (_heap.TryGetAllocatedHeader(offset, out header))
        {
            return true;
        }

        if (CurrentTransaction() is { } tx && tx.TryFindAllocation(offset, out var own))
        {
            header = BlockGeneration.Header(own.TypeIndex, own.Block.Generation);
            return true;
        }

        return false;
    }

    /// <summary>The block that starts at <paramref name="offset"/> and its type: allocated, or allocated by this thread's running transaction.</summary>
    private bool TryGetBlock(long offset, out BlockReservation block, out uint typeIndex)
    {
        if (_heap.TryGetAllocated(offset, out block, out typeIndex))
        {
            return true;
        }

        if (CurrentTransaction() is { } tx && tx.TryFindAllocation(offset, out var own))
        {
            (block, typeIndex) = (own.Block, own.TypeIndex);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Where an object of <paramref name="other"/> lives, for a refusal: another open of this same file (perhaps closed
    /// since: it is read again through this one <paramref name="toDo"/>), or another file.
    /// </summary>
    private string ForeignObject(PersistentPool other, string toDo) => string.Equals(other.Path, Path, StringComparison.Ordinal)
        ? $"the object comes from another open of this file{(Volatile.Read(ref other._disposed) ? ", closed since" : "")}: read it again through this one{toDo}"
        : $"the object lives in {other.Path}";

    private void CheckType(long target, uint stored, uint expectedIndex, string expected)
    {
        if (stored != expectedIndex)
        {
            ThrowIfDisposed();
            var name = _types.NameOf(stored);
            throw new PersistentTypeMismatchException(name == expected
                ? $"{Path}: the object at offset {target} is a {name} in an older layout than the program's, not converted yet: a migration hook cannot read other objects of the class being migrated (read the stored values it is given)."
                : $"{Path}: the object at offset {target} is a {name}, not a {expected}.");
        }
    }
}
