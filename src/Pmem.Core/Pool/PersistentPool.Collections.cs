// PersistentPool (collections) -- the primitives persistent collections are built from: transaction-aware, by offset.
using Pmem.Heap;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>Reads bytes as the running transaction (if any) sees them.</summary>
    internal void ReadBytes(long offset, Span<byte> destination)
    {
        _domain.GetSpan(offset, destination.Length).CopyTo(destination);
        _domain.ThrowIfDisposedAfterAccess();
        if (CurrentTransaction() is { HasWrites: true } tx)
        {
            tx.Writes.Overlay(offset, destination);
        }
    }

    /// <summary>Writes bytes inside the running transaction (in place when the transaction allocated the block).</summary>
    internal void WriteBytesInTransaction(long offset, ReadOnlySpan<byte> bytes)
    {
        var tx = CurrentTransactionOrThrow();
        if (tx.IsInOwnAllocation(offset, bytes.Length))
        {
            WriteIntoNewBlock(offset, bytes);
            _domain.Flush(offset, bytes.Length);
            tx.CountInPlaceWrite();
            return;
        }

        tx.Writes.Record(offset, bytes);
    }

    /// <summary>
    /// Writes into a block the running transaction allocated (nobody else sees it), without flushing: for a caller that
    /// fills a large block piece by piece and then flushes it once (<see cref="FlushFilledBlock"/>).
    /// </summary>
    internal void WriteIntoNewBlock(long offset, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_domain.GetSpan(offset, bytes.Length));
        _domain.NotifyStore(offset, bytes.Length);
    }

    /// <summary>Flushes a block <see cref="WriteIntoNewBlock"/> filled, before its transaction commits.</summary>
    internal void FlushFilledBlock(long offset, long length)
    {
        var tx = CurrentTransactionOrThrow();
        _domain.Flush(offset, length);
        tx.CountInPlaceWrite();
    }

    /// <summary>Whether the running transaction has written into [<paramref name="offset"/>, +<paramref name="length"/>) (or near it).</summary>
    internal bool HasWritten(long offset, int length) => CurrentTransaction() is { HasWrites: true } tx && tx.Writes.Touches(offset, length);

    /// <summary>
    /// The capacity an array of <paramref name="capacity"/> slots of <paramref name="slotSize"/> bytes grows to: about
    /// double, fitted to the heap's blocks. Doubling alone lands a power-of-two array just past a block (16,384 slots of 8
    /// bytes are 64 bytes more than a run's largest block, 32,768 a header line more than a chunk) and wastes the rest:
    /// the largest block below double is taken when it still grows the array by half, else all of the block double takes.
    /// </summary>
    internal int GrownCapacity(int capacity, int slotSize)
    {
        var doubled = Math.Max(4L, capacity * 2L);
        var below = _heap.LargestBlockAtMost(doubled * slotSize) / slotSize;
        var fitted = below >= capacity + capacity / 2 + 1 && below >= 4 ? below : _heap.BlockSizeFor(doubled * slotSize) / slotSize;
        return (int)Math.Min(fitted, Array.MaxLength);
    }

    /// <summary>Allocates a zeroed internal block inside the running transaction.</summary>
    internal long AllocateInTransaction(long size, uint typeIndex) => AllocateBlockInTransaction(size, typeIndex).Offset;

    /// <summary>
    /// Allocates a block inside the running transaction, in the generation the heap gives it or in
    /// <paramref name="generation"/> (a compaction keeps each block's, so the references it copies stay valid). Its
    /// first bytes are <paramref name="content"/> and the rest zeroes, flushed with the transaction's commit like every
    /// write into its own allocations (content given here is written once, not zeroed and then written).
    /// </summary>
    internal BlockReservation AllocateBlockInTransaction(long size, uint typeIndex, ushort? generation = null, ReadOnlySpan<byte> content = default)
    {
        var tx = CurrentTransactionOrThrow();
        var block = ReserveZeroed(size, content);
        if (generation is { } kept)
        {
            block = block with { Generation = kept };
        }

        tx.AddAllocation(new AllocationRecord(block, typeIndex, (int)Math.Min(size, int.MaxValue)));
        return block;
    }

    /// <summary>Frees a block (and what it owns) when the running transaction commits.</summary>
    internal void FreeInTransaction(long offset) => TransactionCommit.Free(CurrentTransactionOrThrow(), offset);

    /// <summary>Runs <paramref name="body"/> as a transaction, or as part of the running one.</summary>
    internal void Atomically<TState>(TState state, Action<TState> body)
    {
        using var tx = BeginTransactionWithinOneCall();
        body(state);
        tx.Commit();
    }

    /// <summary>Runs <paramref name="body"/> as a transaction, or as part of the running one, and returns its result.</summary>
    internal TResult Atomically<TState, TResult>(TState state, Func<TState, TResult> body)
    {
        using var tx = BeginTransactionWithinOneCall();
        var result = body(state);
        tx.Commit();
        return result;
    }

    /// <summary>Checks that <paramref name="header"/> is an allocated block of <paramref name="typeIndex"/>.</summary>
    /// <exception cref="Objects.PersistentTypeMismatchException">It is not.</exception>
    internal void ResolveCollection(long header, uint typeIndex) => ResolveBlock(header, typeIndex);

    /// <summary>
    /// The size of the block at <paramref name="offset"/> if it is allocated (or allocated by this thread's running
    /// transaction) with type <paramref name="typeIndex"/>; -1 otherwise. For collections' checks of their storage.
    /// </summary>
    internal long AllocatedSizeOf(long offset, uint typeIndex) =>
        // The heap first: a block a transaction reserved is not allocated there until it commits, so the answer is the
        // same, and the common case (a committed block) skips finding this thread's transaction.
        _heap.AllocatedSizeOf(offset, typeIndex) is var size and >= 0 ? size
            : CurrentTransaction() is { } tx && tx.TryFindAllocation(offset, out var own) && own.TypeIndex == typeIndex ? own.Block.Size : -1;

    /// <summary>Whether blocks of <paramref name="typeIndex"/> can have <see cref="InternalChildren"/> (collections' blocks).</summary>
    private static bool HasInternalChildren(uint typeIndex) =>
        typeIndex is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex;

    /// <summary>
    /// The offsets an internal block owns or references, for frees (<paramref name="problems"/> null: a damaged
    /// collection header throws <see cref="PoolCorruptedException"/>) and checks (it is reported there).
    /// </summary>
    private IEnumerable<(long Offset, bool Owned, long Slot)> InternalChildren(long offset, uint typeIndex, List<string>? problems = null) => typeIndex switch
    {
        TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex => CollectionLayout.Children(this, offset, typeIndex, problems),
        TypeTable.SortedDictionaryTypeIndex => SortedLayout.Children(this, offset, problems), // every node: a node owns nothing itself
        _ => [],
    };
}
