using System.Runtime.CompilerServices;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Crash;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Log;

/// <summary>
/// When a commit's apply becomes durable, and how a thread stays counted on a pool between transactions: the two
/// things that keep a commit's locked instructions away from its write-backs (see CommitPipeline).
/// </summary>
public sealed class CommitProtocolTests
{
    /// <summary>A simulated pool with two accounts, the first set to 5 by a committed transaction.</summary>
    private static (SimulatedDomain Domain, PersistentPool Pool, Account First, Account Second) PoolWithOneCommit()
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
        var (first, second) = (pool.New<Account>(), pool.New<Account>());
        using (var tx = pool.BeginTransaction())
        {
            first.Balance = 5;
            tx.Commit();
        }

        return (domain, pool, first, second);
    }

    [Fact]
    public void An_apply_is_durable_once_the_same_thread_commits_again()
    {
        var (domain, pool, first, second) = PoolWithOneCommit();
        using var poolLifetime = pool;

        // The apply is stored but its write-back waits for this thread's next drain, which the next commit makes.
        using (var tx = pool.BeginTransaction())
        {
            second.Balance = 6;
            tx.Commit();
        }

        // Raw bytes, no recovery: what the media holds if the power fails now.
        var durable = domain.CrashNonePersisted();
        Assert.Equal(5, BitConverter.ToInt64(durable, checked((int)first.Offset)));
    }

    [Fact]
    public void An_idle_threads_deferred_apply_is_made_durable_by_a_write_outside_the_log()
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength);
        using var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
        var (first, second) = (pool.New<Account>(), pool.New<Account>());
        var worker = new Thread(() =>
        {
            using var tx = pool.BeginTransaction();
            first.Balance = 5;
            tx.Commit();
        });
        worker.Start();
        worker.Join(); // its apply's lines were never flushed by it

        second.Balance = 6; // a write outside the log first makes every applied log durable (and retires them)

        var durable = domain.CrashNonePersisted();
        Assert.Equal((5L, 6L), (BitConverter.ToInt64(durable, checked((int)first.Offset)), BitConverter.ToInt64(durable, checked((int)second.Offset))));
    }

    [Fact]
    public void Making_an_idle_threads_apply_durable_before_a_write_outside_the_log_allocates_nothing()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), PoolCrashTests.LayoutName);
        var (first, second) = (pool.New<Account>(), pool.New<Account>());
        long allocated = 0;
        for (var round = 1; round <= 2; round++) // the second round measures what the first has compiled
        {
            var worker = new Thread(() =>
            {
                using var tx = pool.BeginTransaction();
                first.Balance = round;
                tx.Commit();
            });
            worker.Start();
            worker.Join(); // its apply is pending: the write below flushes its lines and drains

            var before = GC.GetAllocatedBytesForCurrentThread();
            second.Balance = round;
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void A_write_outside_the_log_after_a_commit_records_that_its_drain_retired_the_commit()
    {
        var (domain, pool, _, second) = PoolWithOneCommit();
        using var poolLifetime = pool;

        Assert.True(pool.MustRetireBeforeUnloggedWrite);
        var drains = domain.DrainCount;
        second.Balance = 6; // drains the commit's apply and stores R, then its own drain makes R durable
        Assert.Equal(drains + 2, domain.DrainCount);
        Assert.False(pool.MustRetireBeforeUnloggedWrite); // fails if that drain is not recorded
        second.Balance = 7;
        Assert.Equal(drains + 3, domain.DrainCount);
    }

    [Fact]
    public void Back_to_back_transactions_keep_the_thread_counted_and_a_read_outside_gives_the_count_back()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        var account = pool.New<Account>();
        Assert.Equal(0, pool.OpenTransactionCount);
        for (var i = 1; i <= 3; i++)
        {
            using var tx = pool.BeginTransaction();
            account.Balance = i;
            tx.Commit();
            Assert.Equal(1, pool.OpenTransactionCount);
        }

        Assert.Equal(1, pool.OpenTransactionCount); // still counted between transactions: no locked instruction per transaction
        Assert.Equal(3, account.Balance);            // a read outside a transaction ...
        Assert.Equal(0, pool.OpenTransactionCount); // ... gives the count back, so later reads skip the thread-static
    }

    [Fact]
    public void Beginning_on_another_pool_or_disposing_gives_the_count_back()
    {
        using var first = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        var second = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        using (var tx = first.BeginTransaction())
        {
            first.New<Account>().Balance = 1;
            tx.Commit();
        }

        using (var tx = second.BeginTransaction())
        {
            second.New<Account>().Balance = 2;
            tx.Commit();
        }

        Assert.Equal((0, 1), (first.OpenTransactionCount, second.OpenTransactionCount));
        second.Dispose();
        Assert.Equal(0, second.OpenTransactionCount);
    }

    [Fact]
    public void A_thread_counted_on_a_pool_does_not_keep_it_alive()
    {
        var pool = BeginAndCommitOnAnUndisposedPool();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(pool.TryGetTarget(out _), "the thread's count kept a dropped pool reachable");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<PersistentPool> BeginAndCommitOnAnUndisposedPool()
    {
        var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        using (var tx = pool.BeginTransaction())
        {
            tx.Commit();
        }

        Assert.Equal(1, pool.OpenTransactionCount); // counted, and never given back: the pool is simply dropped
        return new WeakReference<PersistentPool>(pool);
    }

    [Fact]
    public void An_idle_thread_giving_its_count_back_never_hides_another_threads_writes_from_it()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        var account = pool.New<Account>();
        account.Balance = 1;
        using (var tx = pool.BeginTransaction())
        {
            account.Counter = 1; // this thread is now counted, and idle after the commit
            tx.Commit();
        }

        using var written = new ManualResetEventSlim();
        using var readOutside = new ManualResetEventSlim();
        long seenInside = 0;
        var worker = new Thread(() =>
        {
            using var tx = pool.BeginTransaction();
            account.Balance = 42;
            written.Set();
            readOutside.Wait();
            seenInside = account.Balance; // must still overlay its own write set
        });
        worker.Start();
        written.Wait();
        Assert.Equal(1, account.Balance); // this thread gives its count back; the worker's stays
        Assert.Equal(1, pool.OpenTransactionCount);
        readOutside.Set();
        worker.Join();
        Assert.Equal(42, seenInside);
        Assert.Equal(1, account.Balance); // the worker never committed
    }
}
