// Index lookups over trees of many leaves: bounds that fall on leaf boundaries, a running transaction's own changes, damaged trees.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Lookups read the index's leaves in place (a copy per node only when the thread's transaction has written): every
/// answer is compared with a model built from the objects themselves, over enough objects for trees of several levels
/// whose values repeat across leaves.
/// </summary>
public sealed class IndexLookupTests
{
    private const int Members = 5_000;
    private const int Names = 40; // 125 objects a name: each name's entries span several leaves

    private static readonly (bool Lower, bool Upper, bool Descending)[] Flags =
        [.. from lower in new[] { true, false } from upper in new[] { true, false } from down in new[] { false, true } select (lower, upper, down)];

    /// <summary>A pool of <see cref="Members"/> members: numbers 0, 3, 6, … (so bounds between values exist), names in a shuffled order.</summary>
    private static PersistentPool NewPool()
    {
        var pool = PersistentPool.Create(MemoryDomain.Create(32 << 20), "tests");
        var order = Enumerable.Range(0, Members).ToArray();
        new Random(5).Shuffle(order);
        for (var start = 0; start < Members; start += 500)
        {
            using var tx = pool.BeginTransaction();
            foreach (var i in order.AsSpan(start, 500))
            {
                var member = pool.New<Member>();
                member.Number = i * 3L;
                member.Name = NameOf(i % Names);
                member.Tide = (Tide)(i % 3 switch { 0 => -2, 1 => 0, _ => 3 });
                pool.Root<Club>().Members.Add(member);
            }

            tx.Commit();
        }

        return pool;
    }

    private static string NameOf(int i) => $"n{i:D2}";

    /// <summary>Every member as the calling thread sees it now (its transaction's changes included), in the index's order for <paramref name="key"/>.</summary>
    private static List<(TKey Key, long Offset)> Model<TKey>(PersistentPool pool, Func<Member, TKey?> key, IComparer<TKey> order) =>
        [.. pool.Root<Club>().Members.Where(m => m is not null && key(m!) is not null).Select(m => (key(m!)!, m!.Offset))
            .Order(Comparer<(TKey Key, long Offset)>.Create((a, b) => order.Compare(a.Key, b.Key) is var c and not 0 ? c : ((ulong)a.Offset).CompareTo((ulong)b.Offset)))];

    /// <summary>What a range lookup must answer, from the model.</summary>
    private static long[] Expected<TKey>(List<(TKey Key, long Offset)> model, IComparer<TKey> order, TKey? lower, TKey? upper, (bool Lower, bool Upper, bool Descending) flags)
    {
        var found = model.Where(e =>
            (lower is null || order.Compare(e.Key, lower) is var l && (l > 0 || (l == 0 && flags.Lower))) &&
            (upper is null || order.Compare(e.Key, upper) is var u && (u < 0 || (u == 0 && flags.Upper)))).Select(e => e.Offset);
        return [.. flags.Descending ? found.Reverse() : found];
    }

    private static long[] Offsets(IEnumerable<Member> members) => [.. members.Select(m => m.Offset)];

