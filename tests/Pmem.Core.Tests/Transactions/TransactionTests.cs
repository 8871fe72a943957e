using Pmem.Pool;
using Pmem.Transactions;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Transactions;

public sealed class TransactionTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");

    [Fact]
    public void Commit_makes_every_change_visible()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        using (var tx = pool.BeginTransaction())
        {
            root.First = pool.New<Account>();
            root.First!.Balance = 10;
            root.Name = "committed";
            root.Total = 10;
            tx.Commit();
        }

        Assert.Equal((10L, "committed", 10L), (root.First!.Balance, root.Name, root.Total));
    }

    [Fact]
    public void A_second_commit_of_one_scope_says_it_ended_already()
    {
        using var pool = NewPool();
        using var tx = pool.BeginTransaction();
        pool.Root<Account>().Owner = "once";
        tx.Commit();

        var error = Assert.Throws<InvalidOperationException>(() => tx.Commit()); // an outside tester was told it was not the innermost scope
        Assert.Contains("has ended already", error.Message);
        Assert.Equal("once", pool.Root<Account>().Owner);

        using (var next = pool.BeginTransaction())
        {
            pool.Root<Account>().Owner = "next";
            Assert.Contains("has ended already", Assert.Throws<InvalidOperationException>(() => tx.Commit()).Message); // not the next one's commit
            Assert.True(next.IsActive);
        }

        Assert.Equal("once", pool.Root<Account>().Owner);
        using (var inner = pool.BeginTransaction())
        {
            using var nested = pool.BeginTransaction();
            nested.Commit();
            Assert.Contains("has ended already", Assert.Throws<InvalidOperationException>(() => nested.Commit()).Message);
            inner.Commit();
        }
    }

    [Fact]
    public void Reads_inside_a_transaction_see_its_own_writes()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        account.Balance = 1;
        using var tx = pool.BeginTransaction();
        account.Balance = 2;
        account.Amount = 3.5m;
        account.Owner = "inside";
        Assert.Equal((2L, 3.5m, "inside"), (account.Balance, account.Amount, account.Owner));
        tx.Commit();
    }

    [Fact]
    public void Disposing_without_commit_rolls_everything_back()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        root.Total = 1;
        root.Name = "before";
        var objects = pool.GetStatistics().ObjectCount;
        using (pool.BeginTransaction())
        {
            root.Total = 2;
            root.Name = "during";
            root.First = pool.New<Account>();
        }

        Assert.Equal((1L, "before", (Account?)null), (root.Total, root.Name, root.First));
        Assert.Equal(objects, pool.GetStatistics().ObjectCount); // the aborted allocations are free again
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void An_exception_rolls_back()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        account.Balance = 100;
        Assert.Throws<InvalidOperationException>((Action)(() =>
        {
            using var tx = pool.BeginTransaction();
            account.Balance -= 30;
            throw new InvalidOperationException("insufficient funds elsewhere");
        }));
        Assert.Equal(100, account.Balance);
    }

    [Fact]
    public void Nested_transactions_flatten_into_the_outer_one()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        using (var outer = pool.BeginTransaction())
        {
            account.Balance = 1;
            using (var inner = pool.BeginTransaction())
            {
                account.Counter = 2;
                inner.Commit();
            }

            Assert.Equal(0, pool.Domain.Read<long>(account.Offset)); // nothing in place before the outer commit
            outer.Commit();
        }

        Assert.Equal((1L, 2), (account.Balance, account.Counter));
    }

    [Fact]
    public void A_collection_call_that_throws_before_writing_leaves_the_running_transaction_going_on()
    {
        // An outside tester's case: a caught ArgumentException from Add rolled back the whole transaction, so the
        // fallback write threw TransactionAbortedException and the earlier write was lost.
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        var sorted = pool.New<Pmem.Tests.Objects.Index>().Numbers; // unreachable, and that is fine here
        registry.Counters[1] = 10;
        registry.Numbers.Add(5);
        sorted[1] = 10;
        using (var tx = pool.BeginTransaction())
        {
            registry.Counters[2] = 20;
            Assert.Throws<ArgumentException>(() => registry.Counters.Add(1, 11));
            Assert.Throws<ArgumentException>(() => sorted.Add(1, 11));
            Assert.Throws<ArgumentOutOfRangeException>(() => registry.Numbers.Insert(5, 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => registry.Numbers.RemoveAt(-1));
            Assert.Throws<ArgumentOutOfRangeException>(() => registry.Numbers[3] = 1);
            Assert.True(tx.IsActive);
            registry.Counters[1] = 11; // the fallback the caller meant
            sorted[1] = 11;
            tx.Commit();
        }

        Assert.Equal([(1L, 11L), (2L, 20L)], registry.Counters.OrderBy(p => p.Key).Select(p => (p.Key, p.Value)));
        Assert.Equal(11, sorted[1]);
        Assert.Equal([5L], registry.Numbers);
    }

    [Fact]
    public void Disposing_a_committed_scope_late_does_not_roll_back_a_later_scope_at_its_depth()
    {
        // An outside tester's case: scopes were told apart by depth and transaction only, so i1.Dispose() after
        // i1.Commit() and a new i2 at the same depth rolled back the whole transaction.
        using var pool = NewPool();
        var account = pool.Root<Account>();
        using (var outer = pool.BeginTransaction())
        {
            var i1 = pool.BeginTransaction();
            account.Balance = 1;
            i1.Commit();
            var i2 = pool.BeginTransaction();
            account.Counter = 2;
            i1.Dispose();
            Assert.True(i2.IsActive);
            Assert.False(i1.IsActive);
            i2.Commit();
            outer.Commit();
        }

        Assert.Equal((1L, 2), (account.Balance, account.Counter));
    }

    [Fact]
    public void A_transaction_left_open_on_a_disposed_pool_does_not_stop_its_thread_using_another()
    {
        // An outside tester's case: a scope without using, skipped by an exception, then the pool disposed: the thread
        // could begin no transaction (and insert into no collection) on any pool again.
        var first = NewPool();
        first.Root<Account>();
        var forgotten = first.BeginTransaction();
        first.Root<Account>().Balance = 5;
        first.Dispose();
        Assert.False(forgotten.IsActive);

        using var second = NewPool();
        var registry = second.Root<Registry>();
        using (var tx = second.BeginTransaction())
        {
            registry.Numbers.Add(1);
            tx.Commit();
        }

        registry.Counters[1] = 1; // a collection insert outside a transaction begins one of its own
        Assert.Equal([1L], registry.Numbers);
    }

    [Fact]
    public void An_inner_scope_that_wrote_nothing_ends_without_rolling_back()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        using (var outer = pool.BeginTransaction())
        {
            account.Balance = 1;
            using (pool.BeginTransaction())
            {
                _ = account.Counter; // reads only
            }

            Assert.True(outer.IsActive);
            outer.Commit();
        }

        Assert.Equal(1L, account.Balance);
    }

    [Fact]
    public void An_inner_rollback_rolls_back_the_outer_transaction()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        using (var outer = pool.BeginTransaction())
        {
            account.Balance = 1;
            using (pool.BeginTransaction())
            {
                account.Counter = 2;
            }

            Assert.Throws<TransactionAbortedException>(() => outer.Commit());
        }

        Assert.Equal((0L, 0), (account.Balance, account.Counter));
    }

    [Fact]
    public void An_inner_rollback_of_writes_into_the_outer_transactions_new_objects_rolls_back_the_outer_transaction()
    {
        // An outside tester's case: such writes go in place, unlogged, and the inner scope looked as if it wrote nothing.
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        using (var outer = pool.BeginTransaction())
        {
            var account = pool.New<Account>();
            registry.Accounts.Add(account);
            try
            {
                using (pool.BeginTransaction())
                {
                    account.Balance = 500;
                    account.Amount = -500m; // wide
                    account.Id = Guid.NewGuid();
                    throw new InvalidOperationException("the helper fails before its Commit");
                }
            }
            catch (InvalidOperationException)
            {
            }

            Assert.Throws<TransactionAbortedException>(() => outer.Commit());
        }

        Assert.Empty(registry.Accounts);
        Assert.Equal(0, pool.All<Account>().Count(a => a.Balance == 500));
    }

    [Fact]
    public void Frees_inside_a_committed_transaction_happen_at_commit()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        root.First = pool.New<Account>();
        root.First!.Owner = "owned";
        var before = pool.GetStatistics().ObjectCount;
        using (var tx = pool.BeginTransaction())
        {
            pool.Delete(root.First);
            Assert.Equal(before, pool.GetStatistics().ObjectCount);
            root.First = null;
            tx.Commit();
        }

        Assert.Equal(before - 2, pool.GetStatistics().ObjectCount);
    }

    [Fact]
    public void Frees_inside_an_aborted_transaction_do_not_happen()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        root.First = pool.New<Account>();
        var before = pool.GetStatistics().ObjectCount;
        using (pool.BeginTransaction())
        {
            pool.Delete(root.First!);
            root.First = null;
        }

        Assert.NotNull(root.First);
        Assert.Equal(before, pool.GetStatistics().ObjectCount);
    }

    [Fact]
    public void An_object_allocated_and_freed_in_one_transaction_leaves_nothing()
    {
        using var pool = NewPool();
        pool.Root<Ledger>();
        var before = pool.GetStatistics().ObjectCount;
        using (var tx = pool.BeginTransaction())
        {
            var temp = pool.New<Account>();
            temp.Owner = "temporary";
            temp.Owner = "replaced";
            pool.Delete(temp);
            tx.Commit();
        }

        Assert.Equal(before, pool.GetStatistics().ObjectCount);
    }

    [Fact]
    public void A_thread_cannot_run_transactions_on_two_pools_at_once()
    {
        using var first = NewPool();
        using var second = NewPool();
        using var tx = first.BeginTransaction();
        Assert.Throws<InvalidOperationException>(() => second.BeginTransaction());
    }

    [Fact]
    public void Commit_on_an_outer_scope_while_an_inner_is_open_throws()
    {
        using var pool = NewPool();
        using var outer = pool.BeginTransaction();
        using var inner = pool.BeginTransaction();
        Assert.Throws<InvalidOperationException>(() => outer.Commit());
    }

    [Fact]
    public void A_transaction_larger_than_its_lane_slot_commits_whole_and_survives_a_reopen()
    {
        var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), "tests", new PoolCreateOptions { LaneSize = 4096 });
        var registry = pool.Root<Registry>();
        var objects = pool.GetStatistics().ObjectCount;
        using (var tx = pool.BeginTransaction())
        {
            // The example: 1,000 small objects with a string each, added to a list, need ~100 KB of log.
            for (var i = 0; i < 1000; i++)
            {
                var account = pool.New<Account>();
                account.Balance = i;
                account.Counter = -i;
                account.Amount = i + 0.5m;
                account.Owner = $"owner {i}";
                account.Next = registry.Accounts.Count > 0 ? registry.Accounts[^1] : null;
                registry.Accounts.Add(account);
            }

            tx.Commit();
        }

        var image = ((MemoryDomain)pool.Domain).ToArray();
        pool.Dispose();
        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(image), "tests");
        var accounts = reopened.Root<Registry>().Accounts;
        Assert.Equal(1000, accounts.Count);
        Assert.All(Enumerable.Range(0, 1000), i => Assert.Equal(($"owner {i}", (long)i, i + 0.5m), (accounts[i]!.Owner, accounts[i]!.Balance, accounts[i]!.Amount)));
        var report = reopened.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable); // the log's own block was reserved, never allocated
        Assert.Equal(0, report.DetachedObjects);
        Assert.True(reopened.GetStatistics().ObjectCount > objects + 2000);
    }

    [Fact]
    public void A_transaction_larger_than_its_lane_slot_rolls_back_whole()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests", new PoolCreateOptions { LaneSize = 4096 });
        var root = pool.Root<Ledger>();
        var accounts = Enumerable.Range(0, 200).Select(_ => pool.New<Account>()).ToArray();
        var objects = pool.GetStatistics().ObjectCount;
        using (pool.BeginTransaction())
        {
            foreach (var account in accounts)
            {
                account.Amount = 1m;
            }

            root.First = pool.New<Account>();
        } // disposed without a commit

        Assert.All(accounts, a => Assert.Equal(0m, a.Amount));
        Assert.Equal(objects, pool.GetStatistics().ObjectCount);
    }

    [Fact]
    public void Many_transactions_larger_than_their_slot_reuse_the_log_blocks()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests", new PoolCreateOptions { LaneSize = 4096 });
        var accounts = Enumerable.Range(0, 200).Select(_ => pool.New<Account>()).ToArray();
        var used = pool.GetStatistics().AllocatedBytes;
        for (var round = 1; round <= 50; round++)
        {
            using var tx = pool.BeginTransaction();
            foreach (var account in accounts)
            {
                account.Amount = round;
            }

            tx.Commit();
        }

        Assert.All(accounts, a => Assert.Equal(50m, a.Amount));
        Assert.Equal(used, pool.GetStatistics().AllocatedBytes);
        Assert.True(pool.GetStatistics().FreeChunkBytes > 0, "the log blocks must be released, not accumulate");
    }

    [Fact]
    public void Transactions_on_several_threads_conserve_the_sum_of_balances()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), "tests");
        var accounts = Enumerable.Range(0, 8).Select(_ => pool.New<Account>()).ToArray();
        foreach (var account in accounts)
        {
            account.Balance = 1000;
        }

        // Each thread owns two accounts (no shared data, so no locks needed) and moves money between them.
        Parallel.For(0, 4, thread =>
        {
            var (from, to) = (accounts[thread * 2], accounts[thread * 2 + 1]);
            for (var i = 0; i < 500; i++)
            {
                using var tx = pool.BeginTransaction();
                from.Balance -= 1;
                to.Balance += 1;
                tx.Commit();
            }
        });

        Assert.Equal(8000, accounts.Sum(a => a.Balance));
        Assert.Equal(500, accounts[0].Balance);
    }

    [Fact]
    public void A_batch_drains_once_at_its_end()
    {
        using var pool = NewPool();
        var domain = (MemoryDomain)pool.Domain;
        var accounts = Enumerable.Range(0, 8).Select(_ => pool.New<Account>()).ToArray();
        accounts[0].Balance = 1; // the first unlogged write after commits drains their applies first (tested below)
        var drains = domain.Drains;
        using (pool.Batch())
        {
            using (pool.Batch())
            {
                foreach (var account in accounts)
                {
                    account.Balance = 7;
                }
            }

            Assert.Equal(drains, domain.Drains);
        }

        Assert.Equal(drains + 1, domain.Drains);
        Assert.All(accounts, a => Assert.Equal(7, a.Balance));
    }

    [Fact]
    public void Ending_a_batch_on_another_thread_throws_a_transaction_is_given_up_and_its_thread_ends_either_when_it_next_comes_by()
    {
        var domain = MemoryDomain.Create(4 << 20);
        domain.KeepImage = true;
        var pool = PersistentPool.Create(domain, "tests");
        var account = pool.New<Account>();
        account.Balance = 1;

        var batch = pool.Batch();
        account.Balance = 2; // flushed, not drained
        var drains = domain.Drains;
        var error = OnOtherThread(batch.Dispose);
        Assert.IsType<InvalidOperationException>(error);
        Assert.Contains("thread that began it", error!.Message);
        Assert.Equal(drains, domain.Drains);
        account.Balance = 3; // the thread's next write ends the given-up batch (a drain) and is durable on its own
        Assert.True(domain.Drains >= drains + 2);
        drains = domain.Drains;
        batch.Dispose(); // ended already: nothing to do
        Assert.Equal(drains, domain.Drains);
        Assert.Null(OnOtherThread(batch.Dispose));

        var tx = pool.BeginTransaction();
        account.Balance = 4;
        Assert.Null(OnOtherThread(tx.Dispose)); // given up, without an exception of its own: one on its way out stays the one seen
        Assert.Null(OnOtherThread(tx.Dispose)); // given up already
        Assert.Equal(3, account.Balance); // the thread forgot it: its write was never committed
        Assert.False(tx.IsActive);
        Assert.Throws<InvalidOperationException>(tx.Commit);

        using (var next = pool.BeginTransaction()) // a new outermost transaction, not a level of the given-up one
        {
            account.Balance = 5;
            next.Commit();
        }

        pool.Dispose();
        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(domain.ImageAtDispose!), "tests");
        Assert.Equal(5, reopened.All<Account>().Single().Balance);
    }

    [Fact]
    public void A_transaction_awaited_across_threads_is_not_committed_and_later_transactions_of_its_thread_are()
    {
        var domain = MemoryDomain.Create(4 << 20);
        domain.KeepImage = true;
        var pool = PersistentPool.Create(domain, "tests");
        var account = pool.New<Account>();
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Exception? awaitError = null;
        long afterward = -1;

        async Task AwaitInside()
        {
            using var tx = pool.BeginTransaction();
            account.Balance = 10;
            await resume.Task; // the rest runs on a thread-pool thread
            tx.Commit();
        }

        var beginner = new Thread(() =>
        {
            var flow = AwaitInside(); // runs to the await on this thread
            resume.SetResult();
            awaitError = Record.Exception(() => flow.GetAwaiter().GetResult());
            using (var tx = pool.BeginTransaction()) // a transaction of its own, not a level of the given-up one
            {
                account.Balance = 20;
                tx.Commit();
            }

            afterward = account.Balance;
        });
        beginner.Start();
        beginner.Join();

        Assert.IsType<InvalidOperationException>(awaitError);
        Assert.Equal(20, afterward);
        pool.Dispose();
        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(domain.ImageAtDispose!), "tests");
        Assert.Equal(20, reopened.All<Account>().Single().Balance);
    }

    private static Exception? OnOtherThread(Action action)
    {
        Exception? error = null;
        var thread = new Thread(() => error = Record.Exception(action));
        thread.Start();
        thread.Join();
        return error;
    }

    [Fact]
    public void A_batch_covers_only_its_own_pool()
    {
        using var pool = NewPool();
        using var other = NewPool();
        var mine = pool.New<Account>();
        var theirs = other.New<Account>();
        mine.Balance = 1;
        theirs.Balance = 1;
        var otherDomain = (MemoryDomain)other.Domain;
        var otherDrains = otherDomain.Drains;
        using (pool.Batch())
        {
            mine.Balance = 2;
            theirs.Balance = 2; // not in the batch: durable on return, so drained now
            Assert.Equal(otherDrains + 1, otherDomain.Drains);
            var error = Assert.Throws<InvalidOperationException>(() => other.Batch());
            Assert.Contains("another pool", error.Message);
        }

        using (other.Batch()) // the ended batch left nothing behind
        {
            theirs.Balance = 3;
            Assert.Equal(otherDrains + 1, otherDomain.Drains);
        }

        Assert.Equal(otherDrains + 2, otherDomain.Drains);
        Assert.Equal((2L, 3L), (mine.Balance, theirs.Balance));
    }

    [Fact]
    public void A_batch_allocates_nothing_and_an_ended_batchs_scope_cannot_end_the_next()
    {
        using var pool = NewPool();
        var domain = (MemoryDomain)pool.Domain;
        var account = pool.New<Account>();
        account.Balance = 1;
        using (pool.Batch())
        {
            account.Balance = 2;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var ended = pool.Batch();
        account.Balance = 3;
        ended.Dispose();
        Assert.Equal(allocated, GC.GetAllocatedBytesForCurrentThread());

        var drains = domain.Drains;
        using (pool.Batch())
        {
            ended.Dispose(); // a stale copy: must not end (and drain) the running batch
            account.Balance = 4;
            Assert.Equal(drains, domain.Drains);
        }

        Assert.Equal(drains + 1, domain.Drains);
    }

    [Fact]
    public void The_newest_write_wins_whatever_the_widths()
    {
        using var pool = NewPool();
        var account = pool.Root<Account>();
        using (var tx = pool.BeginTransaction())
        {
            account.Balance = 0x1111_1111_1111_1111;
            pool.Domain.GetSpan(0, 1); // (no-op) keep the sequence explicit below
            account.Counter = 7;                        // another field on the same line
            account.Balance = 0x2222_2222_2222_2222;    // rewrite: must not be overridden by anything older
            Assert.Equal(0x2222_2222_2222_2222, account.Balance);
            tx.Commit();
        }

        Assert.Equal((0x2222_2222_2222_2222, 7), (account.Balance, account.Counter));
    }

    [Fact]
    public void A_transaction_commits_with_one_drain()
    {
        using var pool = NewPool();
        var domain = (MemoryDomain)pool.Domain;
        var accounts = Enumerable.Range(0, 8).Select(_ => pool.New<Account>()).ToArray();
        var drains = domain.Drains;
        using (var tx = pool.BeginTransaction())
        {
            foreach (var account in accounts)
            {
                account.Balance = 9;
            }

            tx.Commit();
        }

        Assert.Equal(drains + 1, domain.Drains); // the commit point; the apply is drained by this thread's next drain
    }

    [Fact]
    public void Consecutive_transactions_on_one_thread_cost_one_drain_each()
    {
        using var pool = NewPool();
        var domain = (MemoryDomain)pool.Domain;
        var account = pool.New<Account>();
        var drains = domain.Drains;
        for (var i = 0; i < 20; i++) // more commits than a lane has slots: reusing them must not cost a drain
        {
            using var tx = pool.BeginTransaction();
            account.Balance = i;
            tx.Commit();
        }

        Assert.Equal(drains + 20, domain.Drains);
        Assert.Equal(19, account.Balance);
    }

    [Fact]
    public void After_a_clean_close_reopening_replays_nothing()
    {
        var pool = NewPool();
        using (var tx = pool.BeginTransaction())
        {
            pool.Root<Account>().Balance = 5;
            tx.Commit();
        }

        var image = ((MemoryDomain)pool.Domain).ToArray();
        var crashed = PersistentPool.Open(MemoryDomain.FromImage(image), "tests");
        Assert.Equal(1, crashed.RecoveredTransactions); // as if the process had died here: the last log is replayed
        crashed.Dispose();
        pool.Dispose();
        // A clean close retires every log.
        var closed = MemoryDomain.FromImage(image);
        using (var reopened = PersistentPool.Open(closed, "tests"))
        {
            Assert.Equal(5, reopened.Root<Account>().Balance);
        }
    }

    [Fact]
    public void A_durable_write_outside_any_scope_drains_once()
    {
        using var pool = NewPool();
        var domain = (MemoryDomain)pool.Domain;
        var account = pool.Root<Account>(); // a commit
        var drains = domain.Drains;
        account.Balance = 3;
        Assert.Equal(drains + 2, domain.Drains); // the commit's apply is made durable and retired before the write
        account.Balance = 4;
        account.Balance = 5;
        Assert.Equal(drains + 4, domain.Drains);
    }
}
