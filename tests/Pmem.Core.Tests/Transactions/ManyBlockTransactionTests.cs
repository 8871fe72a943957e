using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Transactions;

/// <summary>
/// Transactions with many allocations and frees, past the size where the transaction looks blocks up by offset
/// instead of scanning its lists: writes into its own new objects, frees of its own objects (whose places in the list
/// move), repeated frees, owned strings, commit and rollback.
/// </summary>
public sealed class ManyBlockTransactionTests
{
    private const int Count = 300;

    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(16 << 20), "tests");

    [Fact]
    public void A_transaction_of_hundreds_of_new_objects_writes_them_in_place_frees_some_and_commits_the_rest()
    {
        using var pool = NewPool();
        var root = pool.Root<Registry>();
        var before = pool.GetStatistics();
        using (var tx = pool.BeginTransaction())
        {
            var made = new List<Account>();
            for (var i = 0; i < Count; i++)
            {
                var account = pool.New<Account>();
                account.Owner = $"owner {i}";
                made.Add(account);
            }

            // Written after all were made: the oldest are far from the newest, so the lookup by offset finds them.
            var state = pool.CurrentTransaction()!;
            Assert.All(made, a => Assert.True(state.IsInOwnAllocation(a.Offset, 64) && state.IsInOwnAllocation(a.Offset + 56, 8)));
            Assert.False(state.IsInOwnAllocation(root.Offset, 8));
            Assert.False(state.IsInOwnAllocation(made[0].Offset + 60, 8)); // crosses into the next block
            for (var i = 0; i < Count; i++)
            {
                made[i].Balance = i;
                made[i].Amount = i + 0.25m;
            }

            for (var i = 0; i < Count; i += 3)
            {
                pool.Delete(made[i]); // made here: never allocated, with its string
            }

            for (var i = 0; i < Count; i++)
            {
                if (i % 3 != 0)
                {
                    root.Accounts.Add(made[i]);
                }
            }

            tx.Commit();
        }

        var kept = Enumerable.Range(0, Count).Where(i => i % 3 != 0).ToArray();
        Assert.Equal(kept.Select(i => ($"owner {i}", (long)i, i + 0.25m)), root.Accounts.Select(a => (a!.Owner!, a.Balance, a.Amount)));
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
        Assert.Equal(before.ObjectCount + 2 * kept.Length + 2, pool.GetStatistics().ObjectCount); // objects, strings, list header and storage
    }

    [Fact]
    public void Freeing_hundreds_of_objects_twice_in_one_transaction_frees_each_once()
    {
        using var pool = NewPool();
        var root = pool.Root<Registry>();
        var made = new List<Account>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < Count; i++)
            {
                var account = pool.New<Account>();
                account.Owner = $"owner {i}";
                made.Add(account);
            }

            tx.Commit();
        }

        var before = pool.GetStatistics().ObjectCount;
        using (var tx = pool.BeginTransaction())
        {
            foreach (var account in made)
            {
                pool.Delete(account);
            }

            Assert.Empty(pool.All<Account>());
            foreach (var account in made)
            {
                pool.Delete(account); // recorded already: nothing more to free
            }

            tx.Commit();
        }

        Assert.Equal(before - 2 * Count, pool.GetStatistics().ObjectCount);
        Assert.True(pool.Check().IsConsistent);
        _ = root;
    }

    [Fact]
    public void Consecutive_large_transactions_on_one_thread_see_only_their_own_blocks()
    {
        // A thread keeps its last large transaction's lookups, emptied, for the next: nothing of the first may remain.
        using var pool = NewPool();
        var first = new List<Account>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < Count; i++)
            {
                first.Add(pool.New<Account>());
            }

            for (var i = 0; i < Count; i += 2)
            {
                pool.Delete(first[i]);
            }

            tx.Commit();
        }

        var kept = first.Where((_, i) => i % 2 == 1).ToList();
        var before = pool.GetStatistics().ObjectCount;
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < Count; i++)
            {
                pool.New<Account>().Balance = i;
            }

            var state = pool.CurrentTransaction()!;
            Assert.All(kept, a => Assert.False(state.IsInOwnAllocation(a.Offset, 64))); // the first transaction's, committed
            foreach (var account in kept.Concat(kept))
            {
                pool.Delete(account); // each freed once: the second round finds it recorded
            }

            tx.Commit();
        }

        Assert.Equal(before + Count - kept.Count, pool.GetStatistics().ObjectCount);
        Assert.Equal(Enumerable.Range(0, Count).Select(i => (long)i).Order(), pool.All<Account>().Select(a => a.Balance).Order());
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_large_block_made_early_in_a_many_block_transaction_is_its_own_until_it_is_freed()
    {
        // Offsets outside every run's blocks are looked for only among the transaction's large blocks, which it counts.
        using var pool = NewPool();
        using var tx = pool.BeginTransaction();
        var state = pool.CurrentTransaction()!;
        var large = pool.AllocateInTransaction(1 << 20, TypeTable.BlobTypeIndex);
        var made = Enumerable.Range(0, Count).Select(_ => pool.New<Account>()).ToList();

        Assert.True(state.IsInOwnAllocation(large, 8));
        Assert.True(state.IsInOwnAllocation(large + (512 << 10), 64)); // neither among the newest blocks nor in a run
        Assert.False(state.IsInOwnAllocation(large + (4 << 20), 8));
        Assert.True(state.IsInOwnAllocation(made[0].Offset, 64));

        pool.FreeInTransaction(large); // made here: forgotten, never allocated
        Assert.False(state.IsInOwnAllocation(large + (512 << 10), 64));

        var again = pool.AllocateInTransaction(2 << 20, TypeTable.BlobTypeIndex);
        _ = Enumerable.Range(0, 8).Select(_ => pool.New<Account>()).ToList();
        Assert.True(state.IsInOwnAllocation(again + (1 << 20), 64));
    }

    [Fact]
    public void Rolling_back_a_transaction_of_hundreds_of_blocks_leaves_nothing()
    {
        using var pool = NewPool();
        var root = pool.Root<Registry>();
        root.Numbers.Add(1);
        var before = pool.GetStatistics();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < Count; i++)
            {
                var account = pool.New<Account>();
                account.Owner = $"owner {i}";
                account.Balance = i;
                if (i % 2 == 0)
                {
                    pool.Delete(account);
                }
            }

            Assert.Equal(Count / 2, pool.All<Account>().Count());
        }

        Assert.Equal((before.ObjectCount, before.AllocatedBytes), (pool.GetStatistics().ObjectCount, pool.GetStatistics().AllocatedBytes));
        Assert.Empty(pool.All<Account>());
        Assert.True(pool.Check().IsConsistent);
    }
}
