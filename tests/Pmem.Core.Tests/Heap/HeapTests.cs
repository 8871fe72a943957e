using Pmem.Heap;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Heap;

/// <summary>The allocator seen through the pool: alignment, reuse, runs returned, running out, threads.</summary>
public sealed class HeapTests
{
    private const string LayoutName = "tests";
    private const long PoolSize = 4 << 20;

    private static PersistentPool NewPool(long size = PoolSize, long capacity = 0, long maxSize = 0) =>
        PersistentPool.Create(MemoryDomain.Create(size, capacity), LayoutName, new PoolCreateOptions { MaxSize = maxSize });

    private static T AttachAt<T>(PersistentPool pool, long offset) where T : PersistentObject, IPersistentObject<T> =>
        T.Attach(new ObjectHandle(pool, offset));

    private static PersistentPool Reopen(PersistentPool pool)
    {
        var image = ((MemoryDomain)pool.Domain).ToArray();
        pool.Dispose();
        return PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName);
    }

    [Fact]
    public void Allocations_are_64_byte_aligned_and_never_overlap()
    {
        using var pool = NewPool();
        var blocks = new List<(long Start, long End)>();
        for (var i = 0; i < 2000; i++)
        {
            var obj = i % 2 == 0 ? (PersistentObject)pool.New<Account>() : pool.New<Ledger>();
            Assert.Equal(0, obj.Offset % 64);
            blocks.Add((obj.Offset, obj.Offset + (i % 2 == 0 ? 64 : 128)));
        }

        blocks.Sort();
        for (var i = 1; i < blocks.Count; i++)
        {
            Assert.True(blocks[i - 1].End <= blocks[i].Start, $"blocks at {blocks[i - 1].Start} and {blocks[i].Start} overlap");
        }
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
        var accounts = new List<Account>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 3 * AllocationCache.MaxBatch; i++)
            {
                accounts.Add(pool.New<Account>());
            }

            tx.Commit();
        }

        var sizeClass = SizeClasses.ClassFor(64);
        var freed = accounts.Take(AllocationCache.MaxBatch).Select(a => a.Offset).ToHashSet();
        using (var tx = pool.BeginTransaction())
        {
            foreach (var account in accounts.Take(AllocationCache.MaxBatch))
            {
                pool.Delete(account);
            }

            tx.Commit();
        }

        // Kept by this thread, not handed back to the heap: once R covers the delete (a write outside the log makes it
        // do so), its next batch (its prepared blocks were used up by the three whole batches above) is exactly those.
        Assert.Equal(AllocationCache.MaxBatch, pool.ThreadAllocationCache.FreedCount(sizeClass));
        accounts[^1].Balance = 1;
        var again = Enumerable.Range(0, AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToHashSet();
        Assert.Equal(0, pool.ThreadAllocationCache.FreedCount(sizeClass));
        Assert.Equal(freed, again);
        var reopened = Reopen(pool);
        Assert.True(reopened.Check().IsConsistent);
        reopened.Dispose();
    }

    [Fact]
    public void A_freed_block_waits_in_its_thread_until_the_watermark_covers_its_free_and_the_batch_costs_no_extra_drain()
    {
        var domain = MemoryDomain.Create(PoolSize);
        using var pool = PersistentPool.Create(domain, LayoutName);
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

        // R does not cover the delete yet (nothing retired it): making it do so would cost a drain, and on several
        // threads a wait for every older commit, so the batch comes from the heap and the freed blocks stay kept.
        var sizeClass = SizeClasses.ClassFor(64);
        var drains = domain.Drains;
        var fresh = Enumerable.Range(0, AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToHashSet();
        Assert.Empty(fresh.Intersect(freed));
        Assert.Equal(AllocationCache.MaxBatch + 1, domain.Drains - drains); // one per allocation, one for the batch
        Assert.Equal(AllocationCache.MaxBatch, pool.ThreadAllocationCache.FreedCount(sizeClass));

        accounts[^1].Balance = 1; // a write outside the log retires every applied log: R covers the delete
        var reused = Enumerable.Range(0, AllocationCache.MaxBatch).Select(_ => pool.New<Account>().Offset).ToHashSet();
        Assert.Equal(freed, reused);
        var reopened = Reopen(pool);
        Assert.True(reopened.Check().IsConsistent);
        reopened.Dispose();
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
        var sizeClass = SizeClasses.ClassFor(64);
        var heap = ((Pmem.Transactions.ITransactionalPool)pool).Heap;
        Assert.True(heap.TryGetAllocated(accounts[0].Offset, out var block, out var typeIndex));
        cache.KeepFreed(block, 0);
        cache.KeepFreed(block, 0);
        Assert.Equal(1, cache.FreedCount(sizeClass));
        Span<BlockReservation> taken = stackalloc BlockReservation[4];
        Assert.Equal(1, cache.TakeFreed(sizeClass, taken, long.MaxValue, out _));
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

    [Fact]
    public void Empty_runs_become_free_chunks_again()
    {
        var pool = NewPool();
        var initial = pool.GetStatistics().FreeChunkBytes;
        var accounts = new List<Account>();
        for (var i = 0; i < 9000; i++)
        {
            accounts.Add(pool.New<Account>()); // about two and a half runs of 64-byte blocks
        }

        Assert.True(pool.GetStatistics().FreeChunkBytes <= initial - 3 * PoolLayout.ChunkSize);
        for (var i = 0; i < accounts.Count; i += 500)
        {
            using var tx = pool.BeginTransaction();
            foreach (var account in accounts.Skip(i).Take(500))
            {
                pool.Delete(account);
            }

            tx.Commit();
        }

        // The class keeps its current run; every other emptied run is a free chunk again, merged with its neighbours.
        Assert.True(pool.GetStatistics().FreeChunkBytes >= initial - PoolLayout.ChunkSize, $"{pool.GetStatistics().FreeChunkBytes} of {initial} bytes free");
        Assert.True(pool.Check().IsConsistent);
        Assert.Equal(0, pool.GetStatistics().ObjectCount);

        // A reopened pool has no empty run at all.
        pool = Reopen(pool);
        Assert.Equal(initial, pool.GetStatistics().FreeChunkBytes);
        pool.Dispose();
    }

    [Fact]
    public void A_pool_that_moves_through_size_classes_does_not_run_out()
    {
        var pool = NewPool(); // 11 chunks: each size class below needs 3–4 of them for 24 strings
        var accounts = Enumerable.Range(0, 24).Select(_ => pool.New<Account>()).ToList();
        int[] blockSizes = [2560, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768];
        for (var round = 0; round < 2; round++)
        {
            foreach (var blockSize in blockSizes)
            {
                var length = (blockSize - 8) / 2; // fills the block exactly
                for (var i = 0; i < accounts.Count; i++)
                {
                    accounts[i].Owner = new string((char)('a' + i), length); // frees the string of the previous class
                }

                Assert.True(pool.Check().IsConsistent);
            }
        }

        pool = Reopen(pool);
        Assert.True(pool.Check().IsConsistent);
        Assert.Equal(24 * 2, pool.GetStatistics().ObjectCount);
        pool.Dispose();
    }

    [Fact]
    public void Running_out_of_space_throws_and_leaves_a_consistent_usable_pool()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        var count = 0;
        var error = Assert.Throws<PoolOutOfSpaceException>((Action)(() =>
        {
            while (true)
            {
                var account = pool.New<Account>();
                account.Next = root.First;
                root.First = account;
                count++;
            }
        }));
        Assert.True(count > 1000);
        Assert.Equal(64, error.RequestedBytes);
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        pool.Delete(root.First!.Next!);
        root.First.Next = null;
        pool.New<Account>();
    }

    [Fact]
    public void A_pool_on_a_full_disk_grows_into_what_room_there_is_then_is_out_of_space_with_the_reason_and_stays_usable()
    {
        using var pool = NewPool(capacity: 64 << 20, maxSize: 64 << 20);
        var size = pool.Size;
        var room = size + (1 << 20); // the disk holds one more MiB: not a doubling, but a few chunks
        ((MemoryDomain)pool.Domain).ExtendFailure = length =>
            length > room ? new Pmem.Memory.PmemIOException("posix_fallocate: No space left on device", "pool", 28) : null;
        var root = pool.Root<Ledger>();
        var error = Assert.Throws<PoolOutOfSpaceException>((Action)(() =>
        {
            while (true)
            {
                var account = pool.New<Account>();
                account.Next = root.First;
                root.First = account;
            }
        }));
        Assert.Equal(64, error.RequestedBytes);
        Assert.IsType<Pmem.Memory.PmemIOException>(error.InnerException);
        Assert.Contains("could not grow (posix_fallocate: No space left on device)", error.Message);
        Assert.InRange(pool.Size, size + (1 << 18), room); // grew chunk by chunk into the room there was
        size = pool.Size;
        Assert.True(pool.Check().IsConsistent);

        ((MemoryDomain)pool.Domain).ExtendFailure = null; // room again: the pool grows
        root.First = pool.New<Account>();
        Assert.True(pool.Size > size);
    }

    [Fact]
    public void Blocks_prepared_for_one_type_serve_another_when_the_pool_is_full()
    {
        using var pool = NewPool();
        pool.New<Account>(); // this thread now holds prepared 64-byte blocks for Account
        var vaults = 0;
        Assert.Throws<PoolOutOfSpaceException>((Action)(() =>
        {
            while (true)
            {
                pool.New<Vault>(); // same size class, another type
                vaults++;
            }
        }));

        // The vaults took the blocks prepared for Account before giving up: none is left for Account either.
        Assert.Throws<PoolOutOfSpaceException>((Action)(() => pool.New<Account>()));
        Assert.Equal(vaults, pool.GetStatistics().ObjectsPerType["Tests.Vault"]);
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_full_pool_is_full_for_every_thread()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        foreach (var name in new[] { "x", "y" })
        {
            // Threads are spread over arenas with a current run each: two helpers leave 64-byte runs in two arenas.
            var helper = new Thread(() => root.Name = name);
            helper.Start();
            helper.Join();
        }

        Assert.Throws<PoolOutOfSpaceException>((Action)(() => { while (true) { pool.New<Account>(); } }));

        // This thread took the last free block from every arena before giving up: no other thread finds one either.
        for (var i = 0; i < 4; i++)
        {
            Exception? error = null;
            var other = new Thread(() => error = Record.Exception(() => pool.New<Account>()));
            other.Start();
            other.Join();
            Assert.IsType<PoolOutOfSpaceException>(error);
        }

        Assert.True(pool.Check().IsConsistent);
    }


    [Fact]
    public void Concurrent_allocation_from_several_threads_gives_distinct_blocks()
    {
        using var pool = NewPool(16 << 20);
        var offsets = new System.Collections.Concurrent.ConcurrentBag<long>();
        Parallel.For(0, 4, _ =>
        {
            for (var i = 0; i < 2000; i++)
            {
                offsets.Add(pool.New<Account>().Offset);
            }
        });
        Assert.Equal(8000, offsets.Distinct().Count());
        Assert.Equal(8000, pool.GetStatistics().ObjectsPerType["Tests.Account"]);
    }

    [Fact]
    public void Concurrent_allocation_free_and_run_return_keep_the_heap_consistent()
    {
        var pool = NewPool(16 << 20);
        var kept = new System.Collections.Concurrent.ConcurrentBag<long>();
        Parallel.For(0, 4, thread =>
        {
            var mine = new List<Account>();
            for (var i = 0; i < 6000; i++)
            {
                if (i % 5 == 4)
                {
                    using var tx = pool.BeginTransaction(); // allocation in a transaction beside prepared ones
                    var account = pool.New<Account>();
                    account.Balance = i;
                    mine.Add(account);
                    tx.Commit();
                }
                else
                {
                    mine.Add(pool.New<Account>());
                }

                if (i % 4 == 3)
                {
                    pool.Delete(mine[^2]);
                    mine.RemoveAt(mine.Count - 2);
                }
            }

            // Half the threads free everything (emptying runs while the others still allocate), half keep theirs.
            if (thread % 2 == 0)
            {
                foreach (var account in mine)
                {
                    pool.Delete(account);
                }
            }
            else
            {
                for (var i = 0; i < 2000; i++)
                {
                    pool.New<Ledger>().Total = i;
                }

                foreach (var account in mine)
                {
                    kept.Add(account.Offset);
                }
            }
        });

        Assert.Equal(kept.Count, kept.Distinct().Count());
        var stats = pool.GetStatistics();
        Assert.Equal(kept.Count, stats.ObjectsPerType["Tests.Account"]);
        Assert.Equal(4000, stats.ObjectsPerType["Tests.Ledger"]);
        Assert.True(pool.Check().IsConsistent, string.Join("; ", pool.Check().Errors));
        pool = Reopen(pool);
        Assert.True(pool.Check().IsConsistent);
        Assert.Equal(kept.Count, pool.GetStatistics().ObjectsPerType["Tests.Account"]);

        // Two threads free every account (their runs go back to the free chunks) while two allocate in another class.
        var offsets = kept.ToArray();
        var reopened = pool;
        Parallel.For(0, 4, thread =>
        {
            if (thread < 2)
            {
                for (var i = thread; i < offsets.Length; i += 2)
                {
                    reopened.Delete(AttachAt<Account>(reopened, offsets[i]));
                }

                // A thread keeps its last freed blocks for its own next allocations, and they keep their runs: given
                // back, nothing of the accounts' runs is held any more.
                reopened.ThreadAllocationCache.ReturnAll(0);
            }
            else
            {
                for (var i = 0; i < 3000; i++)
                {
                    reopened.New<Ledger>();
                }
            }
        });

        Assert.False(pool.GetStatistics().ObjectsPerType.ContainsKey("Tests.Account"));
        Assert.Equal(10_000, pool.GetStatistics().ObjectsPerType["Tests.Ledger"]);
        Assert.True(pool.Check().IsConsistent, string.Join("; ", pool.Check().Errors));

        // Every run the frees emptied went back while the pool ran: reopening, which frees any run it finds empty,
        // finds none.
        var freeWhileRunning = pool.GetStatistics().FreeChunkBytes;
        pool = Reopen(pool);
        Assert.True(pool.Check().IsConsistent);
        Assert.Equal(freeWhileRunning, pool.GetStatistics().FreeChunkBytes);
        pool.Dispose();
    }
}
