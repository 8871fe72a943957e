// PersistentPool (allocation) -- reserving blocks, the thread's prepared-block cache, committing single changes.
using Pmem.Heap;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// A prepared block of <paramref name="typeIndex"/> from this thread's cache, or from a new batch. Outside a
    /// transaction its zeroes and type index are durable when this returns (the caller then only sets its bit); inside
    /// one they may not be, and the block then comes back not marked prepared: the commit that publishes it logs its
    /// header and checks or drains its content, as for a block reused without preparation.
    /// </summary>
    private BlockReservation TakePrepared(uint typeIndex, int size, bool inTransaction)
    {
        var cache = AllocationCacheOfThisThread();
        if (!cache.TryTake(typeIndex, out var block))
        {
            block = PrepareBatch(cache, typeIndex, size, inTransaction);
        }
        else if (cache.HoldsUndrained && !inTransaction)
        {
            _domain.Drain();
            _commits.AfterDrain(TransactionState.OfThread?.Commits);
            cache.HoldsUndrained = false;
        }

        // A log that skipped the header of a block whose header is not durable could, complete before it, set the
        // block's bit over its old header (another type, an older generation, or garbage).
        return cache.HoldsUndrained ? block with { Prepared = false } : block;
    }

    // Every thread's cache for this pool, weakly (a cache whose thread ended is still finalized when collected), and
    // tracked until finalized: a cache awaiting its finalizer still holds its blocks.
    private readonly List<WeakReference<AllocationCache>> _threadCaches = [];

    /// <summary>The calling thread's allocation cache for this pool (for tests).</summary>
    internal AllocationCache ThreadAllocationCache => AllocationCacheOfThisThread();

    private AllocationCache AllocationCacheOfThisThread()
    {
        var cache = t_allocationCache;
        if (cache is not null && ReferenceEquals(cache.Heap, _heap))
        {
            return cache;
        }

        return SwitchAllocationCache(cache);
    }

    private AllocationCache SwitchAllocationCache(AllocationCache? previous)
    {
        // The thread moves to another pool: its prepared blocks go back, in volatile state only (nothing was logged,
        // and the other pool may be closed).
        previous?.GiveBack(mayReturnRuns: false);

        var cache = new AllocationCache(_heap, TypeTable.IndexCount);
        lock (_threadCaches)
        {
            _threadCaches.RemoveAll(entry => !entry.TryGetTarget(out var kept) || kept.GivenBack);
            _threadCaches.Add(new WeakReference<AllocationCache>(cache, trackResurrection: true));
        }

        t_allocationCache = cache;
        return cache;
    }

    /// <summary>
    /// With no room left: gives back the blocks this thread prepared for other types or freed, and those other threads
    /// keep, which may be the last free ones. Called from a catch block, never a filter: a filter runs before the heap's
    /// locks held where the exception was thrown are released, and giving back takes other size classes' locks.
    /// </summary>
    /// <returns>True when some came back (worth trying again).</returns>
    private bool GiveBackKeptBlocks(AllocationCache mine)
    {
        if (!(mine.HoldsBlocks | GiveBackOtherThreadsBlocks(mine)))
        {
            return false;
        }

        mine.ReturnAll();
        return true;
    }

    /// <summary>
    /// With no room left: gives back the blocks other threads keep in their caches (prepared and freed ones, up to a few
    /// dozen per size class each). An ended thread's would otherwise wait for its cache's finalizer, that is, for a full
    /// garbage collection, which a program that allocates little may not see for a long time; a live thread's for its
    /// own next allocations, which an idle thread (a pool thread between requests) may never make. A thread inside an
    /// allocation at this moment keeps its blocks.
    /// </summary>
    /// <returns>True when some were given back (worth trying again).</returns>
    private bool GiveBackOtherThreadsBlocks(AllocationCache mine)
    {
        var given = false;
        lock (_threadCaches)
        {
            _threadCaches.RemoveAll(entry =>
            {
                if (!entry.TryGetTarget(out var cache) || cache.GivenBack)
                {
                    return true;
                }

                if (cache.OwnerEnded)
                {
                    given |= cache.GiveBack(mayReturnRuns: true);
                    return true;
                }

                given |= !ReferenceEquals(cache, mine) && cache.TakeBack();
                return false;
            });
        }

        return given;
    }

    /// <summary>
    /// Reserves a batch of blocks, retires any log that mentions them (they may have been freed this session), zeroes
    /// them and stamps their type index with one drain (none inside a transaction: an msync on an ordinary file for
    /// every 32 objects a bulk load made, where its commit syncs once); caches all but the one it returns.
    /// </summary>
    private BlockReservation PrepareBatch(AllocationCache cache, uint typeIndex, int size, bool inTransaction)
    {
        Span<BlockReservation> batch = stackalloc BlockReservation[AllocationCache.MaxBatch];
        var sizeClass = _heap.ClassFor(size);
        batch = batch[..AllocationCache.BatchFor(SizeClasses.Sizes[sizeClass])];
        var count = cache.TakeFreed(sizeClass, batch, out var freedThrough); // no lock: this thread's frees R covers
        if (count < batch.Length)
        {
            try
            {
                count += _heap.ReserveMany(size, batch[count..], out var reservedFreedThrough);
                freedThrough = Math.Max(freedThrough, reservedFreedThrough);
            }
            catch (PoolOutOfSpaceException) when (count > 0)
            {
                // The blocks this thread freed make a batch of their own.
            }
            catch (PoolOutOfSpaceException)
            {
                if (!GiveBackKeptBlocks(cache))
                {
                    throw;
                }

                count = _heap.ReserveMany(size, batch, out freedThrough);
            }
            catch when (count > 0)
            {
                _heap.ReleaseMany(batch[..count], freedThrough); // the growth failed: the kept blocks go to the heap
                throw;
            }
        }

        batch = batch[..count];
        try
        {
            // Before any store into a reused block: an unretired log that allocated it could verify its old content,
            // or one that freed it could clear its bit, over what this thread is about to make durable.
            var mine = TransactionState.OfThread?.Commits;
            _commits.RetireThrough(freedThrough, mine);
            _heap.Prepare(batch, typeIndex, size);
            if (inTransaction)
            {
                cache.HoldsUndrained = true;
            }
            else
            {
                _domain.Drain(); // also covers blocks a transaction prepared before
                _commits.AfterDrain(mine);
                cache.HoldsUndrained = false;
            }
        }
        catch
        {
            foreach (var block in batch)
            {
                _heap.Release(block, freedThrough);
            }

            throw;
        }

        cache.Add(typeIndex, batch[1..]);
        return batch[0];
    }

    /// <summary>
    /// Reserves a block whose first bytes are <paramref name="content"/> and the rest zeroes, flushed but not drained
    /// (the commit that publishes the block drains them): content given here is written once, not zeroed and rewritten.
    /// </summary>
    private BlockReservation ReserveZeroed(long size, ReadOnlySpan<byte> content = default)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(content.Length, size);
        var block = ReserveBlock(size);
        if (!content.IsEmpty)
        {
            _domain.Copy(block.Offset, content, PmemCopyFlags.NoDrain);
        }

        if (size > content.Length)
        {
            _domain.Fill(block.Offset + content.Length, 0, size - content.Length, PmemCopyFlags.NoDrain);
        }

        return block;
    }

    /// <summary>
    /// Reserves one block (a string's, a collection's storage), one this thread's commits freed first; with no room
    /// left, the thread's kept and prepared blocks go back to the heap and it tries again.
    /// </summary>
    private BlockReservation ReserveBlock(long size)
    {
        var cache = AllocationCacheOfThisThread();
        try
        {
            return _heap.Reserve(size, cache);
        }
        catch (PoolOutOfSpaceException)
        {
            if (!GiveBackKeptBlocks(cache))
            {
                throw;
            }

            return _heap.Reserve(size, cache);
        }
    }

    /// <summary>A block a commit of this thread freed: kept for the thread's next batch of its size class (see <see cref="AllocationCache"/>).</summary>
    void ITransactionalPool.KeepFreed(in BlockReservation block, long freedThrough) =>
        AllocationCacheOfThisThread().KeepFreed(block, freedThrough);

    private static RedoBuilder RentRedo() => TransactionState.ForThread.RentRedo();

    /// <summary>Ties <paramref name="redo"/>'s commit to the <paramref name="length"/> bytes written in place at <paramref name="offset"/>, hashed or drained as this pool's pipeline needs.</summary>
    private void RequireDurable(RedoBuilder redo, long offset, int length) =>
        redo.RequireDurable(offset, _domain.GetSpan(offset, length), _commits.PublishedContentRule, _commits.LoggedContentBudget);

    private void CommitRedo(RedoBuilder redo)
    {
        ThrowIfDisposed();
        _commits.Commit(redo);
    }

    private void CommitOrRelease(RedoBuilder redo, BlockReservation block)
    {
        try
        {
            CommitRedo(redo);
        }
        catch
        {
            _heap.Release(block, _commits.LastSequence);
            throw;
        }
    }
}
