// LazyCollectionTests -- collections are created by their first insert: reads write nothing, rollbacks leave no trace.
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Objects;

public sealed class LazyCollectionTests
{
    private static PersistentPool NewPool(out MemoryDomain domain) =>
        PersistentPool.Create(domain = MemoryDomain.Create(8 << 20), "tests");

    /// <summary>Checks the pool, after freeing <paramref name="alsoRoot"/> (no reference reaches it: it would count as leaked).</summary>
    private static void AssertSound(PersistentPool pool, PersistentObject? alsoRoot = null)
    {
        if (alsoRoot is not null)
        {
            pool.Delete(alsoRoot);
        }

        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    /// <summary>Every read the collections offer, on every kind; returns what they saw, which must be nothing.</summary>
    private static int ReadEverything(Registry registry, Index index)
    {
        Assert.Equal(-1, registry.Accounts.IndexOf(null));
        var seen = registry.Accounts.Count + registry.Accounts.Count(a => a is not null);
        seen += registry.Numbers.Count + registry.Numbers.Capacity + (registry.Numbers.Contains(3) ? 1 : 0) + registry.Numbers.Sum(n => (int)n);
        seen += registry.Lines.Count + registry.Lines.Count(l => l is not null) + (int)registry.Lines.Offset;
        seen += registry.Counters.Count + (registry.Counters.TryGetValue(7, out _) ? 1 : 0) + (registry.Counters.ContainsKey(8) ? 1 : 0) + registry.Counters.Keys.Count;
        seen += registry.Names.Count + (registry.Names.TryGetValue("x", out _) ? 1 : 0) + registry.Names.Values.Count + (int)registry.Names.Offset;
        seen += registry.ById.Count + registry.ById.Count() + (registry.ById.ContainsKey(1) ? 1 : 0);
        seen += index.Numbers.Count + index.Numbers.Count() + index.Numbers.Range(0, 100).Count() + index.Numbers.From(5).Count() + index.Numbers.To(5).Count();
        seen += index.Numbers.Reversed().Count() + (index.Numbers.TryGetFirst(out _) ? 1 : 0) + (index.Numbers.TryGetLast(out _) ? 1 : 0);
        seen += (index.Numbers.TryGetFloor(3, out _) ? 1 : 0) + (index.Numbers.TryGetCeiling(3, out _) ? 1 : 0) + (index.Numbers.ContainsKey(3) ? 1 : 0);
        seen += index.Names.Count + (index.Names.TryGetValue("a", out _) ? 1 : 0) + index.Names.Keys.Count + (int)index.Names.Offset;
        seen += index.ById.Count + index.ById.Count();
        seen += index.Tags.Count + (index.Tags.Contains(4) ? 1 : 0) + index.Tags.Count() + index.Tags.Range(1, 9).Count();
        seen += index.Words.Count + (index.Words.Contains("w") ? 1 : 0) + index.Words.Count();
        Assert.Throws<ArgumentOutOfRangeException>(() => registry.Numbers[0]);
        Assert.Throws<KeyNotFoundException>(() => registry.Counters[1]);
        Assert.Throws<InvalidOperationException>(() => index.Numbers.First());
        return seen; // the Offsets among them are 0 too: no header
    }

    [Fact]
    public void Reading_every_collection_kind_of_a_fresh_object_stores_nothing()
    {
        using var pool = NewPool(out var domain);
        var (registry, index) = (pool.Root<Registry>(), pool.New<Index>());
        var image = domain.ToArray();
        var used = pool.GetStatistics().AllocatedBytes;
        var stores = new StoreCounter();
        domain.StoreObserver = stores;
        try
        {
            Assert.Equal(0, ReadEverything(registry, index)); // every read saw an empty collection
            Assert.Equal(0, index.Numbers.Offset + registry.Accounts.Offset + index.Tags.Count);
            registry.Numbers.Clear(); // clearing what was never created has nothing to write either
            index.Names.Clear();
            registry.Names.Clear();
            Assert.False(registry.Counters.Remove(3));
            Assert.False(index.Tags.Remove(3));
            Assert.Equal(2, pool.All<Registry>().Count() + pool.All<Index>().Count());
        }
        finally
        {
            domain.StoreObserver = null;
        }

        Assert.Equal(0, stores.Count);
        Assert.Equal(used, pool.GetStatistics().AllocatedBytes);
        Assert.True(image.AsSpan().SequenceEqual(domain.ToArray()), "a read changed the pool image");
        AssertSound(pool, index);
    }

    [Fact]
    public void A_first_insert_in_a_rolled_back_transaction_leaves_every_field_zero_and_leaks_nothing()
    {
        using var pool = NewPool(out var domain);
        var (registry, index) = (pool.Root<Registry>(), pool.New<Index>());
        var used = pool.GetStatistics().AllocatedBytes;
        var (numbers, names, tags, words) = (registry.Numbers, registry.Names, index.Tags, index.Words); // handles kept across the rollback
        using (pool.BeginTransaction())
        {
            numbers.Add(1);
            registry.Lines.Add("line");
            names["a"] = "b";
            registry.Counters[1] = 2;
            index.Numbers[3] = 4;
            index.Names["k"] = "v";
            tags.Add(5);
            words.Add("w");
            Assert.Equal((1, 1, 1, 1), (numbers.Count, registry.Numbers.Count, tags.Count, index.Tags.Count)); // the transaction sees its own creations
            Assert.NotEqual(0, numbers.Offset);
        }

        for (var field = 0; field < 48; field += 8)
        {
            Assert.Equal(0L, domain.Read<long>(registry.Offset + field));
        }

        for (var field = 0; field < 40; field += 8)
        {
            Assert.Equal(0L, domain.Read<long>(index.Offset + field));
        }

        Assert.Equal((0, 0, 0, 0), (numbers.Count, names.Count, tags.Count, words.Count)); // the kept handles forgot the freed headers
        Assert.Equal(0, numbers.Offset);
        Assert.Equal(used, pool.GetStatistics().AllocatedBytes); // the headers made in the transaction were freed

        numbers.Add(9); // and the same handles create anew, outside any transaction
        tags.Add(6);
        Assert.Equal((9L, 6L), (registry.Numbers[0], index.Tags.Single()));
        AssertSound(pool, index);
    }

    [Fact]
    public void A_rollback_by_an_inner_scope_forgets_the_created_header_before_the_outer_scope_closes()
    {
        using var pool = NewPool(out var domain);
        var registry = pool.Root<Registry>();
        var numbers = registry.Numbers;
        using (pool.BeginTransaction())
        {
            using (pool.BeginTransaction())
            {
                numbers.Add(1);
                Assert.Single(numbers);
            } // disposed without commit: the whole transaction rolls back, the header is released now

            Assert.Equal((0, 0, 0L), (numbers.Count, registry.Numbers.Count, numbers.Offset)); // not the released block
            Assert.Throws<Pmem.Transactions.TransactionAbortedException>(() => numbers.Add(2));
        }

        Assert.Equal(0L, domain.Read<long>(registry.Offset + 32));
        AssertSound(pool);
    }

    [Fact]
    public void A_first_insert_outside_a_transaction_publishes_the_header_for_every_handle_and_the_next_open()
    {
        using var pool = NewPool(out var domain);
        var registry = pool.Root<Registry>();
        var index = pool.New<Index>();
        var early = registry.Counters; // taken before the dictionary exists
        Assert.Empty(early);
        registry.Counters[4] = 40;
        Assert.NotEqual(0L, domain.Read<long>(registry.Offset + 8));
        Assert.Equal((40L, 1), (early[4], early.Count)); // the early handle finds the header on its next access
        index.Words.Add("b");
        index.Words.Add("a");
        index.Numbers.Add(2, 20);
        Assert.Equal(["a", "b"], index.Words.ToArray());
        AssertSound(pool, index); // the index goes with its lazily created collections

        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(domain.ToArray()), "tests");
        Assert.Equal(40L, reopened.Root<Registry>().Counters[4]);
        AssertSound(reopened);
    }

