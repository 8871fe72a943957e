// TransactionCommit -- the transaction's commit recipe: allocations, writes and frees turned into one redo log.
using System.Runtime.InteropServices;
using Pmem.Log;
using Pmem.Objects;

namespace Pmem.Transactions;

/// <summary>
/// What a transaction does at its end (libpmemobj's tx.c): commit builds one redo log of the allocations it publishes,
/// its writes and its frees, and commits it through the pool's pipeline; rollback releases what it reserved. Frees
/// made inside a transaction are recorded here too (the block and what it owns), to happen at commit.
/// </summary>
internal static class TransactionCommit
{
    /// <summary>Makes every change of the outermost level of <paramref name="tx"/> durable, atomically.</summary>
    public static void Commit(TransactionState tx)
    {
        if (tx.Allocations.Count == 0 && tx.Frees.Count == 0 && !tx.HasWrites)
        {
            return;
        }

        var pool = tx.Pool;
        var (domain, heap, commits) = (pool.Domain, pool.Heap, pool.Commits);
        var redo = tx.RentRedo(); // the thread's state is at hand: no thread-static read
        // Every type index before any bit (as LogAllocate orders one block's), so that the bits of blocks in one
        // bitmap word follow each other and the builder merges them into one entry; likewise the types (and, in a
        // write-ahead log, the contents) of a batch's adjacent blocks.
        foreach (var allocation in tx.Allocations)
        {
            heap.LogAllocationType(redo, allocation.Block, allocation.TypeIndex);
        }

        // The contents of adjacent new blocks (a batch's, in slot order, each filling its block) as one range: one
        // Verify per 4 KiB of them, not one per block (in a write-ahead log, one Set).
        var (rule, loggedBudget) = (commits.PublishedContentRule, commits.LoggedContentBudget);
        var allocations = CollectionsMarshal.AsSpan(tx.Allocations);
        for (var i = 0; i < allocations.Length;)
        {
            var (start, length) = (allocations[i].Block.Offset, allocations[i].ContentLength);
            for (i++; i < allocations.Length && allocations[i].Block.Offset == start + length && length + allocations[i].ContentLength <= RedoBuilder.VerifyLimit; i++)
            {
                length += allocations[i].ContentLength;
            }

            redo.RequireDurable(start, domain.GetSpan(start, length), rule, loggedBudget);
        }

        foreach (var allocation in tx.Allocations)
        {
            heap.LogAllocationBit(redo, allocation.Block);
        }

        tx.Writes.AppendTo(redo);
        foreach (var block in tx.Frees)
        {
            heap.LogFree(redo, block);
        }

        pool.ThrowIfDisposed();
        commits.Commit(redo); // never empty: the early return above took the transactions with nothing to log

        var freedThrough = commits.LastSequence; // at or above this commit's sequence
        foreach (var block in tx.Frees)
        {
            pool.KeepFreed(block, freedThrough); // for this thread's next allocations, without the heap's lock
        }

        tx.ClearBlocks(); // now durable: a later rollback must not release the allocations
    }

    /// <summary>Rollback: gives back every block the transaction reserved and forgets its frees.</summary>
    public static void ReleaseReservations(TransactionState tx)
    {
        var pool = tx.Pool;
        foreach (var allocation in tx.Allocations)
        {
            pool.Heap.Release(allocation.Block, pool.Commits.LastSequence);
        }

        tx.ClearBlocks();
    }

    /// <summary>
    /// Frees the block at <paramref name="offset"/> and what it owns when <paramref name="tx"/> commits; a block the
    /// transaction itself allocated is simply never allocated.
    /// </summary>
    /// <exception cref="PersistentTypeMismatchException">No allocated block starts at <paramref name="offset"/>.</exception>
    public static void Free(TransactionState tx, long offset) => Free(tx, offset, withOwned: true);

    /// <summary>
    /// Frees the block at <paramref name="offset"/> alone, not what it may claim to own, when <paramref name="tx"/>
    /// commits: a repair freeing unreachable blocks, each of which it frees itself, must not follow a damaged block's
    /// offsets into blocks that are reachable.
    /// </summary>
    public static void FreeAlone(TransactionState tx, long offset) => Free(tx, offset, withOwned: false);

    private static void Free(TransactionState tx, long offset, bool withOwned)
    {
        var pool = tx.Pool;
        uint typeIndex;
        var ownIndex = tx.IndexOfAllocation(offset);
        if (ownIndex >= 0)
        {
            typeIndex = tx.Allocations[ownIndex].TypeIndex;
        }
        else if (!pool.Heap.TryGetAllocated(offset, out var allocated, out typeIndex))
        {
            pool.Domain.ThrowIfDisposed(); // a delete racing with Dispose may read the closed pool's scratch memory
            throw new PersistentTypeMismatchException($"{pool.Path}: offset {offset} does not designate an allocated object.");
        }
        else if (!tx.AddFree(allocated))
        {
            return; // freed already in this transaction
        }

        // Owned strings and collections go with their object (read before a made-here block is released).
        List<long>? owned = null; // made only for an object that owns something
        if (withOwned)
        {
            pool.AddOwnedBlocks(offset, typeIndex, ref owned);
        }

        for (var i = 0; i < owned?.Count; i++)
        {
            Free(tx, owned[i]);
        }

        if (ownIndex >= 0)
        {
            // Freed in the transaction that made it: simply never allocate it. (The owned frees above may have
            // shifted the list, so look the block up again.)
            ownIndex = tx.IndexOfAllocation(offset);
            var block = tx.Allocations[ownIndex].Block;
            tx.RemoveAllocationAt(ownIndex);
            pool.Heap.Release(block, pool.Commits.LastSequence);
        }
    }
}
