using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over collections. Invariant on every image after recovery: the contents equal the model after
/// some prefix of the operations (each operation all-or-nothing, in order), no key appears twice, and nothing
/// allocated is unreachable (resizes and removes leak nothing).
/// </summary>
public sealed class CollectionCrashTests
{
    private static Func<SimulatedDomain> Setup(Action<PersistentPool> keep) => () =>
    {
        // Room for a run per size class the strings and growing tables use.
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength + 6 * PoolLayout.ChunkSize);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
        pool.Root<Registry>();
        keep(pool);
        return domain;
    };

    [Fact]
    public void List_inserts_removes_growth_and_clear_are_atomic_at_every_crash()
    {
        // The model after each operation; a crash image must equal one of them.
        var states = new List<string[]> { Array.Empty<string>() };
        var operations = new List<Action<PersistentList<string?>>>();
        var model = new List<string>();
        var random = new Random(11);
        for (var i = 0; i < 24; i++)
        {
            var value = $"item {i}";
            if (i == 16)
            {
                operations.Add(l => l.Clear());
                model.Clear();
            }
            else if (model.Count > 2 && random.Next(3) == 0)
            {
                var at = random.Next(model.Count);
                operations.Add(l => l.RemoveAt(at));
                model.RemoveAt(at);
            }
            else
            {
                var at = random.Next(model.Count + 1);
                operations.Add(l => l.Insert(at, value));
                model.Insert(at, value);
            }

            states.Add([.. model]);
        }

        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            Setup(p => pool = p),
            _ =>
            {
                var lines = pool!.Root<Registry>().Lines;
                foreach (var operation in operations)
                {
                    operation(lines);
                }
            },
            PoolCrashTests.OnOwnThread((image, point) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var contents = reopened.Root<Registry>().Lines.ToArray();
                Assert.True(states.Any(s => s.SequenceEqual(contents)), $"[{string.Join(", ", contents)}] is no state the operations pass through");
            }));

        PoolCrashTests.Report(nameof(List_inserts_removes_growth_and_clear_are_atomic_at_every_crash), result);
    }

    [Fact]
    public void Dictionary_inserts_removes_and_resizes_are_atomic_at_every_crash()
    {
        const int Operations = 40;
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            Setup(p => pool = p),
            _ =>
            {
                var names = pool!.Root<Registry>().Names;
                var counters = pool.Root<Registry>().Counters;
                for (var i = 0; i < Operations; i++)
                {
                    // One transaction per step keeps the two dictionaries and the step counter in agreement.
                    using var tx = pool.BeginTransaction();
                    if (i % 5 == 4)
                    {
                        names.Remove($"k{i - 2}");
                    }
                    else
                    {
                        names[$"k{i}"] = $"v{i}";
                    }

                    counters[0] = i + 1;
                    tx.Commit();
                }
            },
            PoolCrashTests.OnOwnThread((image, point) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var registry = reopened.Root<Registry>();
                var steps = registry.Counters.TryGetValue(0, out var done) ? (int)done : 0;
                var expected = new Dictionary<string, string>();
                for (var i = 0; i < steps; i++)
                {
                    if (i % 5 == 4)
                    {
                        expected.Remove($"k{i - 2}");
                    }
                    else
                    {
                        expected[$"k{i}"] = $"v{i}";
                    }
                }

                var actual = registry.Names.ToList();
                Assert.Equal(actual.Count, actual.Select(p => p.Key).Distinct().Count());
                Assert.Equal(expected.OrderBy(p => p.Key), actual.Select(p => new KeyValuePair<string, string>(p.Key, p.Value!)).OrderBy(p => p.Key));
            }));

        PoolCrashTests.Report(nameof(Dictionary_inserts_removes_and_resizes_are_atomic_at_every_crash), result);
    }
}