    [Fact]
    public void Handles_in_one_transaction_share_the_created_header_and_keep_it_after_commit()
    {
        using var pool = NewPool(out _);
        var registry = pool.Root<Registry>();
        var (first, second) = (registry.Lines, registry.Lines);
        using (var tx = pool.BeginTransaction())
        {
            first.Add("one");
            second.Add("two"); // finds the header the first handle made, in this transaction
            Assert.Equal(first.Offset, second.Offset);
            tx.Commit();
        }

        Assert.Equal(["one", "two"], first.ToArray());
        Assert.Equal(["one", "two"], registry.Lines.ToArray());
        AssertSound(pool);
    }

    [Fact]
    public void A_second_thread_waits_for_the_creating_transaction_and_uses_its_header_after_commit()
    {
        using var pool = NewPool(out _);
        var registry = pool.Root<Registry>();
        var second = RunAgainstOpenCreation(pool, () => registry.Numbers.Add(1), () => registry.Numbers.Add(2), commit: true);
        Assert.Null(second);
        Assert.Equal([1L, 2L], registry.Numbers.Order().ToArray()); // one header: neither insert was lost
        AssertSound(pool);
    }

    [Fact]
    public void A_second_thread_waiting_for_a_sorted_collections_creation_inserts_into_the_tree_it_made()
    {
        using var pool = NewPool(out _);
        var index = pool.Root<Index>();
        Assert.Null(RunAgainstOpenCreation(pool, () => index.Numbers[1] = 10, () => index.Numbers[2] = 20, commit: true));
        Assert.Null(RunAgainstOpenCreation(pool, () => index.Tags.Add(1), () => index.Tags.Add(2), commit: true));
        Assert.Equal([1L, 2L], index.Numbers.Keys.ToArray()); // neither first leaf replaced the other's
        Assert.Equal(2, index.Numbers.Count);
        Assert.Equal([1L, 2L], index.Tags.ToArray());
        Assert.Equal(2, index.Tags.Count);
        AssertSound(pool);
    }

