using Pmem.Heap;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Heap;

/// <summary>The allocator seen through the pool: alignment, runs returned, running out, threads (freed blocks kept for reuse: <see cref="KeptBlockTests"/>).</summary>
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
        Assert.Equal(0, report.DetachedObjects);
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

        // The second helper replaced the first string and kept its block: it has ended, and filling the pool takes the
        // block back (without waiting for its cache's finalizer, which could otherwise hand it back after this).
        Assert.Throws<PoolOutOfSpaceException>((Action)(() => { while (true) { pool.New<Account>(); } }));

        // This thread took the last free block from every arena before giving up: no other thread finds one either.
        for (var i = 0; i < 4; i++)
        {
            Assert.IsType<PoolOutOfSpaceException>(NewAccountOnAnotherThread(pool));
        }

        Assert.True(pool.Check().IsConsistent);
    }

    /// <summary>What a new thread's <c>New&lt;Account&gt;()</c> throws, if anything (a failure there must not end the process).</summary>
    internal static Exception? NewAccountOnAnotherThread(PersistentPool pool)
    {
        Exception? error = null;
        var other = new Thread(() => error = Record.Exception(() => pool.New<Account>()));
        other.Start();
        other.Join();
        return error;
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
                reopened.ThreadAllocationCache.ReturnAll();
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
