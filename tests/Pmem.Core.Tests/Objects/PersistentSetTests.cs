using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Objects;

public sealed class PersistentSetTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(16 << 20), "tests");

    [Fact]
    public void A_set_behaves_like_a_SortedSet()
    {
        using var pool = NewPool();
        var set = pool.Root<Index>().Tags;
        var model = new SortedSet<long>();
        var random = new Random(5);
        for (var i = 0; i < 5_000; i++)
        {
            var item = random.Next(2_000);
            if (random.Next(3) == 0)
            {
                Assert.Equal(model.Remove(item), set.Remove(item));
            }
            else
            {
                Assert.Equal(model.Add(item), set.Add(item));
            }
        }

        Assert.Equal(model, set);
        Assert.Equal(model.Count, set.Count);
        Assert.Equal(model.Min, set.Min);
        Assert.Equal(model.Max, set.Max);
        Assert.Equal(model.GetViewBetween(100, 199), set.Range(100, 199, upperInclusive: true));
        Assert.Equal(model.Reverse(), set.Reversed());
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void Set_operations_match_ISet_semantics_and_are_atomic()
    {
        using var pool = NewPool();
        var set = pool.Root<Index>().Words;
        var model = new HashSet<string>(StringComparer.Ordinal);
        string[] a = ["x", "y", "z", "Y"], b = ["y", "w", "z"];

        set.UnionWith(a);
        model.UnionWith(a);
        Assert.Equal(model.Order(StringComparer.Ordinal), set.ToList());
        Assert.True(set.IsSupersetOf(b[..1]));
        Assert.True(set.Overlaps(b));
        Assert.False(set.IsSubsetOf(b));
        Assert.True(set.IsProperSubsetOf([.. a, "q"]));
        Assert.True(set.SetEquals(a.Reverse()));

        set.SymmetricExceptWith(b);
        model.SymmetricExceptWith(b);
        Assert.Equal(model.Order(StringComparer.Ordinal), set.ToList());

        set.IntersectWith(["x", "w", "nothing"]);
        model.IntersectWith(["x", "w", "nothing"]);
        Assert.Equal(model.Order(StringComparer.Ordinal), set.ToList());

        set.ExceptWith(set); // the other collection is the set itself
        Assert.Empty(set);

        set.UnionWith(["keep"]);
        using (var tx = pool.BeginTransaction())
        {
            set.UnionWith(Enumerable.Range(0, 500).Select(i => $"n{i}"));
            Assert.Equal(501, set.Count);
        }

        Assert.Equal(["keep"], set);
        SortedDictionaryTests.AssertSound(pool);
    }
}