    [Fact]
    public void A_second_thread_waits_for_the_creating_transaction_and_creates_its_own_after_rollback()
    {
        using var pool = NewPool(out _);
        var registry = pool.Root<Registry>();
        var second = RunAgainstOpenCreation(pool, () => registry.Numbers.Add(1), () => registry.Numbers.Add(2), commit: false);
        Assert.Null(second);
        Assert.Equal([2L], registry.Numbers.ToArray());
        AssertSound(pool);
    }

    [Fact]
    public void A_collection_creation_left_open_by_a_thread_that_ended_holds_no_later_insert_up()
    {
        using var pool = NewPool(out _);
        var (registry, index) = (pool.Root<Registry>(), pool.New<Index>());
        var careless = new Thread(() =>
        {
            _ = pool.BeginTransaction(); // never committed nor disposed: the thread ends with it open
            registry.Numbers.Add(1);
            index.Numbers[1] = 10;
        });
        careless.Start();
        careless.Join();

        var other = new Thread(() =>
        {
            using var tx = pool.BeginTransaction();
            registry.Numbers.Add(2);
            index.Numbers[2] = 20;
            tx.Commit();
        }) { IsBackground = true }; // a failure leaves it waiting: it must not keep the test process alive
        other.Start();
        Assert.True(other.Join(TimeSpan.FromSeconds(30)), "an insert waits for a creation nobody will end");
        Assert.Equal([2L], registry.Numbers.ToArray());
        Assert.Equal([2L], index.Numbers.Keys.ToArray());
        AssertSound(pool, index);
    }