    /// <summary>Checks the name index's answers against the objects: Find, TryFind, Count, and ranges between (and beside) every pair of neighbouring names.</summary>
    private static void AssertNameLookups(PersistentPool pool, IEnumerable<string> extraNames)
    {
        var index = pool.Index<Member, string>(nameof(Member.Name));
        var model = Model(pool, m => m.Name, StringComparer.Ordinal);
        Assert.Equal(model.Count, index.Count);
        Assert.Equal(model.Select(e => e.Offset), Offsets(index));
        Assert.Equal(model.Select(e => e.Offset).Reverse(), Offsets(index.Reversed()));
        var bounds = model.Select(e => e.Key).Distinct().Concat(extraNames).Concat(["", "n05a", "zzz"]).Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < bounds.Count; i++)
        {
            var value = bounds[i];
            var holders = Expected(model, StringComparer.Ordinal, value, value, (true, true, false));
            Assert.Equal(holders, Offsets(index.Find(value)));
            Assert.Equal(holders.Length > 0, index.TryFind(value, out var first));
            Assert.Equal(holders.FirstOrDefault(), first?.Offset ?? 0);
            foreach (var flags in Flags)
            {
                foreach (var upper in bounds.Skip(i).Take(3))
                {
                    var expected = Expected(model, StringComparer.Ordinal, value, upper, flags);
                    Assert.True(expected.SequenceEqual(Offsets(index.Range(value, upper, flags.Lower, flags.Upper, flags.Descending))), $"Range({value}, {upper}, {flags})");
                }

                Assert.Equal(Expected(model, StringComparer.Ordinal, value, null, flags), Offsets(index.From(value, flags.Lower, flags.Descending)));
                Assert.Equal(Expected(model, StringComparer.Ordinal, null, value, flags), Offsets(index.To(value, flags.Upper, flags.Descending)));
            }
        }
    }

    /// <summary>Long header of the tree of the index of <paramref name="property"/>.</summary>
    private static long TreeOf(PersistentPool pool, string property) =>
        pool.Domain.Read<long>(pool.LiveIndexes.Single(i => i.Property.Name == property).Slot.TreeWord);

    /// <summary>The leaves of a tree from the first, along their links.</summary>
    private static List<long> Leaves(PersistentPool pool, long tree)
    {
        var node = pool.Domain.Read<long>(tree + SortedLayout.RootOffset);
        for (var level = pool.Domain.Read<int>(tree + SortedLayout.HeightOffset) - 1; level > 0; level--)
        {
            node = pool.Domain.Read<long>(node + SortedLayout.EntriesOffset + pool.Domain.Read<int>(tree + CollectionLayout.KeySizeOffset)); // the first child
        }

        var leaves = new List<long>();
        for (; node != 0; node = pool.Domain.Read<long>(node + SortedLayout.NodeNextOffset))
        {
            leaves.Add(node);
        }

        return leaves;
    }

    [Fact]
    public void Number_ranges_at_every_value_and_gap_follow_inclusive_exclusive_and_descending_bounds()
    {
        using var pool = NewPool();
        Assert.True(pool.Domain.Read<int>(TreeOf(pool, nameof(Member.Number)) + SortedLayout.HeightOffset) >= 2);
        var index = pool.Index<Member, long>(nameof(Member.Number));
        var model = Model<long>(pool, m => m.Number, Comparer<long>.Default);
        var (keys, offsets) = (model.Select(e => e.Key).ToArray(), model.Select(e => e.Offset).ToArray()); // unique: a binary search finds a range

        // The first position whose key is above the bound (or at it, inclusive).
        int Above(long bound, bool inclusive)
        {
            var (low, high) = (0, keys.Length);
            while (low < high)
            {
                var middle = (low + high) / 2;
                (low, high) = keys[middle] > bound || (inclusive && keys[middle] == bound) ? (low, middle) : (middle + 1, high);
            }

            return low;
        }

        long lookups = 0;
        for (var lower = -1L; lower <= Members * 3L; lower++)
        {
            foreach (var width in lower % 7 == 0 ? new[] { 0L, 3L, 100L } : [0L, 3L])
            {
                foreach (var flags in Flags)
                {
                    var (start, end) = (Above(lower, flags.Lower), Above(lower + width, !flags.Upper));
                    var expected = start < end ? offsets[start..end] : [];
                    if (flags.Descending)
                    {
                        Array.Reverse(expected);
                    }

                    var found = Offsets(index.Range(lower, lower + width, flags.Lower, flags.Upper, flags.Descending));
                    Assert.True(expected.SequenceEqual(found), $"Range({lower}, {lower + width}, {flags}): expected {expected.Length}, found {found.Length}");
                    lookups++;
                }
            }

            var holder = lower % 3 == 0 && lower >= 0 && lower < Members * 3L ? new[] { offsets[lower / 3] } : [];
            Assert.Equal(holder, Offsets(index.Find(lower)));
            Assert.Equal(holder.Length == 1, index.TryFind(lower, out var first));
            Assert.Equal(holder.FirstOrDefault(), first?.Offset ?? 0);
        }

        Assert.True(lookups > 100_000);
    }

    [Fact]
    public void Repeated_names_spanning_leaves_are_found_whole_in_every_direction()
    {
        using var pool = NewPool();
        var tree = TreeOf(pool, nameof(Member.Name));
        Assert.True(pool.Domain.Read<int>(tree + SortedLayout.HeightOffset) >= 2);
        Assert.True(Leaves(pool, tree).Count > 3 * Names); // each name's entries fill several leaves
        AssertNameLookups(pool, []);

        // An enum reads its underlying integer's tree, by either key type.
        var tides = Model(pool, m => (short?)m.Tide, Comparer<short?>.Default);
        Assert.Equal(Expected(tides, Comparer<short?>.Default, (short)0, (short)3, (false, true, true)),
            Offsets(pool.Index<Member, Tide>(nameof(Member.Tide)).Range(Tide.Slack, (Tide)3, lowerInclusive: false, upperInclusive: true, descending: true)));
        Assert.Equal(Expected(tides, Comparer<short?>.Default, (short)-2, (short)-2, (true, true, false)), Offsets(pool.Index<Member, short>(nameof(Member.Tide)).Find(-2)));
    }

    [Fact]
    public void Lookups_inside_a_transaction_see_its_own_uncommitted_index_changes_and_a_rollback_undoes_them()
    {
        using var pool = NewPool();
        var members = pool.Root<Club>().Members;
        var before = Model(pool, m => m.Name, StringComparer.Ordinal);
        using (var tx = pool.BeginTransaction())
        {
            var random = new Random(9);
            for (var i = 0; i < 300; i++)
            {
                members[random.Next(Members)]!.Name = random.Next(4) switch { 0 => "moved", 1 => null, _ => NameOf(random.Next(Names)) };
            }

            for (var i = 0; i < 50; i++)
            {
                var gone = members[random.Next(members.Count)]!;
                members.Remove(gone);
                pool.Delete(gone);
            }

            for (var i = 0; i < 100; i++)
            {
                var fresh = pool.New<Member>();
                fresh.Number = 100_000 + i;
                fresh.Name = i % 2 == 0 ? "fresh" : NameOf(i % Names);
                members.Add(fresh);
            }

            members[0]!.Number = 200_000;
            Assert.True(pool.HasUncommittedWrites);
            AssertNameLookups(pool, ["moved", "fresh"]);
            var numbers = pool.Index<Member, long>(nameof(Member.Number));
            Assert.Equal([members[0]!.Offset], Offsets(numbers.Find(200_000)));
            Assert.Equal(100, numbers.Range(100_000, 100_100).Count);
            Assert.True(numbers.TryFind(100_099, out var last));
            Assert.Equal("fresh", numbers.Find(100_098)[0].Name);
            Assert.Equal(100_099, last.Number);
        }

        Assert.Equal(before, Model(pool, m => m.Name, StringComparer.Ordinal));
        AssertNameLookups(pool, ["moved", "fresh"]);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void A_damaged_leaf_chain_or_child_link_throws_PoolCorruptedException_and_never_loops()
    {
        using var pool = NewPool();
        var index = pool.Index<Member, string>(nameof(Member.Name));
        var tree = TreeOf(pool, nameof(Member.Name));
        var leaves = Leaves(pool, tree);
        var member = pool.Root<Club>().Members[0]!.Offset;

        void Damage(long at, long value, Action lookup)
        {
            var was = pool.Domain.Read<long>(at);
            pool.Domain.Write(at, value);
            Assert.Throws<PoolCorruptedException>(lookup);
            pool.Domain.Write(at, was);
        }

        var middle = leaves[leaves.Count / 2];
        Damage(middle + SortedLayout.NodeNextOffset, middle, () => index.ToList()); // a loop: the chain is bounded by the node count
        Damage(middle + SortedLayout.NodeNextOffset, member, () => index.From("n00").ToList()); // an object, not a node
        Damage(middle + SortedLayout.NodePreviousOffset, middle, () => index.Reversed());
        Damage(middle + SortedLayout.NodePreviousOffset, 64, () => index.To("zzz", descending: true)); // inside the pool header
        var root = pool.Domain.Read<long>(tree + SortedLayout.RootOffset);
        var keySize = pool.Domain.Read<int>(tree + CollectionLayout.KeySizeOffset);
        Damage(root + SortedLayout.EntriesOffset + keySize, member, () => index.Find("n00"));
        Damage(root + SortedLayout.EntriesOffset + keySize, member, () => index.TryFind("n00", out _));

        // Inside a transaction that has written, the copies of the nodes are checked the same way.
        using (var tx = pool.BeginTransaction())
        {
            pool.Root<Club>().Members[1]!.Name = "moved";
            Damage(middle + SortedLayout.NodeNextOffset, middle, () => index.ToList());
        }

        Assert.Equal(Members, index.Count);
        SortedDictionaryTests.AssertSound(pool);
    }
}
