// SharedThreadTransactionTests -- async flows share threads: one that awaits inside a scope never swallows another's commits, and scopes ended out of order leave nothing open.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Indexes;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Transactions;

/// <summary>
/// A transaction is the thread's, but a thread runs many async flows: after one awaits inside its scope, the thread runs
/// the next work item (a thread-pool thread) or message (a UI thread), whose transactions and writes must be its own
/// and durable when they return. Before, they joined the left-behind transaction and were lost when it rolled back (an
/// outside tester lost most of 300 acknowledged commits of correct flows beside 8 flows that awaited inside scopes).
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class SharedThreadTransactionTests : IDisposable
{
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-shared-thread");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Work_a_thread_runs_while_another_flow_awaits_inside_a_scope_is_its_own_and_durable()
    {
        var path = Path.Combine(_directory, "one-thread.pool");
        var gate = new TaskCompletionSource(); // completed on the test thread: the continuation runs there, inline
        Exception? awaitError = null;
        using (var pool = PersistentPool.Create(path, "tests", 16 << 20))
        {
            var root = pool.Root<Account>();
            var (left, committed, single) = (pool.New<Account>(), pool.New<Account>(), pool.New<Account>());
            using (var tx = pool.BeginTransaction())
            {
                root.Next = left;
                left.Next = committed;
                committed.Next = single;
                tx.Commit();
            }

            async Task AwaitInside()
            {
                using var tx = pool.BeginTransaction();
                left.Balance = 555;
                await gate.Task; // returns to the caller: the thread goes on with other work
                throw new ApplicationException("the request failed"); // its scope rolls back
            }

            var flow = AwaitInside();
            Assert.False(flow.IsCompleted);

            // The thread's next work, of another flow: a transaction of its own, and a single write outside any.
            using (var tx = pool.BeginTransaction())
            {
                committed.Balance = 7;
                tx.Commit();
            }

            single.Balance = 9;
            gate.SetResult();
            awaitError = Record.Exception(() => flow.GetAwaiter().GetResult());
        }

        Assert.IsType<ApplicationException>(awaitError); // not replaced by an exception of the scope's Dispose
        using var reopened = PersistentPool.Open(path, "tests");
        var first = reopened.Root<Account>().Next!;
        Assert.Equal((0L, 7L, 9L), (first.Balance, first.Next!.Balance, first.Next.Next!.Balance));
    }

    [Fact]
    public void Objects_a_given_up_transaction_made_keep_their_blocks_so_that_its_late_writes_reach_nobody_elses()
    {
        // An outside tester's flow made an object in a scope and awaited; the thread's next work gave the transaction
        // up, which freed the block, and a correct flow's committed object took it; the first flow's write after the
        // await then overwrote that object (a collection field became 6).
        using var pool = PersistentPool.Create(Path.Combine(_directory, "late-writes.pool"), "tests", 16 << 20);
        var gate = new TaskCompletionSource();

        async Task AwaitInside()
        {
            using var tx = pool.BeginTransaction();
            var made = pool.New<Account>();
            await gate.Task;
            made.Balance = 6; // its transaction was given up: the handle refuses (the block stays reserved all the same)
            made.Owner = "late";
            tx.Commit();
        }

        var flow = AwaitInside();
        var committed = new List<Account>();
        for (var i = 0; i < 50; i++)
        {
            using var tx = pool.BeginTransaction();
            var account = pool.New<Account>();
            account.Balance = 1_000 + i;
            committed.Add(account);
            tx.Commit();
        }

        gate.SetResult();
        var late = Assert.IsType<PersistentDanglingReferenceException>(Record.Exception(() => flow.GetAwaiter().GetResult()));
        Assert.Contains("given up after an await", late.Message);
        Assert.Equal(Enumerable.Range(1_000, 50).Select(i => (long)i), committed.Select(account => account.Balance));
        Assert.All(committed, account => Assert.Null(account.Owner));
        Assert.True(pool.Check().IsClean);
    }

    [Fact]
    public void An_object_kept_past_the_rollback_of_the_transaction_that_made_it_refuses_every_use()
    {
        // The same without an await (an outside tester's flow wrote its order after its scope had rolled back; the write
        // landed in a committed customer whose block had been the order's).
        using var pool = PersistentPool.Create(Path.Combine(_directory, "rolled-back.pool"), "tests", 16 << 20);
        Account kept;
        using (pool.BeginTransaction())
        {
            kept = pool.New<Account>();
            kept.Balance = 5;
        } // rolled back: the block is free

        var committed = new List<Account>();
        for (var i = 0; i < 20; i++)
        {
            var account = pool.New<Account>(); // takes the freed block, among others
            account.Balance = 1_000 + i;
            committed.Add(account);
        }

        var refused = Assert.Throws<PersistentDanglingReferenceException>(() => kept.Balance = 6);
        Assert.Contains("rolled back", refused.Message);
        Assert.Throws<PersistentDanglingReferenceException>(() => kept.Owner);
        Assert.Throws<PersistentDanglingReferenceException>(() => pool.Root<Account>().Next = kept);
        Assert.Throws<PersistentDanglingReferenceException>(() => pool.Delete(kept));
        Assert.Equal(Enumerable.Range(1_000, 20).Select(i => (long)i), committed.Select(account => account.Balance));

        Account made;
        using (var tx = pool.BeginTransaction())
        {
            made = pool.New<Account>();
            tx.Commit();
        }

        made.Balance = 7; // committed: the handle works
        Assert.Equal(7, made.Balance);
        Assert.True(pool.Check().IsClean);
    }

    [Fact]
    public void A_collection_taken_from_an_object_of_a_rolled_back_transaction_refuses_with_the_reason()
    {
        // An outside tester kept a list handle past its owner's rollback: its next Add threw a type mismatch ("offset N
        // does not designate an allocated object") that did not say why.
        using var pool = PersistentPool.Create(Path.Combine(_directory, "rolled-back-list.pool"), "tests", 16 << 20);
        PersistentList<long> numbers;
        using (pool.BeginTransaction())
        {
            numbers = pool.New<Registry>().Numbers;
            numbers.Add(1); // creates the list in the transaction
        }

        var refused = Assert.Throws<PersistentDanglingReferenceException>(() => numbers.Add(2));
        Assert.Contains("rolled back", refused.Message);
        Assert.Throws<PersistentDanglingReferenceException>(() => numbers.Count);
        Assert.True(pool.Check().IsClean);
    }

    [Fact]
    public void Commits_of_correct_flows_beside_flows_that_await_inside_scopes_are_all_durable()
    {
        var path = Path.Combine(_directory, "pool-threads.pool");
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<long>();
        using (var pool = PersistentPool.Create(path, "tests", 32 << 20))
        {
            var club = pool.Root<Club>();
            var guard = new Lock(); // the club's list is shared: flows add to it under a lock of their own

            async Task Misbehaving(int flow)
            {
                try
                {
                    using var tx = pool.BeginTransaction();
                    pool.New<Account>().Balance = -flow;
                    await Task.Delay(20);
                    throw new ApplicationException("the request failed");
                }
                catch (ApplicationException)
                {
                }
            }

            async Task Correct(int flow)
            {
                for (var k = 0; k < 15; k++)
                {
                    await Task.Delay(1);
                    var number = flow * 1_000 + k;
                    lock (guard)
                    {
                        using var tx = pool.BeginTransaction();
                        var member = pool.New<Member>();
                        member.Number = number; // a unique index: the index lock, taken and released in the scope
                        club.Members.Add(member);
                        tx.Commit();
                    }

                    acknowledged.Add(number); // Commit returned: durable
                }
            }

            var all = Task.WhenAll(Enumerable.Range(1, 6).Select(i => Task.Run(() => Misbehaving(i)))
                .Concat(Enumerable.Range(1, 12).Select(i => Task.Run(() => Correct(i)))));
            Assert.True(all.Wait(TimeSpan.FromSeconds(60)), "the flows hang");
        }

        using var reopened = PersistentPool.Open(path, "tests");
        var stored = reopened.Root<Club>().Members.Select(m => m!.Number).ToHashSet();
        Assert.Equal(12 * 15, acknowledged.Count);
        Assert.Empty(acknowledged.Where(number => !stored.Contains(number)));
        Assert.Empty(reopened.All<Account>()); // nothing of the flows that rolled back
        Assert.True(reopened.Check().IsClean);
    }

    [Fact]
    public void Disposing_a_scope_whose_inner_scope_is_open_rolls_both_back_and_leaves_no_transaction_open()
    {
        var path = Path.Combine(_directory, "out-of-order.pool");
        using (var pool = PersistentPool.Create(path, "tests", 16 << 20))
        {
            var root = pool.Root<Account>();
            root.Balance = 1;
            var outer = pool.BeginTransaction();
            var inner = pool.BeginTransaction();
            root.Balance = 14;
            outer.Dispose(); // the inner scope is still open: both end, the transaction rolls back
            Assert.False(inner.IsActive);
            Assert.Equal(1, root.Balance);
            Assert.Contains("ended already", Assert.Throws<InvalidOperationException>(inner.Commit).Message);
            inner.Dispose(); // ended: nothing to do
            using (var next = pool.BeginTransaction()) // an outermost transaction again, not a level of the one above
            {
                root.Balance = 77;
                next.Commit();
            }
        }

        using var reopened = PersistentPool.Open(path, "tests");
        Assert.Equal(77, reopened.Root<Account>().Balance);
    }
}