    /// <summary>
    /// This thread creates a collection (<paramref name="first"/>) in a transaction it holds open; another inserts into
    /// it meanwhile (<paramref name="second"/>) and must wait (it is seen waiting) until this one commits or rolls
    /// back. Returns the other's failure, if any.
    /// </summary>
    private static Exception? RunAgainstOpenCreation(PersistentPool pool, Action first, Action second, bool commit)
    {
        Exception? failure = null;
        var tx = pool.BeginTransaction();
        first();
        var other = new Thread(() =>
        {
            try
            {
                second();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        other.Start();
        WaitUntil(() => pool.CollectionCreationWaiters == 1 || !other.IsAlive);
        Assert.True(other.IsAlive, "the second insert did not wait for the creating transaction");
        if (commit)
        {
            tx.Commit();
        }

        tx.Dispose();
        Assert.True(other.Join(TimeSpan.FromSeconds(30)), "the waiting insert never resumed");
        return failure;
    }

    [Fact]
    public void Two_transactions_creating_what_the_other_waits_for_end_with_one_rolled_back_not_a_deadlock()
    {
        using var pool = NewPool(out _);
        var registry = pool.Root<Registry>();
        Exception? failure = null;
        using var bHasCreated = new ManualResetEventSlim();
        var other = new Thread(() =>
        {
            try
            {
                using var tx = pool.BeginTransaction();
                registry.Lines.Add("b");      // B creates the lines
                bHasCreated.Set();
                WaitUntil(() => pool.CollectionCreationWaiters == 1); // A waits for B's lines
                registry.Numbers.Add(2);      // B would wait for A's numbers: a cycle, refused
                tx.Commit();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });

        using (var tx = pool.BeginTransaction())
        {
            registry.Numbers.Add(1);          // A creates the numbers
            other.Start();
            bHasCreated.Wait(TimeSpan.FromSeconds(30));
            registry.Lines.Add("a");          // waits for B, which rolls back: then A creates the lines itself
            tx.Commit();
        }

        Assert.True(other.Join(TimeSpan.FromSeconds(30)));
        Assert.IsType<InvalidOperationException>(failure);
        Assert.Equal(["a"], registry.Lines.ToArray());
        Assert.Equal([1L], registry.Numbers.ToArray());
        AssertSound(pool);
    }

    [Fact]
    public void A_creating_transaction_given_up_on_another_thread_lets_a_waiting_insert_go_at_once()
    {
        using var pool = NewPool(out _);
        var registry = pool.Root<Registry>();
        Pmem.Transactions.Transaction creating = default;
        using var created = new ManualResetEventSlim();
        using var finish = new ManualResetEventSlim();
        var creator = new Thread(() =>
        {
            creating = pool.BeginTransaction();
            registry.Lines.Add("never"); // creates the lines in a transaction that is then given up elsewhere
            created.Set();
            finish.Wait(TimeSpan.FromSeconds(60)); // stays away from the pool, as a thread after an await does
        })
        { IsBackground = true };
        creator.Start();
        created.Wait(TimeSpan.FromSeconds(30));

        Exception? failure = null;
        var waiter = new Thread(() => failure = Record.Exception(() => registry.Lines.Add("kept"))) { IsBackground = true };
        waiter.Start();
        WaitUntil(() => pool.CollectionCreationWaiters == 1 || !waiter.IsAlive);

        Assert.Null(Record.Exception(creating.Dispose)); // on this thread: given up (without an exception of its own)
        Assert.True(waiter.Join(TimeSpan.FromSeconds(30)), "the insert still waits for a transaction nobody will end");
        finish.Set();
        creator.Join();
        Assert.Null(failure);
        Assert.Equal(["kept"], registry.Lines.ToArray());
        AssertSound(pool);
    }

    private static void WaitUntil(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(30); !condition(); Thread.Sleep(1))
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the other thread");
        }
    }

    private sealed class StoreCounter : IStoreObserver
    {
        public int Count;

        public void OnStore(long offset, long length) => Interlocked.Increment(ref Count);
    }
}
