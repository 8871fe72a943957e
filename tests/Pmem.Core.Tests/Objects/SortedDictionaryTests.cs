using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Objects;

public sealed class SortedDictionaryTests
{
    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(32 << 20), "tests");

    internal static void AssertSound(PersistentPool pool)
    {
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void Random_inserts_and_removes_match_a_SortedDictionary_through_splits_and_merges()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        var model = new SortedDictionary<long, long>();
        var random = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            RandomStep(map, model, random, 6_000, i);
            if (i % 4_000 == 0)
            {
                Assert.Equal(model, map);
                AssertSound(pool);
            }
        }

        Assert.Equal(model, map);
        Assert.Equal(model.Count, map.Count);
        Assert.All(model, pair => Assert.Equal(pair.Value, map[pair.Key]));
        Assert.False(map.ContainsKey(99_999));
        AssertSound(pool);

        // Removing everything collapses the tree to nothing, leaking no node.
        foreach (var key in model.Keys.ToList())
        {
            Assert.True(map.Remove(key));
        }

        Assert.Empty(map);
        AssertSound(pool);
        Assert.Equal(2, pool.GetStatistics().ObjectCount); // the root object and the dictionary header
    }

    [Fact]
    public void Lookups_inside_a_transaction_that_has_written_see_its_changes_through_splits_merges_and_rollbacks()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        var model = new SortedDictionary<long, long>();
        var random = new Random(11);
        for (var round = 0; round < 40; round++)
        {
            var before = new SortedDictionary<long, long>(model);
            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < 150; i++)
                {
                    RandomStep(map, model, random, 2_000, i);
                    var probe = random.Next(2_000) - 1_000L;
                    Assert.Equal(model.TryGetValue(probe, out var expected), map.TryGetValue(probe, out var actual));
                    Assert.Equal(expected, actual);
                }

                if (round % 4 == 3)
                {
                    model = before; // disposed without a commit: rolled back
                    continue;
                }

                tx.Commit();
            }

            Assert.Equal(model, map);
        }

        AssertSound(pool);
    }

    /// <summary>Removes (one time in three) or sets a random key in [−range/2, range/2) in both the tree and the model.</summary>
    private static void RandomStep(PersistentSortedDictionary<long, long> map, SortedDictionary<long, long> model, Random random, int range, long value)
    {
        var key = random.Next(range) - range / 2L;
        if (random.Next(3) == 0)
        {
            Assert.Equal(model.Remove(key), map.Remove(key));
        }
        else
        {
            map[key] = value;
            model[key] = value;
        }
    }

    [Fact]
    public void String_keys_order_ordinally_and_own_their_strings_and_separators()
    {
        using var pool = NewPool();
        var names = pool.Root<Index>().Names;
        var model = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        var random = new Random(3);
        for (var i = 0; i < 6_000; i++)
        {
            var key = $"{(char)('A' + random.Next(60))}-{random.Next(2_000):D4}";
            if (random.Next(3) == 0)
            {
                Assert.Equal(model.Remove(key), names.Remove(key));
            }
            else
            {
                var value = random.Next(4) == 0 ? null : $"v{i}";
                names[key] = value;
                model[key] = value;
            }
        }

        Assert.Equal(model, names);
        AssertSound(pool);
        names.Clear();
        Assert.Empty(names);
        AssertSound(pool);
        Assert.Equal(2, pool.GetStatistics().ObjectCount);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public void Ranges_forward_and_backward_respect_their_bounds(bool lowerInclusive, bool upperInclusive)
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        for (long k = 0; k < 3_000; k += 3)
        {
            map.Add(k, -k);
        }

        var keys = map.Keys.ToList();
        foreach (var (lower, upper) in new[] { (300L, 1_200L), (301L, 1_199L), (0L, 2_997L), (-50L, 10L), (2_990L, 5_000L), (600L, 600L), (700L, 100L) })
        {
            var expected = keys.Where(k => (lowerInclusive ? k >= lower : k > lower) && (upperInclusive ? k <= upper : k < upper)).ToList();
            Assert.Equal(expected, map.Range(lower, upper, lowerInclusive, upperInclusive).Select(p => p.Key));
            Assert.Equal(Enumerable.Reverse(expected), map.Range(lower, upper, lowerInclusive, upperInclusive, descending: true).Select(p => p.Key));
            Assert.Equal(keys.Where(k => lowerInclusive ? k >= lower : k > lower), map.From(lower, lowerInclusive).Select(p => p.Key));
            Assert.Equal(keys.Where(k => upperInclusive ? k <= upper : k < upper).Reverse(), map.To(upper, upperInclusive, descending: true).Select(p => p.Key));
        }

        Assert.Equal(Enumerable.Reverse(keys), map.Reversed().Select(p => p.Key));
        Assert.All(map.Range(300, 400), p => Assert.Equal(-p.Key, p.Value));
    }

    [Fact]
    public void Ranges_read_by_foreach_match_a_model_in_both_directions_and_inside_a_transaction()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        var names = pool.Root<Index>().Names;
        var model = new SortedDictionary<long, long>();
        var nameKeys = new SortedSet<long>();
        var random = new Random(11);
        for (var i = 0; i < 2_000; i++)
        {
            var key = random.Next(10_000);
            map[key] = key * 7;
            model[key] = key * 7;
            names[$"k{key:D5}"] = $"v{key}";
            nameKeys.Add(key);
        }

        void Compare()
        {
            for (var round = 0; round < 200; round++)
            {
                long lower = random.Next(-100, 10_100), upper = random.Next(-100, 10_100);
                bool lowerInclusive = random.Next(2) == 0, upperInclusive = random.Next(2) == 0, descending = random.Next(2) == 0;
                var expected = model.Where(p => (lowerInclusive ? p.Key >= lower : p.Key > lower) && (upperInclusive ? p.Key <= upper : p.Key < upper)).ToList();
                if (descending)
                {
                    expected.Reverse();
                }

                var seen = new List<KeyValuePair<long, long>>();
                foreach (var pair in map.Range(lower, upper, lowerInclusive, upperInclusive, descending))
                {
                    seen.Add(pair);
                }

                Assert.Equal(expected, seen);
                var from = new List<long>();
                foreach (var pair in map.From(lower, lowerInclusive, descending))
                {
                    from.Add(pair.Key);
                }

                Assert.Equal(model.Keys.Where(k => lowerInclusive ? k >= lower : k > lower).OrderBy(k => descending ? -k : k), from);
            }

            var strings = new List<string>();
            foreach (var pair in names.Range("k02000", "k04000", descending: true))
            {
                Assert.Equal($"v{int.Parse(pair.Key[1..])}", pair.Value);
                strings.Add(pair.Key);
            }

            Assert.Equal(nameKeys.Where(k => k is >= 2_000 and < 4_000).Select(k => $"k{k:D5}").Reverse(), strings);
        }

        Compare();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 300; i++)
            {
                var key = random.Next(10_000);
                if (random.Next(2) == 0 && model.Remove(key))
                {
                    map.Remove(key);
                }
                else
                {
                    map[key] = -key;
                    model[key] = -key;
                }
            }

            Compare(); // the transaction's own writes, laid over the leaves it reads
            tx.Commit();
        }

        Compare();
    }

    [Fact]
    public void A_range_enumeration_throws_at_its_next_step_once_the_dictionary_changes()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        for (long k = 0; k < 100; k++)
        {
            map.Add(k, k);
        }

        using var entries = map.Range(10, 90).GetEnumerator();
        Assert.True(entries.MoveNext());
        Assert.True(entries.MoveNext());
        Assert.Equal(11, entries.Current.Key);
        map[50] = -1; // an overwrite changes no key, but the enumeration has seen the old value's leaf
        Assert.Throws<InvalidOperationException>(() => entries.MoveNext());

        var count = 0;
        foreach (var pair in map.Range(10, 90, descending: true))
        {
            count++;
        }

        Assert.Equal(80, count);
        Assert.Throws<NotSupportedException>(() => entries.Reset());
        Assert.Throws<InvalidOperationException>(() => default(PersistentSortedDictionary<long, long>.Entries).GetEnumerator());
    }

    [Fact]
    public void First_last_floor_and_ceiling_find_the_nearest_keys()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        Assert.False(map.TryGetFirst(out _));
        Assert.False(map.TryGetFloor(5, out _));
        Assert.Throws<InvalidOperationException>(() => map.First());
        for (long k = 10; k <= 10_000; k += 10)
        {
            map.Add(k, k * 2);
        }

        Assert.Equal(new KeyValuePair<long, long>(10, 20), map.First());
        Assert.Equal(new KeyValuePair<long, long>(10_000, 20_000), map.Last());
        Assert.True(map.TryGetFloor(4_455, out var floor));
        Assert.Equal(4_450, floor.Key);
        Assert.True(map.TryGetFloor(4_450, out floor));
        Assert.Equal(4_450, floor.Key);
        Assert.True(map.TryGetCeiling(4_451, out var ceiling));
        Assert.Equal(4_460, ceiling.Key);
        Assert.False(map.TryGetFloor(9, out _));
        Assert.False(map.TryGetCeiling(10_001, out _));
    }

    [Fact]
    public void A_rolled_back_transaction_leaves_the_tree_and_the_heap_as_they_were()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        for (long k = 0; k < 500; k++)
        {
            map.Add(k, k);
        }

        var objects = pool.GetStatistics().ObjectCount;
        using (var tx = pool.BeginTransaction())
        {
            for (long k = 500; k < 2_000; k++)
            {
                map.Add(k, k); // splits, new nodes, a taller tree
            }

            for (long k = 0; k < 400; k++)
            {
                map.Remove(k); // merges
            }

            Assert.Equal(1_600, map.Count);
            Assert.Equal(400, map.First().Key);
            Assert.Equal(Enumerable.Range(400, 1_600).Select(k => (long)k), map.Keys);
        }

        Assert.Equal(Enumerable.Range(0, 500).Select(k => (long)k), map.Keys);
        Assert.Equal(objects, pool.GetStatistics().ObjectCount);
        AssertSound(pool);

        using (var tx = pool.BeginTransaction())
        {
            map.Add(-1, -1);
            map.Remove(0);
            tx.Commit();
        }

        Assert.Equal(-1, map.First().Key);
        Assert.False(map.ContainsKey(0));
        AssertSound(pool);
    }

    [Fact]
    public void Deleting_the_owner_frees_every_node_and_string()
    {
        using var pool = NewPool();
        var root = pool.Root<Ledger>();
        var index = pool.New<Index>();
        root.Name = "keep";
        for (var i = 0; i < 3_000; i++)
        {
            index.Names[$"key {i}"] = $"value {i}";
            index.Numbers[i] = i;
            index.Words.Add($"w{i % 700}");
        }

        var before = pool.GetStatistics().ObjectCount;
        Assert.True(before > 100);
        pool.Delete(index);
        Assert.Equal(2, pool.GetStatistics().ObjectCount); // the root and its name
        AssertSound(pool);
    }

    [Fact]
    public void Key_types_keep_their_own_order_and_the_check_agrees()
    {
        using var pool = NewPool();
        var index = pool.Root<Index>();
        var random = new Random(11);
        var ints = Enumerable.Range(0, 2_000).Select(_ => random.Next(int.MinValue, int.MaxValue)).Distinct().ToList();
        var guids = Enumerable.Range(0, 1_000).Select(_ => Guid.NewGuid()).ToList();
        var times = Enumerable.Range(0, 1_000).Select(i => new DateTime(2_000 + i % 50, 1 + i % 12, 1 + i % 28, 0, 0, 0, i % 2 == 0 ? DateTimeKind.Utc : DateTimeKind.Local).AddTicks(i)).Distinct().ToList();
        var amounts = Enumerable.Range(0, 1_000).Select(i => (decimal)random.NextDouble() * 1_000_000m - 500_000m).Distinct().ToList();
        var instants = Enumerable.Range(0, 1_000).Select(i => new DateTimeOffset(2_020, 1, 1, 0, 0, 0, TimeSpan.FromHours(i % 24 - 12)).AddMinutes(i * 7)).DistinctBy(d => d.UtcTicks).ToList();
        foreach (var i in ints)
        {
            index.Signed[i] = i.ToString();
        }

        foreach (var (g, n) in guids.Select((g, n) => (g, n)))
        {
            index.ById[g] = null;
        }

        times.ForEach(t => index.ByTime[t] = t.Ticks);
        amounts.ForEach(a => index.ByAmount[a] = (long)a);
        instants.ForEach(d => index.ByInstant[d] = d.Offset.Hours);
        index.ByTide[Tide.High] = 3;
        index.ByTide[Tide.Low] = -2;
        index.ByTide[Tide.Slack] = 0;

        Assert.Equal(ints.Order(), index.Signed.Keys);
        Assert.Equal(guids.Order(), index.ById.Keys);
        Assert.Equal(times.Order(), index.ByTime.Keys);
        Assert.Equal(amounts.Order(), index.ByAmount.Keys);
        Assert.Equal(instants.Order(), index.ByInstant.Keys);
        Assert.Equal([Tide.Low, Tide.Slack, Tide.High], index.ByTide.Keys);
        AssertSound(pool); // the check orders the raw bytes itself: it must agree with every one of these
    }

    [Fact]
    public void Enumeration_throws_when_the_dictionary_changes()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        map.Add(1, 1);
        map.Add(2, 2);

        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var pair in map)
            {
                map.Add(pair.Key + 10, 0);
            }
        });
    }

    [Fact]
    public void Bad_inputs_throw_documented_exceptions()
    {
        using var pool = NewPool();
        var index = pool.Root<Index>();
        index.Numbers.Add(1, 1);

        Assert.Throws<ArgumentException>(() => index.Numbers.Add(1, 2));
        Assert.Throws<KeyNotFoundException>(() => index.Numbers[2]);
        Assert.Throws<ArgumentNullException>(() => index.Names[null!] = "x");
        Assert.Throws<PersistentTypeMismatchException>(() => index.NumbersAsInt);
        Assert.Throws<NotSupportedException>(() => index.ByDouble);
        Assert.Equal(1, index.Numbers[1]);
    }

    [Fact]
    public void The_tree_survives_a_reopen()
    {
        var pool = NewPool();
        var map = pool.Root<Index>().Names;
        for (var i = 0; i < 1_000; i++)
        {
            map[$"k{i:D5}"] = $"v{i}";
        }

        var image = ((MemoryDomain)pool.Domain).ToArray();
        pool.Dispose();
        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(image), "tests");
        var names = reopened.Root<Index>().Names;
        Assert.Equal(Enumerable.Range(0, 1_000).Select(i => $"k{i:D5}"), names.Keys);
        Assert.Equal("v500", names["k00500"]);
        AssertSound(reopened);
    }

    [Fact]
    public void The_check_reports_keys_out_of_order_without_throwing()
    {
        using var pool = NewPool();
        var map = pool.Root<Index>().Numbers;
        for (long k = 0; k < 10; k++)
        {
            map.Add(k, k);
        }

        // One leaf (the root): swap its first two keys behind the tree's back.
        var root = pool.Domain.Read<long>(map.Offset + SortedLayout.RootOffset);
        pool.Domain.Write(root + SortedLayout.EntriesOffset, 1L);
        pool.Domain.Write(root + SortedLayout.EntriesOffset + 16, 0L);
        var report = pool.Check();
        Assert.Contains(report.Errors, e => e.Contains("out of order"));

        pool.Domain.Write(root + SortedLayout.NodeOwnerOffset, 12_345L);
        pool.Domain.Write(map.Offset + SortedLayout.NodeCountOffset, 7L);
        report = pool.Check();
        Assert.Contains(report.Errors, e => e.Contains("another owner"));
        Assert.Contains(report.Errors, e => e.Contains("counts"));
    }

    [Theory]
    [InlineData((int)KeyOrder.Guid)] // the fuzzer's case: a DateTime tree (8-byte keys) recorded as Guid-ordered
    [InlineData((int)KeyOrder.DateTimeOffset)]
    [InlineData((int)KeyOrder.Decimal)]
    public void A_key_order_whose_type_is_wider_than_the_recorded_keys_is_damage_the_check_reports(int order)
    {
        using var pool = NewPool();
        var byTime = pool.Root<Index>().ByTime;
        for (var day = 1; day <= 200; day++)
        {
            byTime[new DateTime(2026, 1, 1).AddDays(day)] = day;
        }

        pool.Domain.WriteDurable(byTime.Offset + SortedLayout.KeyOrderOffset, order);
        var report = pool.Check(); // threw ArgumentOutOfRangeException reading a 16-byte key from an 8-byte slot
        Assert.Contains(report.Errors, e => e.Contains("impossible key or value slots"));
        Assert.Throws<PersistentTypeMismatchException>(() => pool.Root<Index>().ByTime.Count); // not the DateTime tree it asks for
    }

    [Fact]
    public void An_insert_below_an_inner_node_whose_count_reads_zero_is_refused_as_damage()
    {
        using var pool = NewPool();
        var names = pool.Root<Index>().Names;
        for (var i = 0; i < 200; i++)
        {
            names[$"k{i:D3}"] = "v";
        }

        var root = pool.Domain.Read<long>(names.Offset + SortedLayout.RootOffset);
        Assert.NotEqual(0, pool.Domain.Read<int>(root + SortedLayout.NodeLevelOffset)); // an inner node
        pool.Domain.WriteDurable(root + SortedLayout.NodeEntryCountOffset, 0);
        Assert.Throws<PoolCorruptedException>(() => names["k017"] = "m"); // was an ArgumentOutOfRangeException from a negative shift
        Assert.False(pool.Check().IsConsistent);
    }
}
