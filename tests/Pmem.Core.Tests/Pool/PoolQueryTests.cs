using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>A type larger than the largest run block: its objects live in large chunk groups.</summary>
internal sealed class Archive : PersistentObject, IPersistentObject<Archive>
{
    private Archive(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.Archive", 40 * 1024, 0xA2C, []);

    static Archive IPersistentObject<Archive>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteField(0, value); }
}

public sealed class PoolQueryTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(16 << 20), "tests");

    [Fact]
    public void All_returns_every_object_of_the_type_once_in_offset_order_reachable_or_not()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        var accounts = Enumerable.Range(0, 300).Select(i =>
        {
            var account = pool.New<Account>();
            account.Balance = i;
            account.Owner = $"owner {i}"; // strings share the 64-byte class with accounts
            return account;
        }).ToList();
        root.First = accounts[0];
        var ledgers = Enumerable.Range(0, 20).Select(_ => pool.New<Ledger>()).ToList();

        var found = pool.All<Account>().ToList();

        Assert.Equal(accounts.Select(a => a.Offset).Order(), found.Select(a => a.Offset));
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i).Order(), found.Select(a => a.Balance).Order());
        Assert.Equal(ledgers.Select(l => l.Offset).Append(root.Offset).Order(), pool.All<Ledger>().Select(l => l.Offset));
    }

    [Fact]
    public void All_finds_objects_in_large_chunk_groups()
    {
        using var pool = NewPool();
        var archives = Enumerable.Range(0, 3).Select(i => pool.New<Archive>()).ToList();
        pool.Delete(archives[1]);

        Assert.Equal([archives[0].Offset, archives[2].Offset], pool.All<Archive>().Select(a => a.Offset).Order());
    }

    [Fact]
    public void All_of_a_type_never_stored_is_empty_and_records_nothing()
    {
        using var pool = NewPool();
        pool.New<Account>();

        Assert.Empty(pool.All<Ledger>());
        Assert.DoesNotContain(pool.StoredTypes, t => t.Name == Ledger.PersistentType.Name);
    }

    [Fact]
    public void All_survives_a_reopen()
    {
        var pool = NewPool();
        long[] offsets = [.. Enumerable.Range(0, 10).Select(_ => pool.New<Account>().Offset)];
        var image = ((MemoryDomain)pool.Domain).ToArray();
        pool.Dispose();

        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(image), "tests");
        Assert.Equal(offsets.Order(), reopened.All<Account>().Select(a => a.Offset));
    }

    [Fact]
    public void All_inside_a_transaction_sees_its_new_objects_and_not_its_deleted_ones()
    {
        using var pool = NewPool();
        var kept = pool.New<Account>();
        var deleted = pool.New<Account>();
        Account created;
        using (var tx = pool.BeginTransaction())
        {
            created = pool.New<Account>();
            pool.Delete(deleted);

            Assert.Equal([kept.Offset, created.Offset], pool.All<Account>().Select(a => a.Offset));
            Assert.Equal([kept.Offset, created.Offset], pool.AllOfType(Account.PersistentType.Name));
        }

        // Rolled back: the new object never existed, the deleted one lives.
        Assert.Equal([kept.Offset, deleted.Offset], pool.All<Account>().Select(a => a.Offset).Order());
    }

    [Fact]
    public void All_after_a_commit_sees_the_transactions_objects_once()
    {
        using var pool = NewPool();
        var kept = pool.New<Account>();
        Account created;
        using (var tx = pool.BeginTransaction())
        {
            created = pool.New<Account>();
            using var enumerator = pool.All<Account>().GetEnumerator();
            Assert.True(enumerator.MoveNext());
            var seen = new List<long> { enumerator.Current.Offset };
            tx.Commit(); // the new object is in the heap now: still returned once
            while (enumerator.MoveNext())
            {
                seen.Add(enumerator.Current.Offset);
            }

            Assert.Equal([kept.Offset, created.Offset], seen.Order());
        }

        Assert.Equal([kept.Offset, created.Offset], pool.All<Account>().Select(a => a.Offset).Order());
    }

    [Fact]
    public void Deleting_while_enumerating_returns_each_surviving_object_once()
    {
        using var pool = NewPool();
        var accounts = Enumerable.Range(0, 200).Select(_ => pool.New<Account>()).ToList();
        var seen = new List<long>();
        foreach (var account in pool.All<Account>())
        {
            seen.Add(account.Offset);
            if (seen.Count % 2 == 0)
            {
                pool.Delete(account);
            }
        }

        Assert.Equal(accounts.Select(a => a.Offset).Order(), seen);
        Assert.Equal(100, pool.All<Account>().Count());
    }

    [Fact]
    public void Objects_living_throughout_are_found_exactly_once_while_other_threads_allocate_and_free()
    {
        using var pool = NewPool();
        var stable = Enumerable.Range(0, 500).Select(i => { var a = pool.New<Account>(); a.Balance = 1; return a.Offset; }).ToHashSet();
        using var stop = new CancellationTokenSource();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var churn = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            // Bounded: however long the finding takes on a loaded machine, the churn never fills the pool, and a
            // failure here fails the test instead of ending the process.
            var mine = new Queue<PersistentObject>();
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    mine.Enqueue(pool.New<Account>()); // Balance 0: never a stable one
                    mine.Enqueue(pool.New<Ledger>());
                    while (mine.Count > 100)
                    {
                        pool.Delete(mine.Dequeue());
                    }
                }
            }
            catch (Exception failure)
            {
                failures.Enqueue(failure);
            }
        })).ToArray();
        Array.ForEach(churn, thread => thread.Start());

        try
        {
            for (var round = 0; round < 20; round++)
            {
                var found = pool.All<Account>().Select(a => a.Offset).ToList();
                Assert.Equal(found.Count, found.Distinct().Count());
                Assert.Subset(found.ToHashSet(), stable);
            }
        }
        finally
        {
            stop.Cancel();
            Array.ForEach(churn, thread => thread.Join());
        }

        Assert.Empty(failures);
    }

    [Fact]
    public void AllOfType_finds_offsets_by_durable_name_and_refuses_unknown_names()
    {
        using var pool = NewPool();
        var account = pool.New<Account>();

        Assert.Equal([account.Offset], pool.AllOfType("Tests.Account"));
        Assert.Throws<ArgumentException>(() => pool.AllOfType("Tests.Nothing"));
        Assert.Throws<ArgumentNullException>(() => pool.AllOfType(null!));
    }

    [Fact]
    public void All_on_a_disposed_pool_throws()
    {
        var pool = NewPool();
        pool.New<Account>();
        var all = pool.All<Account>();
        pool.Dispose();

        Assert.Throws<ObjectDisposedException>(() => pool.All<Account>());
        Assert.Throws<ObjectDisposedException>(() => all.First());
    }
}
