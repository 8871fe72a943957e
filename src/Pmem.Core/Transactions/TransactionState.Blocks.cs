// TransactionState (blocks) -- the blocks a transaction allocates and frees, and their lookups by offset.
using System.Runtime.InteropServices;
using Pmem.Heap;

namespace Pmem.Transactions;

internal sealed partial class TransactionState
{
    /// <summary>Blocks this transaction allocated, to publish at commit (add with <see cref="AddAllocation"/>).</summary>
    public List<AllocationRecord> Allocations { get; } = [];

    /// <summary>Blocks this transaction frees at commit (add with <see cref="AddFree"/>).</summary>
    public List<BlockReservation> Frees { get; } = [];

    // Lookups by offset for transactions with many blocks (a migration batch, deleting a large tree): without them,
    // each free or write would scan the lists, quadratic in the transaction's size. Built once a list grows past
    // IndexedFrom; small transactions keep the plain newest-first scan.
    private const int IndexedFrom = 16;
    private Dictionary<long, int>? _allocationAt; // block offset → index in Allocations
    private HashSet<long>? _freed;
    private int _largeAllocations; // how many of Allocations are large blocks (whole chunks): the ones a run lookup misses

    // The lookups of the thread's last large transaction, emptied, for its next one: a migration commits thousands of
    // transactions of a few hundred blocks each, and building the lookups anew each time allocated most of its memory.
    // Kept only up to KeptLookupEntries, so one huge transaction does not pin its lookups for the thread's life.
    private const int KeptLookupEntries = 4096;
    private Dictionary<long, int>? _spareAllocationAt;
    private HashSet<long>? _spareFreed;

    private long _blockChanges;

    /// <summary>
    /// Counts what the thread's transactions have recorded (writes, allocations, frees), never going back: a nested
    /// scope that ends seeing the count it began with changed nothing (<see cref="Transaction.Dispose"/>).
    /// </summary>
    public long Changes => Writes.Recorded + _blockChanges;

    /// <summary>
    /// Counts a write made in place into a block this transaction allocated (no log entry records it): a nested scope
    /// that made only such writes changed something, and its rollback must roll back the whole transaction.
    /// </summary>
    public void CountInPlaceWrite() => _blockChanges++;

    /// <summary>Records a block this transaction allocated.</summary>
    public void AddAllocation(AllocationRecord record)
    {
        _blockChanges++;
        Allocations.Add(record);
        if (record.Block.IsLarge)
        {
            _largeAllocations++;
        }

        if (_allocationAt is not null)
        {
            _allocationAt.Add(record.Block.Offset, Allocations.Count - 1);
        }
        else if (Allocations.Count > IndexedFrom)
        {
            _allocationAt = _spareAllocationAt ?? new Dictionary<long, int>(Allocations.Count * 2);
            _spareAllocationAt = null;
            for (var i = 0; i < Allocations.Count; i++)
            {
                _allocationAt.Add(Allocations[i].Block.Offset, i);
            }
        }
    }

    /// <summary>The index in <see cref="Allocations"/> of the block this transaction allocated at <paramref name="offset"/>, or -1.</summary>
    public int IndexOfAllocation(long offset)
    {
        if (_allocationAt is not null)
        {
            return _allocationAt.TryGetValue(offset, out var index) ? index : -1;
        }

        var allocations = CollectionsMarshal.AsSpan(Allocations);
        for (var i = allocations.Length - 1; i >= 0; i--)
        {
            if (allocations[i].Block.Offset == offset)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Forgets the allocation at <paramref name="index"/> (the last one takes its place: order is not kept).</summary>
    public void RemoveAllocationAt(int index)
    {
        _blockChanges++;
        var last = Allocations.Count - 1;
        _allocationAt?.Remove(Allocations[index].Block.Offset);
        if (Allocations[index].Block.IsLarge)
        {
            _largeAllocations--;
        }

        if (index != last)
        {
            Allocations[index] = Allocations[last];
            if (_allocationAt is not null)
            {
                _allocationAt[Allocations[index].Block.Offset] = index;
            }
        }

        Allocations.RemoveAt(last);
    }

    /// <summary>Records a block to free at commit; false when it is recorded already.</summary>
    public bool AddFree(BlockReservation block)
    {
        _blockChanges++;
        if (_freed is not null)
        {
            if (!_freed.Add(block.Offset))
            {
                return false;
            }
        }
        else
        {
            foreach (var free in Frees)
            {
                if (free.Offset == block.Offset)
                {
                    return false;
                }
            }

            if (Frees.Count >= IndexedFrom)
            {
                _freed = _spareFreed ?? [];
                _spareFreed = null;
                foreach (var free in Frees)
                {
                    _freed.Add(free.Offset);
                }

                _freed.Add(block.Offset);
            }
        }

        Frees.Add(block);
        return true;
    }

    /// <summary>Forgets every allocation and free (after commit or rollback).</summary>
    public void ClearBlocks()
    {
        Allocations.Clear();
        Frees.Clear();
        _largeAllocations = 0;
        if (_allocationAt is { Count: <= KeptLookupEntries } allocationAt)
        {
            allocationAt.Clear();
            _spareAllocationAt = allocationAt;
        }

        if (_freed is { Count: <= KeptLookupEntries } freed)
        {
            freed.Clear();
            _spareFreed = freed;
        }

        _allocationAt = null;
        _freed = null;
    }

    /// <summary>True when <paramref name="offset"/> lies in a block this transaction allocated (not yet visible to anyone).</summary>
    public bool IsInOwnAllocation(long offset, long length)
    {
        // Newest first: a write usually goes to the object just made.
        var allocations = CollectionsMarshal.AsSpan(Allocations);
        var scanned = _allocationAt is null ? 0 : Math.Max(0, allocations.Length - 4);
        for (var i = allocations.Length - 1; i >= scanned; i--)
        {
            var block = allocations[i].Block;
            if (offset >= block.Offset && offset + length <= block.Offset + block.Size)
            {
                return true;
            }
        }

        return scanned > 0 && IsInIndexedAllocation(offset, length, allocations[..scanned]);
    }

    /// <summary>
    /// A many-block transaction: the run block that would hold <paramref name="offset"/>, looked up by its start; large
    /// blocks (a few chunks each, rarely many) are still scanned. An offset outside every run's blocks (a run's header
    /// with its type words, a large chunk, the pool header) can lie only in a large block: none, no scan (a migration
    /// writes a type word per object in transactions of hundreds of blocks).
    /// </summary>
    private bool IsInIndexedAllocation(long offset, long length, ReadOnlySpan<AllocationRecord> older)
    {
        var start = Pool.Heap.RunBlockStartOf(offset);
        if (start >= 0)
        {
            return _allocationAt!.TryGetValue(start, out var index) && offset + length <= start + Allocations[index].Block.Size;
        }

        if (_largeAllocations == 0)
        {
            return false; // a run block's chunk is a run from before the block was reserved until after it is freed
        }

        foreach (var allocation in older)
        {
            var block = allocation.Block;
            if (block.IsLarge && block.Offset <= offset && offset + length <= block.Offset + block.Size)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The block this transaction allocated at <paramref name="offset"/>, if any.</summary>
    public bool TryFindAllocation(long offset, out AllocationRecord record)
    {
        var index = IndexOfAllocation(offset);
        record = index >= 0 ? Allocations[index] : default;
        return index >= 0;
    }
}
