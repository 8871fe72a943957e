using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Objects;

public sealed class CollectionTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(8 << 20), "tests");

    private static void AssertSound(PersistentPool pool)
    {
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void A_list_behaves_like_a_list()
    {
        using var pool = NewPool();
        var numbers = pool.Root<Registry>().Numbers;
        var model = new List<long>();
        var random = new Random(1);
        for (var i = 0; i < 500; i++)
        {
            switch (random.Next(5))
            {
                case 0 when model.Count > 0:
                    var at = random.Next(model.Count);
                    numbers.RemoveAt(at);
                    model.RemoveAt(at);
                    break;
                case 1:
                    var insertAt = random.Next(model.Count + 1);
                    numbers.Insert(insertAt, i);
                    model.Insert(insertAt, i);
                    break;
                case 2 when model.Count > 0:
                    var set = random.Next(model.Count);
                    numbers[set] = -i;
                    model[set] = -i;
                    break;
                default:
                    numbers.Add(i);
                    model.Add(i);
                    break;
            }
        }

        Assert.Equal(model, numbers);
        Assert.Equal(model.Count, numbers.Count);
        Assert.Equal(model.IndexOf(model[^1]), numbers.IndexOf(model[^1]));
        AssertSound(pool);
    }

    [Fact]
    public void A_string_list_owns_its_strings()
    {
        using var pool = NewPool();
        var lines = pool.Root<Registry>().Lines;
        lines.Add("one");
        lines.Add(null);
        lines.Insert(0, "zero");
        lines[2] = "two";
        Assert.Equal(new[] { "zero", "one", "two" }, lines);
        Assert.True(lines.Remove("one"));
        AssertSound(pool);
        lines.Clear();
        Assert.Empty(lines);
        AssertSound(pool);
        Assert.Equal(2, pool.GetStatistics().ObjectCount); // the registry and the list header
    }

    [Fact]
    public void A_list_of_references_resolves_its_objects()
    {
        using var pool = NewPool();
        var accounts = pool.Root<Registry>().Accounts;
        for (var i = 0; i < 20; i++)
        {
            var account = pool.New<Account>();
            account.Balance = i;
            accounts.Add(account);
        }

        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), accounts.Select(a => a!.Balance));
        AssertSound(pool);
    }

    [Fact]
    public void Inserts_and_removals_inside_a_long_list_move_every_element_with_the_transaction_s_own_writes()
    {
        // 20,000 slots: the new array is copied in several 64 KiB pieces, some holding slots this transaction wrote.
        using var pool = PersistentPool.Create(MemoryDomain.Create(16 << 20), "tests");
        var registry = pool.Root<Registry>();
        var model = Enumerable.Range(0, 20_000).Select(i => (long)i).ToList();
        using (var tx = pool.BeginTransaction())
        {
            model.ForEach(registry.Numbers.Add);
            registry.Lines.Add("first");
            registry.Lines.Add("second");
            tx.Commit();
        }

        using (var tx = pool.BeginTransaction())
        {
            foreach (var (index, value) in new[] { (8_191, -1L), (8_192, -2L), (16_000, -3L) })
            {
                registry.Numbers[index] = value;
                model[index] = value;
            }

            registry.Numbers.Insert(5, 42);
            model.Insert(5, 42);
            registry.Numbers.RemoveAt(15_000);
            model.RemoveAt(15_000);
            registry.Numbers.Insert(model.Count, 7); // at the end: nothing shifted
            model.Add(7);
            registry.Lines.Insert(0, "zeroth");
            registry.Lines.RemoveAt(1);
            Assert.Equal(model, registry.Numbers);
            tx.Commit();
        }

        Assert.Equal(model, registry.Numbers);
        Assert.Equal(["zeroth", "second"], registry.Lines);
        Assert.True(pool.Check().IsClean);
    }

    [Fact]
    public void Enumerating_a_list_that_changes_throws()
    {
        using var pool = NewPool();
        var numbers = pool.Root<Registry>().Numbers;
        numbers.Add(1);
        numbers.Add(2);
        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var n in numbers)
            {
                pool.Root<Registry>().Numbers.Add(n); // through another handle: the stored version still moves
            }
        });
    }

    [Fact]
    public void A_list_mutation_joins_the_running_transaction()
    {
        using var pool = NewPool();
        var numbers = pool.Root<Registry>().Numbers;
        numbers.Add(1);
        using (pool.BeginTransaction())
        {
            for (var i = 0; i < 100; i++)
            {
                numbers.Add(i); // grows several times inside the transaction
            }

            Assert.Equal(101, numbers.Count);
        }

        Assert.Equal(new long[] { 1 }, numbers);
        AssertSound(pool);
    }

    [Fact]
    public void A_dictionary_behaves_like_a_dictionary()
    {
        using var pool = NewPool();
        var counters = pool.Root<Registry>().Counters;
        var model = new Dictionary<long, long>();
        var random = new Random(2);
        for (var i = 0; i < 3000; i++)
        {
            var key = random.Next(400);
            switch (random.Next(3))
            {
                case 0:
                    Assert.Equal(model.Remove(key), counters.Remove(key));
                    break;
                default:
                    counters[key] = i;
                    model[key] = i;
                    break;
            }
        }

        Assert.Equal(model.Count, counters.Count);
        Assert.Equal(model.OrderBy(p => p.Key), counters.OrderBy(p => p.Key));
        foreach (var (key, value) in model)
        {
            Assert.True(counters.TryGetValue(key, out var stored));
            Assert.Equal(value, stored);
        }

        Assert.False(counters.ContainsKey(1000));
        AssertSound(pool);
    }

    [Fact]
    public void Removals_leave_no_tombstones_and_every_key_stays_found_through_churn()
    {
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        var (counters, names) = (registry.Counters, registry.Names);
        var model = new Dictionary<long, long>();
        var random = new Random(3);
        for (var i = 0; i < 20_000; i++)
        {
            // Keys from a range a few times the live count: long probe runs, removals inside them, rare resizes.
            var key = random.Next(2_000);
            if (model.Count > 300 && random.Next(2) == 0 || model.ContainsKey(key))
            {
                var gone = model.Count > 0 && !model.ContainsKey(key) ? model.Keys.ElementAt(random.Next(model.Count)) : key;
                Assert.True(counters.Remove(gone));
                Assert.True(names.Remove($"name {gone}"));
                model.Remove(gone);
            }
            else
            {
                counters.Add(key, i);
                names.Add($"name {key}", $"value {i}");
                model[key] = i;
            }

            if (i % 1_000 == 999)
            {
                foreach (var (known, value) in model)
                {
                    Assert.True(counters.TryGetValue(known, out var stored) && stored == value, $"key {known} lost after step {i}");
                    Assert.True(names.ContainsKey($"name {known}"), $"name {known} lost after step {i}");
                }

                // Every slot in use holds a live entry: removals emptied theirs (a tombstone would count as used).
                Assert.Equal(model.Count, pool.ReadValue<long>(counters.Offset + CollectionLayout.UsedOffset));
                Assert.Equal(model.Count, pool.ReadValue<long>(names.Offset + CollectionLayout.UsedOffset));
            }
        }

        using (var tx = pool.BeginTransaction())
        {
            // Removals inside a transaction shift entries the transaction's own lookups then find; a rollback restores them.
            foreach (var key in model.Keys.Take(100).ToList())
            {
                Assert.True(counters.Remove(key));
            }

            Assert.All(model.Keys.Skip(100), key => Assert.True(counters.ContainsKey(key)));
        }

        Assert.All(model.Keys, key => Assert.True(counters.ContainsKey(key)));
        Assert.Equal(model.Count, counters.Count);
        AssertSound(pool);
    }

    [Fact]
    public void Adding_an_existing_key_throws()
    {
        using var pool = NewPool();
        var counters = pool.Root<Registry>().Counters;
        counters.Add(1, 1);
        Assert.Throws<ArgumentException>(() => counters.Add(1, 2));
        Assert.Equal(1, counters[1]);
        Assert.Throws<KeyNotFoundException>(() => counters[2]);
    }

    [Fact]
    public void A_string_dictionary_owns_keys_and_values()
    {
        using var pool = NewPool();
        var names = pool.Root<Registry>().Names;
        for (var i = 0; i < 100; i++)
        {
            names[$"key {i}"] = $"value {i}";
        }

        names["key 5"] = "replaced";
        Assert.Equal("replaced", names["key 5"]);
        Assert.True(names.Remove("key 6"));
        Assert.Equal(99, names.Count);
        AssertSound(pool);
        names.Clear();
        Assert.Empty(names);
        AssertSound(pool);
        Assert.Equal(2, pool.GetStatistics().ObjectCount);
    }

    [Fact]
    public void Deleting_an_owner_frees_its_collections()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        var before = pool.GetStatistics().ObjectCount;
        var registry = pool.New<Registry>();
        registry.Lines.Add("a");
        registry.Names["k"] = "v";
        registry.Numbers.Add(3);
        registry.Counters[1] = 2;
        pool.Delete(registry);
        Assert.Equal(before, pool.GetStatistics().ObjectCount);
        AssertSound(pool);
    }

    [Fact]
    public void Collections_survive_a_reopen()
    {
        var domain = MemoryDomain.Create(8 << 20);
        var pool = PersistentPool.Create(domain, "tests");
        var registry = pool.Root<Registry>();
        registry.Names["greeting"] = "hello";
        registry.Numbers.Add(42);
        var account = pool.New<Account>();
        registry.ById[7] = account;
        var image = domain.ToArray();
        pool.Dispose();
        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(image), "tests");
        var again = reopened.Root<Registry>();
        Assert.Equal(("hello", 42L, account.Offset), (again.Names["greeting"], again.Numbers[0], again.ById[7]!.Offset));
    }

    [Fact]
    public void A_collection_read_as_another_element_type_throws()
    {
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        registry.Numbers.Add(1);
        // The Lines field now points at a list of longs, as a changed program would see it.
        pool.Domain.WriteDurable(registry.Offset + 24, pool.Domain.Read<long>(registry.Offset + 32));
        Assert.Throws<PersistentTypeMismatchException>(() => registry.Lines);
    }
}
