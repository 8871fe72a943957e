using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over the sorted dictionary and the set, in both durability modes. Invariant on every image after
/// recovery: the contents equal the model after the operations that had returned before the crash point, or after
/// one more (each operation, and each transaction of several, all-or-nothing and in order); keys enumerate strictly
/// ascending forward and descending backward; <see cref="PersistentPool.Check"/> is consistent (node ownership,
/// levels, key order and bounds, the leaf chain, the counts); and nothing allocated is unreachable (splits, merges and
/// removes leak no node and no string).
/// </summary>
public sealed class SortedCollectionCrashTests
{
    /// <summary>Random images per crash point (ten times as many with <c>PMEM_CRASH_CAMPAIGN=long</c>): the CI budget.</summary>
    private const int ImagesPerPoint = 12;

    private static Func<SimulatedDomain> Setup(DurabilityMode durability, Action<PersistentPool> prepare, Action<PersistentPool> keep) => () =>
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength + 5 * PoolLayout.ChunkSize);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool with { Durability = durability });
        pool.Root<Objects.Index>();
        prepare(pool);
        keep(pool);
        return domain;
    };

    /// <summary>
    /// Runs <paramref name="operations"/> (each one step of the model) as the workload and checks every image against the
    /// states the model passes through: <c>states[i]</c> is the contents after <c>i</c> operations.
    /// </summary>
    private static CrashCampaignResult Run<TKey>(
        DurabilityMode durability,
        Action<PersistentPool> prepare,
        IReadOnlyList<Action<Objects.Index>> operations,
        IReadOnlyList<TKey[]> states,
        Func<Objects.Index, IEnumerable<TKey>> read,
        Func<Objects.Index, IEnumerable<TKey>> readBackward,
        IComparer<TKey> order)
    {
        PersistentPool? pool = null;
        var completed = 0;
        return CrashCampaign.Run(
            Setup(durability, prepare, p => pool = p),
            _ =>
            {
                var index = pool!.Root<Objects.Index>();
                foreach (var operation in operations)
                {
                    operation(index);
                    completed++;
                }
            },
            PoolCrashTests.OnOwnThread((image, point) =>
            {
                var done = completed; // the checker runs inside the workload's drain: no operation is between steps
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var index = reopened.Root<Objects.Index>();
                var keys = read(index).ToArray();
                for (var i = 1; i < keys.Length; i++)
                {
                    Assert.True(order.Compare(keys[i - 1], keys[i]) < 0, $"keys {keys[i - 1]} and {keys[i]} out of order");
                }

                Assert.Equal(keys.Reverse(), readBackward(index));
                var matches = states[done].SequenceEqual(keys) || (done + 1 < states.Count && states[done + 1].SequenceEqual(keys));
                Assert.True(matches, $"after {done} operations the tree holds {keys.Length} keys, matching neither state {done} nor {done + 1}");
            }),
            new CrashCampaignOptions { ImagesPerPoint = ImagesPerPoint });
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Sorted_dictionary_splits_to_a_new_root_and_merges_back_atomically_at_every_crash(DurabilityMode durability)
    {
        // Prepared: a two-level tree whose root holds its most children and whose last leaf is full, so the first insert
        // splits a leaf, the root and grows the tree to three levels. Then transactions remove runs of keys from the
        // front (leaf merges and shares, an inner node merged, the root collapsing back) and single steps change the middle.
        var prefill = new List<long>();
        void Prepare(PersistentPool pool)
        {
            var map = pool.Root<Objects.Index>().Numbers;
            for (long key = 0; !IsRootFullWithFullLastLeaf(pool, map); key += 10)
            {
                map.Add(key, key * 2);
                prefill.Add(key);
            }
        }

        var model = new SortedSet<long>();
        var states = new List<long[]>();
        var operations = new List<Action<Objects.Index>>();
        void Step(Action<SortedSet<long>> onModel, Action<Objects.Index> onPool)
        {
            onModel(model);
            states.Add([.. model]);
            operations.Add(onPool);
        }

        // The prefill is deterministic: learn it once on ordinary memory (fast), then the campaign's setup repeats it.
        using (var scratch = PersistentPool.Create(Pool.MemoryDomain.Create(PoolCrashTests.SmallPoolLength + 5 * PoolLayout.ChunkSize), PoolCrashTests.LayoutName, PoolCrashTests.SmallPool))
        {
            scratch.Root<Objects.Index>();
            Prepare(scratch);
        }

        model.UnionWith(prefill);
        states.Add([.. model]);
        var last = prefill[^1];
        for (var i = 1; i <= 8; i++)
        {
            var key = last + i;
            Step(m => m.Add(key), index => index.Numbers.Add(key, key * 2));
        }

        operations.Add(index => Assert.Equal(3, HeightOf(index.Pool, index.Numbers))); // the root split: the campaign tests what it means to
        states.Add(states[^1]);

        for (var run = 0; run < 10; run++)
        {
            var from = run * 250L;
            Step(m => m.RemoveWhere(k => k >= from && k < from + 250), index =>
            {
                using var tx = index.Pool.BeginTransaction();
                for (var key = from; key < from + 250; key += 10)
                {
                    index.Numbers.Remove(key);
                }

                tx.Commit();
            });
        }

        for (var i = 0; i < 6; i++)
        {
            var key = 3_005L + i * 10;
            Step(m => m.Add(key), index => index.Numbers[key] = -key);
            var gone = 3_500L + i * 10;
            Step(m => m.Remove(gone), index => index.Numbers.Remove(gone));
        }

        operations.Add(index => Assert.Equal(2, HeightOf(index.Pool, index.Numbers))); // merged back under a new root
        states.Add(states[^1]);
        prefill.Clear();
        var result = Run(durability, Prepare, operations, states, index => index.Numbers.Keys, index => index.Numbers.Reversed().Select(p => p.Key), Comparer<long>.Default);
        PoolCrashTests.Report($"{nameof(Sorted_dictionary_splits_to_a_new_root_and_merges_back_atomically_at_every_crash)}({durability})", result);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void String_keyed_sorted_dictionary_and_set_keep_their_strings_and_separators_at_every_crash(DurabilityMode durability)
    {
        // One leaf nearly full of string keys with string values, and a set: inserts split the leaf (a separator string
        // copied into the new root), removes share and merge the leaves (separators replaced and freed) and collapse the
        // root; set bulk operations run as transactions.
        static string Key(int i) => $"key {i:D4}";
        void Prepare(PersistentPool pool)
        {
            var index = pool.Root<Objects.Index>();
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 28; i++)
            {
                index.Names[Key(i * 2)] = $"value {i}";
            }

            tx.Commit();
        }

        var model = new SortedSet<string>(Enumerable.Range(0, 28).Select(i => Key(i * 2)), StringComparer.Ordinal);
        var states = new List<string[]> { model.ToArray() };
        var operations = new List<Action<Objects.Index>>();
        void Step(Action<SortedSet<string>> onModel, Action<Objects.Index> onPool)
        {
            onModel(model);
            states.Add([.. model]);
            operations.Add(onPool);
        }

        for (var i = 0; i < 8; i++)
        {
            var key = Key(i * 8 + 1);
            Step(m => m.Add(key), index => index.Names[key] = key.ToUpperInvariant());
        }

        for (var i = 0; i < 28; i += 2)
        {
            var key = Key(i * 2);
            Step(m => m.Remove(key), index => index.Names.Remove(key));
        }

        Step(m => m.RemoveWhere(k => string.CompareOrdinal(k, Key(30)) >= 0), index =>
        {
            using var tx = index.Pool.BeginTransaction();
            foreach (var key in index.Names.From(Key(30)).Select(p => p.Key).ToList())
            {
                index.Names.Remove(key);
            }

            tx.Commit();
        });

        var names = Run(durability, Prepare, operations, states, index => index.Names.Keys, index => index.Names.Reversed().Select(p => p.Key), StringComparer.Ordinal);
        PoolCrashTests.Report($"{nameof(String_keyed_sorted_dictionary_and_set_keep_their_strings_and_separators_at_every_crash)}({durability}, dictionary)", names);

        var words = new SortedSet<string>(StringComparer.Ordinal);
        var wordStates = new List<string[]> { Array.Empty<string>() };
        var wordOperations = new List<Action<Objects.Index>>();
        void WordStep(Action<SortedSet<string>> onModel, Action<PersistentSet<string>> onPool)
        {
            onModel(words);
            wordStates.Add([.. words]);
            wordOperations.Add(index => onPool(index.Words));
        }

        for (var round = 0; round < 3; round++)
        {
            var batch = Enumerable.Range(round * 40, 50).Select(i => $"w{i:D3}").ToArray();
            WordStep(m => m.UnionWith(batch), set => set.UnionWith(batch));
            var drop = batch.Where((_, i) => i % 3 == 0).ToArray();
            WordStep(m => m.ExceptWith(drop), set => set.ExceptWith(drop));
            var single = $"single {round}";
            WordStep(m => m.Add(single), set => set.Add(single));
        }

        var set = Run(durability, _ => { }, wordOperations, wordStates, index => index.Words, index => index.Words.Reversed(), StringComparer.Ordinal);
        PoolCrashTests.Report($"{nameof(String_keyed_sorted_dictionary_and_set_keep_their_strings_and_separators_at_every_crash)}({durability}, set)", set);
    }

    private static int HeightOf(PersistentPool pool, PersistentSortedDictionary<long, long> map) =>
        pool.Domain.Read<int>(map.Offset + SortedLayout.HeightOffset);

    /// <summary>Whether the tree is two levels with a full root and a full last leaf (reading its layout directly).</summary>
    private static bool IsRootFullWithFullLastLeaf(PersistentPool pool, PersistentSortedDictionary<long, long> map)
    {
        var domain = pool.Domain;
        var root = domain.Read<long>(map.Offset + SortedLayout.RootOffset);
        if (root == 0 || domain.Read<int>(map.Offset + SortedLayout.HeightOffset) != 2)
        {
            return false;
        }

        var nodeSize = domain.Read<int>(map.Offset + SortedLayout.NodeSizeOffset);
        var children = domain.Read<int>(root + SortedLayout.NodeEntryCountOffset);
        var lastLeaf = domain.Read<long>(root + SortedLayout.EntriesOffset + (children - 1) * 16 + 8);
        return children == SortedLayout.InnerCapacity(nodeSize, 8) && domain.Read<int>(lastLeaf + SortedLayout.NodeEntryCountOffset) == SortedLayout.LeafCapacity(nodeSize, 8, 8);
    }
}
