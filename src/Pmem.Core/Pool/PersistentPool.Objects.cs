// PersistentPool (objects) -- New, Delete and Root: objects allocated, freed and found by type.
using Pmem.Heap;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// Allocates a new zeroed object of type <typeparamref name="T"/>. Inside a transaction the allocation is undone if
    /// the transaction rolls back; outside, it is durable when this returns (reach it from the root or another object,
    /// or find it later with <see cref="All{T}"/>).
    /// </summary>
    /// <exception cref="PoolOutOfSpaceException">No room and the pool cannot grow.</exception>
    public T New<T>() where T : PersistentObject, IPersistentObject<T>
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        var typeIndex = TypeIndexOf<T>();
        var block = T.PersistentType.HasIndexes && LiveIndexesOf(typeIndex) is { Length: > 0 } indexes
            ? NewIndexed(T.PersistentType, typeIndex, indexes)
            : NewBlock(T.PersistentType, typeIndex);
        var made = T.Attach(new ObjectHandle(this, block.Offset, block.Generation));
        CurrentTransaction()?.NoteMade(made); // a rollback frees the block: the handle must not outlive that
        return made;
    }

    /// <summary>A new object and its entries in its type's indexes (its default values), in one transaction.</summary>
    private BlockReservation NewIndexed(PersistentTypeInfo type, uint typeIndex, LiveIndex[] indexes)
    {
        using var tx = BeginTransactionWithinOneCall();
        var block = NewBlock(type, typeIndex);
        EnterIndexLock();
        foreach (var index in indexes)
        {
            index.Tree(this).Add(block.Offset);
        }

        tx.Commit();
        return block;
    }

    /// <summary>Removes the object at <paramref name="offset"/> from its type's indexes, in the running transaction.</summary>
    private void RemoveFromIndexes(long offset)
    {
        if (_liveIndexes.Length == 0 || !TryGetBlock(offset, out _, out var typeIndex) || LiveIndexesOf(typeIndex) is not { Length: > 0 } indexes)
        {
            return;
        }

        EnterIndexLock();
        foreach (var index in indexes)
        {
            index.Tree(this).Remove(offset);
        }
    }

    /// <summary>
    /// A new zeroed object of a type described only by its schema (tools without the program's classes: an import),
    /// recording the type on first use as the program's registration would; same rules as <see cref="New{T}"/>.
    /// </summary>
    internal long NewObject(PersistentTypeInfo type)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        return NewBlock(type, TypeIndex(type)).Offset;
    }

    /// <summary>Makes a new zeroed object of <paramref name="type"/> the root (the pool must have none yet).</summary>
    /// <exception cref="InvalidOperationException">The pool has a root already.</exception>
    internal long NewRootObject(PersistentTypeInfo type)
    {
        ThrowIfDisposed();
        var typeIndex = TypeIndex(type);
        lock (_rootLock)
        {
            return ReadValue<long>(PoolLayout.RootOffsetOffset) == 0
                ? CreateRoot(type.Size, typeIndex)
                : throw new InvalidOperationException($"{Path}: the pool has a root object already.");
        }
    }

    /// <summary>The root object's offset, or 0 when the pool has none.</summary>
    internal long RootOffset => ReadValue<long>(PoolLayout.RootOffsetOffset);

    /// <summary>The type index of the allocated block at <paramref name="offset"/>, or false when no block starts there.</summary>
    internal bool TryGetBlockType(long offset, out uint typeIndex) => _heap.TryGetAllocated(offset, out _, out typeIndex);

    /// <summary>The type table entry of a type index (null for built-in and unknown indexes).</summary>
    internal StoredType? StoredTypeAt(uint typeIndex) => _types.Get(typeIndex);

    private BlockReservation NewBlock(PersistentTypeInfo type, uint typeIndex)
    {
        var tx = CurrentTransaction();
        BlockReservation block;
        if (tx is not null)
        {
            // A prepared block here too: the commit's log sets its bit (and its header, unless that was drained) and checks
            // or drains its content.
            ThrowIfRolledBack(tx);
            block = type.Size > SizeClasses.MaxPreparedBlockSize ? ReserveZeroed(type.Size) : TakePrepared(typeIndex, type.Size, inTransaction: true);
            tx.AddAllocation(new AllocationRecord(block, typeIndex, type.Size));
            return block;
        }

        if (type.Size > SizeClasses.MaxPreparedBlockSize)
        {
            var large = ReserveZeroed(type.Size);
            var redo = RentRedo();
            _heap.LogAllocate(redo, large, typeIndex);
            RequireDurable(redo, large.Offset, type.Size);
            CommitOrRelease(redo, large);
            return large;
        }

        // A prepared block (zeroed, typed, drained) becomes allocated by setting its bitmap bit: one line, one drain.
        block = TakePrepared(typeIndex, type.Size, inTransaction: false);
        _commits.WaitUntilWritesAllowed(); // the bit is set outside the log: a backup's copy may be under way
        _heap.PublishPrepared(block);
        _domain.Drain();
        _commits.AfterDrain(TransactionState.OfThread?.Commits);
        _domain.ThrowIfDisposedAfterAccess(); // the bit may have reached the closed memory of a pool disposed meanwhile
        return block;
    }

    /// <summary>The type's index in this pool, remembered per type for the pool that last asked (no lookup).</summary>
    private uint TypeIndexOf<T>() where T : PersistentObject, IPersistentObject<T>
    {
        var known = KnownTypeIndex<T>.Last;
        if (known is not null && ReferenceEquals(known.Types, _types))
        {
            return known.Index;
        }

        var index = TypeIndex(T.PersistentType); // checks the stored layout; an index never changes once given
        KnownTypeIndex<T>.Last = new KnownTypeIndex<T>(_types, index);
        return index;
    }

    /// <summary>No stored type has this index: what a read expects of a type the pool never stored.</summary>
    private const uint NotStored = uint.MaxValue;

    /// <summary>
    /// <see cref="TypeIndexOf{T}"/> when the pool stores the type, else <see cref="NotStored"/>: a read (a reference
    /// getter) never records a type, so a reference to a class the pool never held fails its type check and writes nothing.
    /// </summary>
    private uint StoredTypeIndexOf<T>() where T : PersistentObject, IPersistentObject<T>
    {
        var known = KnownTypeIndex<T>.Last;
        if (known is not null && ReferenceEquals(known.Types, _types))
        {
            return known.Index;
        }

        return _types.Find(T.PersistentType.TypeId) is null ? NotStored : TypeIndexOf<T>();
    }

    private sealed class KnownTypeIndex<T>(TypeTable types, uint index)
    {
        public static KnownTypeIndex<T>? Last;

        public TypeTable Types { get; } = types;

        public uint Index { get; } = index;
    }

    /// <summary>
    /// Frees <paramref name="obj"/> and the strings and collections it owns (not the objects it references). Inside a
    /// transaction the free happens at commit.
    /// </summary>
    /// <exception cref="ArgumentException">The object belongs to another pool.</exception>
    /// <exception cref="PersistentDanglingReferenceException">The object was deleted already (its block is free, or holds a new object).</exception>
    public void Delete(PersistentObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        ThrowIfDisposed();
        ThrowIfReadOnly();
        if (!ReferenceEquals(obj.Pool, this))
        {
            throw new ArgumentException($"{Path}: {ForeignObject(obj.Pool, " to delete it")}.", nameof(obj));
        }

        if (obj.Offset == _domain.Read<long>(PoolLayout.RootOffsetOffset))
        {
            throw new InvalidOperationException($"{Path}: the root object cannot be deleted.");
        }

        if (!HoldsObject(obj.Offset, obj.Generation))
        {
            // A handle kept past its object's deletion must not delete the object that reuses the block.
            throw new PersistentDanglingReferenceException(
                $"{Path}: the {obj.GetType().Name} at offset {obj.Offset} was deleted already; its block is free or holds another object.", obj.Offset);
        }

        Atomically((Pool: this, obj.Offset), static state => // static: no delegate made per delete
        {
            state.Pool.RemoveFromIndexes(state.Offset);
            state.Pool.FreeInTransaction(state.Offset);
        });
        obj.NoteDeleted();
    }

    /// <summary>
    /// True when the block at <paramref name="offset"/> is allocated (or allocated by this thread's transaction) in
    /// <paramref name="generation"/>: an object whose handle was made then is still there.
    /// </summary>
    internal bool HoldsObject(long offset, ushort generation) =>
        TryGetBlockHeader(offset, out var header) && BlockGeneration.Matches(generation, BlockGeneration.Of(header));

    /// <summary>The pool's root object, created (zeroed) on first use.</summary>
    /// <exception cref="PersistentTypeMismatchException">The root exists with another type.</exception>
    public T Root<T>() where T : PersistentObject, IPersistentObject<T>
    {
        ThrowIfDisposed();
        var root = ReadValue<long>(PoolLayout.RootOffsetOffset);
        if (root != 0 && IsReadOnly && _types.Find(T.PersistentType.TypeId) is null)
        {
            throw RootMismatch<T>(ReadValue<uint>(PoolLayout.RootTypeOffset)); // a type it does not hold, which it cannot record
        }

        var typeIndex = TypeIndex(T.PersistentType);
        if (root == 0)
        {
            lock (_rootLock)
            {
                root = ReadValue<long>(PoolLayout.RootOffsetOffset);
                if (root == 0)
                {
                    root = CreateRoot(T.PersistentType.Size, typeIndex);
                }
            }
        }

        var stored = ReadValue<uint>(PoolLayout.RootTypeOffset);
        if (stored != typeIndex)
        {
            throw RootMismatch<T>(stored);
        }

        return T.Attach(new ObjectHandle(this, root));
    }

    private PersistentTypeMismatchException RootMismatch<T>(uint stored) where T : PersistentObject, IPersistentObject<T> =>
        new($"{Path}: the root object is a {_types.NameOf(stored)}, not a {T.PersistentType.Name}" +
            $" (if {T.PersistentType.Name} is that class renamed, keep its durable name with [PersistentObject(Name = \"{_types.NameOf(stored)}\")]).");

    private long CreateRoot(int size, uint typeIndex)
    {
        ThrowIfReadOnly();
        if (LiveIndexesOf(typeIndex) is { Length: > 0 } indexes)
        {
            // Its entries in its type's indexes (its default values), in the same transaction, as New files them.
            using var tx = BeginTransaction();
            var offset = CreateRootBlock(size, typeIndex);
            EnterIndexLock();
            foreach (var index in indexes)
            {
                index.Tree(this).Add(offset);
            }

            tx.Commit();
            return offset;
        }

        return CreateRootBlock(size, typeIndex);
    }

    private long CreateRootBlock(int size, uint typeIndex)
    {
        var block = ReserveZeroed(size);
        if (CurrentTransaction() is { } tx)
        {
            tx.AddAllocation(new AllocationRecord(block, typeIndex, size));
            tx.Writes.Record(PoolLayout.RootOffsetOffset, block.Offset);
            tx.Writes.Record(PoolLayout.RootTypeOffset, (ulong)typeIndex);
            return block.Offset;
        }

        var redo = RentRedo();
        _heap.LogAllocate(redo, block, typeIndex);
        RequireDurable(redo, block.Offset, size);
        redo.Set(PoolLayout.RootOffsetOffset, block.Offset);
        redo.Set(PoolLayout.RootTypeOffset, (ulong)typeIndex);
        CommitOrRelease(redo, block);
        return block.Offset;
    }
}
