// KeptBlockTests -- the blocks a thread's commits free: kept for its next allocations, reused once R covers their free.
using Pmem.Heap;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Heap;

/// <summary>
/// Freed blocks through the pool: kept by the thread whose commit freed them (<see cref="AllocationCache"/>), handed out
/// once each, given back half at a time when too many, and reused only once the retirement watermark covers the free.
/// </summary>
public sealed class KeptBlockTests
{
    private const string LayoutName = "tests";
    private const long PoolSize = 4 << 20;

    internal static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(PoolSize), LayoutName);

    private static PersistentPool Reopen(PersistentPool pool)
    {
        var image = ((MemoryDomain)pool.Domain).ToArray();
        pool.Dispose();
        return PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName);
    }

    /// <summary>Closes <paramref name="pool"/>, opens its image again and checks it.</summary>
    private static void AssertConsistentOnReopen(PersistentPool pool)
    {
        using var reopened = Reopen(pool);
        Assert.True(reopened.Check().IsConsistent);
    }

    /// <summary>Allocates accounts on this thread until the pool refuses: the accounts allocated.</summary>
    internal static List<Account> FillWithAccounts(PersistentPool pool)
    {
        var accounts = new List<Account>();
        Assert.Throws<PoolOutOfSpaceException>((Action)(() =>
        {
            while (true)
            {
                accounts.Add(pool.New<Account>());
            }
        }));
        return accounts;
    }

    /// <summary>
    /// Allocates two accounts (preparing a batch) and deletes one (keeping its block), leaving the other live: the
    /// calling thread's cache, which then holds blocks.
    /// </summary>
    internal static AllocationCache KeepBlocksOnThisThread(PersistentPool pool)
    {
        Account first, second;
        using (var tx = pool.BeginTransaction())
        {
            (first, second) = (pool.New<Account>(), pool.New<Account>());
            tx.Commit();
        }

        pool.Delete(second);
        first.Balance = 1;
        return pool.ThreadAllocationCache;
    }

    /// <summary>
    /// Three whole batches of accounts in one transaction (using up the thread's prepared blocks), then the first
    /// batch's deleted in another: the accounts, and the offsets freed and kept by this thread.
    /// </summary>
    private static (List<Account> Accounts, HashSet<long> Freed) ThreeBatchesWithTheFirstDeleted(PersistentPool pool)
    {
        var accounts = new List<Account>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 3 * AllocationCache.MaxBatch; i++)
            {
                accounts.Add(pool.New<Account>());
            }

            tx.Commit();
        }

        var freed = accounts.Take(AllocationCache.MaxBatch).Select(a => a.Offset).ToHashSet();
        using (var tx = pool.BeginTransaction())
        {
            foreach (var account in accounts.Take(AllocationCache.MaxBatch))
            {
                pool.Delete(account);
            }

            tx.Commit();
        }

        return (accounts, freed);
    }

    [Fact]
    public void Freed_blocks_are_reused()
    {
        using var pool = NewPool();
        var first = pool.New<Account>();
        var keeper = pool.New<Account>();
        var offset = first.Offset;
        pool.Delete(first);
        keeper.Balance = 1; // a write outside the log: R now covers the delete, so the freed block may be written again

        // Not necessarily at once: the thread first uses up the batch of blocks it has already prepared.
        var later = Enumerable.Range(0, 2 * AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToList();
        Assert.Contains(offset, later);
    }

    [Fact]
    public void A_thread_reuses_the_blocks_its_commits_freed_first()
    {
        using var pool = NewPool();
        var (accounts, freed) = ThreeBatchesWithTheFirstDeleted(pool);
        var sizeClass = SizeClasses.ClassFor(64, SizeClasses.Count);

        // Kept by this thread, not handed back to the heap: once R covers the delete (a write outside the log makes it
        // do so), its next batch (its prepared blocks were used up by the three whole batches above) is exactly those.
        Assert.Equal(AllocationCache.MaxBatch, pool.ThreadAllocationCache.FreedCount(sizeClass));
        accounts[^1].Balance = 1;
        var again = Enumerable.Range(0, AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToHashSet();
        Assert.Equal(0, pool.ThreadAllocationCache.FreedCount(sizeClass));
        Assert.Equal(freed, again);
        AssertConsistentOnReopen(pool);
    }

    [Fact]
    public void A_freed_block_waits_in_its_thread_until_the_watermark_covers_its_free_and_the_batch_costs_no_extra_drain()
    {
        var domain = MemoryDomain.Create(PoolSize);
        using var pool = PersistentPool.Create(domain, LayoutName);
        var (accounts, freed) = ThreeBatchesWithTheFirstDeleted(pool);

        // R does not cover the delete yet (nothing retired it): making it do so would cost a drain, and on several
        // threads a wait for every older commit, so the batch comes from the heap and the freed blocks stay kept.
        var sizeClass = SizeClasses.ClassFor(64, SizeClasses.Count);
        var drains = domain.Drains;
        var fresh = Enumerable.Range(0, AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToHashSet();
        Assert.Empty(fresh.Intersect(freed));
        Assert.Equal(AllocationCache.MaxBatch + 1, domain.Drains - drains); // one per allocation, one for the batch
        Assert.Equal(AllocationCache.MaxBatch, pool.ThreadAllocationCache.FreedCount(sizeClass));

        accounts[^1].Balance = 1; // a write outside the log retires every applied log: R covers the delete
        var reused = Enumerable.Range(0, AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToHashSet();
        Assert.Equal(freed, reused);
        AssertConsistentOnReopen(pool);
    }

    [Fact]
    public void A_full_pool_hands_out_the_block_its_thread_has_just_freed_though_the_watermark_does_not_cover_it_yet()
    {
        using var pool = NewPool();
        var accounts = FillWithAccounts(pool);

        var freed = accounts[^1].Offset;
        using (var tx = pool.BeginTransaction())
        {
            pool.Delete(accounts[^1]);
            tx.Commit();
        }

        // Kept and not covered by R: with nothing else left, the allocation retires through its free and takes it.
        Assert.Equal(freed, pool.New<Account>().Offset);
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_string_replaced_outside_a_transaction_keeps_its_old_block_and_the_next_string_costs_one_drain()
    {
        var domain = MemoryDomain.Create(PoolSize);
        using var pool = PersistentPool.Create(domain, LayoutName);
        var account = pool.New<Account>();
        account.Owner = "the first owner";
        account.Owner = "the second owner"; // the first string's block is freed by this commit
        var sizeClass = SizeClasses.ClassFor(StringLayout.BlockSize("the first owner".Length), SizeClasses.Count);
        Assert.Equal(1, pool.ThreadAllocationCache.FreedCount(sizeClass));

        // Back in its run, the block raised the run's bound, and the next string reserved there waited for R to cover
        // the commit that freed it: two extra drains. Kept, the next string comes from the run at no such cost.
        var drains = domain.Drains;
        account.Owner = "the third owner";
        Assert.Equal(1, domain.Drains - drains);
        Assert.Equal("the third owner", account.Owner);
        AssertConsistentOnReopen(pool);
    }

    [Fact]
    public void A_block_kept_twice_is_handed_out_once_and_a_full_class_gives_half_back()
    {
        using var pool = NewPool();
        var accounts = new List<Account>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < AllocationCache.FreedCapacity + 2; i++)
            {
                accounts.Add(pool.New<Account>());
            }

            tx.Commit();
        }

        var cache = pool.ThreadAllocationCache;
        var sizeClass = SizeClasses.ClassFor(64, SizeClasses.Count);
        var heap = ((Pmem.Transactions.ITransactionalPool)pool).Heap;
        Assert.True(heap.TryGetAllocated(accounts[0].Offset, out var block, out var typeIndex));
        cache.KeepFreed(block, 0);
        cache.KeepFreed(block, 0);
        Assert.Equal(1, cache.FreedCount(sizeClass));
        Span<BlockReservation> taken = stackalloc BlockReservation[4];
        Assert.Equal(1, cache.TakeFreed(sizeClass, taken, out _));
        Assert.Equal(block.Offset, taken[0].Offset);
        Assert.Equal(BlockGeneration.After(BlockGeneration.Header(typeIndex, block.Generation)), taken[0].Generation);
        heap.Release(taken[0], 0); // (the test took it out of the cache: give it to the heap, which owns it)

        using (var tx = pool.BeginTransaction())
        {
            foreach (var account in accounts.Skip(1))
            {
                pool.Delete(account);
            }

            tx.Commit();
        }

        // 64 kept, then the 65th made room by giving the older 32 back under one lock.
        Assert.Equal(AllocationCache.FreedCapacity / 2 + 1, cache.FreedCount(sizeClass));
    }

    [Fact]
    public void A_full_pool_takes_back_what_an_ended_thread_kept_without_waiting_for_its_finalizer()
    {
        using var alone = NewPool();
        var capacity = FillWithAccounts(alone).Count;

        // A thread allocates two accounts (preparing a batch) and deletes one (keeping its block), then ends. Its cache
        // stays reachable here, as one may for long in a program that rarely collects: no finalizer gives it back.
        using var pool = NewPool();
        AllocationCache? ended = null;
        var helper = new Thread(() => ended = KeepBlocksOnThisThread(pool));
        helper.Start();
        helper.Join();
        Assert.True(ended!.HoldsBlocks);

        Assert.Equal(capacity - 1, FillWithAccounts(pool).Count); // every block but the helper's live account
        Assert.True(ended.GivenBack);
        Assert.False(ended.HoldsBlocks);
        Assert.IsType<PoolOutOfSpaceException>(HeapTests.NewAccountOnAnotherThread(pool));
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_full_pool_takes_back_what_an_ended_thread_kept_while_its_cache_awaits_its_finalizer()
    {
        using var alone = NewPool();
        var capacity = FillWithAccounts(alone).Count;

        // The finalizer thread is held, so the ended thread's cache, collected below, waits in the finalization queue:
        // unreachable, but its blocks not yet back.
        using var pool = NewPool();
        using var finalizing = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        HoldFinalizerThread(finalizing, release);
        try
        {
            GC.Collect();
            Assert.True(finalizing.Wait(TimeSpan.FromSeconds(30)), "the finalizer thread never took the holder");
            var helper = new Thread(() => pool.New<Account>()); // prepares a batch and keeps all but one
            helper.Start();
            helper.Join();
            GC.Collect();

            Assert.Equal(capacity - 1, FillWithAccounts(pool).Count); // every block but the helper's account
        }
        finally
        {
            release.Set();
        }

        GC.WaitForPendingFinalizers(); // the cache's finalizer, had it not given its blocks back yet, would now
        Assert.IsType<PoolOutOfSpaceException>(HeapTests.NewAccountOnAnotherThread(pool));
        Assert.True(pool.Check().IsConsistent);
    }

    private static void HoldFinalizerThread(ManualResetEventSlim finalizing, ManualResetEventSlim release) =>
        _ = new FinalizerHolder(finalizing, release); // unreachable at once: finalized at the next collection

    /// <summary>An object whose finalizer holds the finalizer thread until released.</summary>
    private sealed class FinalizerHolder(ManualResetEventSlim finalizing, ManualResetEventSlim release)
    {
        ~FinalizerHolder()
        {
            finalizing.Set();
            release.Wait(TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public void Freeing_after_a_reopen_before_any_allocation_reuses_the_block_once()
    {
        var pool = NewPool();
        var root = pool.Root<Ledger>();
        root.First = pool.New<Account>();
        root.Second = pool.New<Account>();
        var freed = root.First.Offset;
        pool = Reopen(pool);
        root = pool.Root<Ledger>();
        pool.Delete(root.First!); // into a run whose free list is built only now, from a bitmap that already shows it free
        root.First = null;
        var offsets = Enumerable.Range(0, 64).Select(_ => pool.New<Account>().Offset).ToList();
        Assert.Single(offsets, o => o == freed);
        Assert.Equal(offsets.Count, offsets.Distinct().Count());
        Assert.True(pool.Check().IsConsistent);
        pool.Dispose();
    }
}
