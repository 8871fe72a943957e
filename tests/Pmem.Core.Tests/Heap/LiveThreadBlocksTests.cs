// LiveThreadBlocksTests -- a full pool takes back the blocks live threads keep in their caches, safely beside their owners.
using Pmem.Heap;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Heap;

/// <summary>
/// Blocks a live thread keeps (prepared, or freed by its commits) come back to the heap when another thread finds the
/// pool full (<see cref="AllocationCache.TakeBack"/>), and a take-back racing with the owner's own allocations never
/// hands a block to two owners.
/// </summary>
public sealed class LiveThreadBlocksTests
{
    [Fact]
    public void A_full_pool_takes_back_what_an_idle_live_thread_keeps()
    {
        using var alone = KeptBlockTests.NewPool();
        var capacity = KeptBlockTests.FillWithAccounts(alone).Count;

        // A thread allocates two accounts (preparing a batch) and deletes one (keeping its block), then waits, alive,
        // as a pool thread between requests does: it would use those blocks only for its own next allocations.
        using var pool = KeptBlockTests.NewPool();
        using var keeping = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        AllocationCache? idle = null;
        Exception? afterwards = null;
        var helper = new Thread(() =>
        {
            idle = KeptBlockTests.KeepBlocksOnThisThread(pool);
            keeping.Set();
            resume.Wait();
            afterwards = Record.Exception(() => pool.New<Account>());
        });
        helper.Start();
        try
        {
            Assert.True(keeping.Wait(TimeSpan.FromSeconds(30)));
            Assert.True(idle!.HoldsBlocks);

            Assert.Equal(capacity - 1, KeptBlockTests.FillWithAccounts(pool).Count); // every block but the helper's account
            Assert.False(idle.HoldsBlocks);
            Assert.False(idle.GivenBack); // still the helper's cache
        }
        finally
        {
            resume.Set();
            helper.Join();
        }

        Assert.IsType<PoolOutOfSpaceException>(afterwards); // full for the helper too: its blocks went to the main thread
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void Taking_back_a_threads_blocks_while_it_allocates_and_frees_hands_no_block_out_twice()
    {
        using var pool = KeptBlockTests.NewPool();
        var lasting = Enumerable.Range(0, 8).Select(_ => pool.New<Account>().Offset).ToHashSet();
        AllocationCache? cache = null;
        var takenBack = 0;
        var duplicates = new List<string>();
        using var started = new ManualResetEventSlim();
        var done = 0;
        Exception? failure = null;
        var owner = new Thread(() =>
        {
            try
            {
                cache = pool.ThreadAllocationCache;
                started.Set();
                AllocateAndFree(pool, lasting, duplicates, DateTime.UtcNow.AddMilliseconds(700));
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                Volatile.Write(ref done, 1);
            }
        }) { IsBackground = true }; // a damaged heap could keep it looping after the test fails
        owner.Start();
        Assert.True(started.Wait(TimeSpan.FromSeconds(30)));
        var giveUp = DateTime.UtcNow.AddSeconds(30); // the test fails, it never hangs
        while (Volatile.Read(ref done) == 0 && DateTime.UtcNow < giveUp)
        {
            takenBack += cache!.TakeBack() ? 1 : 0;
        }

        Assert.True(owner.Join(TimeSpan.FromSeconds(30)), "the owner never finished");
        Assert.Null(failure);
        Assert.Empty(duplicates);
        Assert.True(takenBack > 0, "no take-back found blocks to return");
        Assert.True(pool.Check().IsConsistent);
        Assert.Equal(lasting.Count, pool.GetStatistics().ObjectsPerType["Tests.Account"]);
    }

    [Fact]
    public void Threads_filling_a_pool_in_different_size_classes_at_once_neither_hang_nor_share_a_block()
    {
        // Each thread allocates (objects, or strings of its own size class) until the pool is full, frees half of what
        // it holds, and goes on: out-of-room give-backs on several threads at once, each taking other classes' locks.
        using var pool = KeptBlockTests.NewPool();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var deadline = DateTime.UtcNow.AddMilliseconds(800);
        var threads = Enumerable.Range(0, 4).Select(thread => new Thread(() =>
        {
            try
            {
                FillAndFree(pool, stringLength: thread switch { 0 => 0, 1 => 20, 2 => 120, _ => 500 }, deadline);
            }
            catch (Exception e)
            {
                failures.Enqueue(e);
            }
        }) { IsBackground = true }).ToList();
        threads.ForEach(thread => thread.Start());
        Assert.True(threads.All(thread => thread.Join(TimeSpan.FromSeconds(60))), "a thread hangs");
        Assert.Empty(failures);
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
    }

    /// <summary>
    /// Until <paramref name="deadline"/>: accounts (with an owner string of <paramref name="stringLength"/> characters
    /// unless 0) until the pool is full, then half of them deleted; each account's balance is its own number, checked
    /// before it is deleted (a block handed to two owners would show another's).
    /// </summary>
    private static void FillAndFree(PersistentPool pool, int stringLength, DateTime deadline)
    {
        var held = new List<(Account Account, long Number)>();
        var owner = stringLength > 0 ? new string('o', stringLength) : null;
        for (long number = 1; DateTime.UtcNow < deadline; number++)
        {
            try
            {
                var account = pool.New<Account>();
                held.Add((account, number));
                account.Balance = number;
                account.Owner = owner;
            }
            catch (PoolOutOfSpaceException)
            {
                var freeing = (held.Count + 1) / 2;
                foreach (var (account, expected) in held.Take(freeing))
                {
                    Assert.Equal(expected, account.Balance);
                    pool.Delete(account);
                }

                held.RemoveRange(0, freeing);
            }
        }
    }

    /// <summary>
    /// Until <paramref name="deadline"/>: allocations out of the cache and from new batches, in and out of
    /// transactions, then frees the cache keeps; a block seen twice at once, or one of <paramref name="lasting"/>, is
    /// noted in <paramref name="duplicates"/>.
    /// </summary>
    private static void AllocateAndFree(PersistentPool pool, HashSet<long> lasting, List<string> duplicates, DateTime deadline)
    {
        while (DateTime.UtcNow < deadline)
        {
            var batch = new List<Account>();
            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < AllocationCache.MaxBatch / 2; i++)
                {
                    batch.Add(pool.New<Account>());
                }

                tx.Commit();
            }

            batch.Add(pool.New<Account>());
            var offsets = batch.Select(account => account.Offset).ToList();
            if (offsets.Distinct().Count() != offsets.Count || offsets.Any(lasting.Contains))
            {
                duplicates.Add(string.Join(", ", offsets));
            }

            using (var tx = pool.BeginTransaction())
            {
                batch.ForEach(pool.Delete);
                tx.Commit();
            }
        }
    }
}
