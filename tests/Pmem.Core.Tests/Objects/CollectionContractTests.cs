// Collections against the BCL's contracts where an outside tester found them apart: null keys, CopyTo, read-only key copies, set edge cases, list search by Equals.
using Pmem.Pool;
using Pmem.Tests.Pool;
using Pmem.Tests.Tooling;

namespace Pmem.Tests.Objects;

public sealed class CollectionContractTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(8 << 20), "contracts");

    [Fact]
    public void A_hashed_dictionary_refuses_a_null_key_as_Dictionary_does()
    {
        using var pool = NewPool();
        var names = pool.Root<Registry>().Names;
        names["a"] = "x";
        Assert.Equal("key", Assert.Throws<ArgumentNullException>(() => names[null!] = "y").ParamName);
        Assert.Throws<ArgumentNullException>(() => names.Add(null!, "y"));
        Assert.Throws<ArgumentNullException>(() => names[null!]);
        Assert.Throws<ArgumentNullException>(() => names.ContainsKey(null!));
        Assert.Throws<ArgumentNullException>(() => names.TryGetValue(null!, out _));
        Assert.Throws<ArgumentNullException>(() => names.Remove(null!));
        Assert.Equal([("a", "x")], names.Select(p => (p.Key, p.Value)));
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void CopyTo_checks_its_arguments_before_copying_anything()
    {
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        registry.Counters[1] = 10;
        registry.Counters[2] = 20;
        registry.Numbers.Add(7);
        ICollection<KeyValuePair<long, long>> counters = registry.Counters;

        var small = new KeyValuePair<long, long>[3];
        Assert.Throws<ArgumentException>(() => counters.CopyTo(small, 2));
        Assert.All(small, pair => Assert.Equal(default, pair)); // nothing written before the refusal
        Assert.Throws<ArgumentOutOfRangeException>(() => counters.CopyTo(small, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => registry.Numbers.CopyTo(new long[4], -1));
        counters.CopyTo(small, 1);
        Assert.Equal([1L, 2L], small.Skip(1).Select(p => p.Key).Order());
    }

    [Fact]
    public void Keys_and_values_are_read_only_copies()
    {
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        registry.Counters[1] = 10;
        var sorted = pool.New<Index>().Numbers;
        sorted[1] = 10;
        foreach (var keys in (ICollection<long>[])[registry.Counters.Keys, registry.Counters.Values, sorted.Keys, sorted.Values])
        {
            Assert.True(keys.IsReadOnly);
            Assert.Throws<NotSupportedException>(() => keys.Add(5));
            Assert.Throws<NotSupportedException>(() => keys.Clear());
        }
    }

    [Fact]
    public void Sorted_lookups_and_sets_name_what_is_wrong()
    {
        using var pool = NewPool();
        var root = pool.Root<Everything>();
        Assert.Equal("key", Assert.Throws<ArgumentNullException>(() => root.Index.TryGetFloor(null!, out _)).ParamName);
        Assert.Equal("key", Assert.Throws<ArgumentNullException>(() => root.Index.TryGetCeiling(null!, out _)).ParamName);
        Assert.Equal("The set is empty.", Assert.Throws<InvalidOperationException>(() => root.Tags.Min).Message);
        Assert.Equal("The set is empty.", Assert.Throws<InvalidOperationException>(() => root.Tags.Max).Message);

        root.Tags.Add("a");
        string?[] withNull = ["a", null];
        Assert.True(root.Tags.Overlaps(withNull!));
        Assert.False(root.Tags.Overlaps([null!]));
        Assert.False(root.Tags.IsSupersetOf(withNull!));
        Assert.False(root.Tags.SetEquals(withNull!));
        Assert.True(root.Tags.IsProperSubsetOf(withNull!));
        root.Tags.ExceptWith([null!, "b"]);
        Assert.Equal(["a"], root.Tags);
    }

    [Fact]
    public void A_refused_argument_changes_nothing_and_leaves_the_transaction_going()
    {
        // An outside tester's case: the first Insert of a list never created, at a bad index, created the list and then
        // threw, and that inner rollback aborted the caller's transaction; so did a set's UnionWith of a null.
        using var pool = NewPool();
        var root = pool.Root<Everything>();
        root.Tags.Add("kept");
        var created = root.Tags.Offset;
        using (var tx = pool.BeginTransaction())
        {
            root.Long = 7;
            Assert.Throws<ArgumentOutOfRangeException>(() => root.Numbers.Insert(1, 5));
            Assert.Throws<ArgumentOutOfRangeException>(() => root.Numbers.Insert(-1, 5));
            Assert.Equal("other", Assert.Throws<ArgumentNullException>(() => root.Tags.UnionWith(["a", null!])).ParamName);
            Assert.Equal("other", Assert.Throws<ArgumentNullException>(() => root.Tags.SymmetricExceptWith(["kept", null!])).ParamName);
            Assert.True(tx.IsActive);
            tx.Commit();
        }

        Assert.Equal(7, root.Long);
        Assert.Equal(0, root.Numbers.Offset); // still never created
        Assert.Equal(["kept"], root.Tags);
        Assert.Equal(created, root.Tags.Offset);

        var before = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();
        Assert.Throws<ArgumentOutOfRangeException>(() => root.Numbers.Insert(3, 1)); // outside a transaction: nothing written
        Assert.Throws<ArgumentNullException>(() => root.Tags.UnionWith(["b", null!]));
        Assert.True(pool.Domain.GetSpan(0, (int)pool.Domain.Length).SequenceEqual(before));
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_set_answers_a_null_as_HashSet_does()
    {
        using var pool = NewPool();
        var tags = pool.Root<Everything>().Tags;
        tags.Add("a");
        Assert.False(tags.Contains(null!));
        Assert.DoesNotContain(null!, tags.AsEnumerable()); // LINQ's Contains asks the collection
        Assert.False(tags.Remove(null!));
        Assert.Equal(["a"], tags);
    }

    [Fact]
    public void CopyTo_an_index_past_the_array_says_it_is_out_of_range_as_Dictionary_does()
    {
        using var pool = NewPool();
        var registry = pool.Root<Registry>();
        registry.Counters[1] = 10;
        ICollection<KeyValuePair<long, long>> counters = registry.Counters;
        Assert.Throws<ArgumentOutOfRangeException>(() => counters.CopyTo(new KeyValuePair<long, long>[1], 2));
        Assert.Throws<ArgumentException>(() => counters.CopyTo(new KeyValuePair<long, long>[1], 1));
    }

    [Fact]
    public void A_list_searches_by_Equals_as_List_does()
    {
        using var pool = NewPool();
        var amounts = pool.Root<Everything>().Amounts;
        amounts.Add(2m);
        amounts.Add(1.0m);
        amounts.Add(-0m);
        Assert.Equal(1, amounts.IndexOf(1.00m));
        Assert.Contains(1m, amounts);
        Assert.Equal(2, amounts.IndexOf(0m));
        Assert.True(amounts.Remove(1.000m));
        Assert.Equal([2m, 0m], amounts);
    }
}
