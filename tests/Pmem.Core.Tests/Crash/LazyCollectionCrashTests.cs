// LazyCollectionCrashTests -- crash campaigns over collections' first inserts: a header is published whole or not at all.
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Every kind of collection created by its first insert (outside a transaction, two in one transaction, and one in a
/// transaction that rolls back), crashed at every drain point with random subsets of unflushed lines. Invariant on
/// every image after recovery: each collection field is 0 (an empty collection) or holds a whole header with the
/// first insert's element; the collections as a whole are the state after the operations that returned, or after one
/// more; and nothing allocated is unreachable (no header leaks) or dangling (<see cref="PersistentPool.Check"/>).
/// </summary>
public sealed class LazyCollectionCrashTests
{
    private const int ImagesPerPoint = 24; // few crash points (one per commit): more images each, for the campaign minimum

    private static Func<SimulatedDomain> Setup<TRoot>(DurabilityMode durability, Action<PersistentPool> keep)
        where TRoot : PersistentObject, IPersistentObject<TRoot> => () =>
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength + 5 * PoolLayout.ChunkSize);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool with { Durability = durability });
        pool.Root<TRoot>(); // the owner exists, its collection fields are all 0
        keep(pool);
        return domain;
    };

    private static CrashCampaignResult Run<TRoot>(DurabilityMode durability, IReadOnlyList<Action<TRoot>> operations, Func<TRoot, string> read)
        where TRoot : PersistentObject, IPersistentObject<TRoot>
    {
        // The model: the contents after each prefix of the operations, read from a clean run.
        var states = new List<string>();
        using (var model = PersistentPool.Create(MemoryDomain.Create(8 << 20), "model"))
        {
            var root = model.Root<TRoot>();
            states.Add(read(root));
            foreach (var operation in operations)
            {
                operation(root);
                states.Add(read(root));
            }
        }

        PersistentPool? pool = null;
        var completed = 0;
        return CrashCampaign.Run(
            Setup<TRoot>(durability, p => pool = p),
            _ =>
            {
                var root = pool!.Root<TRoot>();
                foreach (var operation in operations)
                {
                    operation(root);
                    completed++;
                }
            },
            PoolCrashTests.OnOwnThread((image, point) =>
            {
                var done = completed; // the checker runs inside the workload's drain: no operation is between steps
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var contents = read(reopened.Root<TRoot>());
                Assert.True(contents == states[done] || (done + 1 < states.Count && contents == states[done + 1]),
                    $"after {done} operations the collections hold {contents}, neither state {done} ({states[done]}) nor the next");
            }),
            new CrashCampaignOptions { ImagesPerPoint = ImagesPerPoint });
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Lists_and_dictionaries_created_by_their_first_insert_never_leak_or_dangle_at_any_crash(DurabilityMode durability)
    {
        var operations = new List<Action<Registry>>
        {
            r => r.Numbers.Add(7),                 // a list, outside any transaction
            r => r.Names["a"] = "alpha",           // a dictionary with owned strings
            r =>
            {
                using var tx = r.Pool.BeginTransaction();
                r.Lines.Add("line");               // two creations in one transaction
                r.Counters[1] = 10;
                tx.Commit();
            },
            r =>
            {
                using var tx = r.Pool.BeginTransaction();
                r.ById[5] = null;                   // created, then rolled back: must leave the field 0
            },
            r => r.Numbers.Add(8),                 // an insert into a created list
        };

        var result = Run(durability, operations, r =>
            $"numbers [{string.Join(",", r.Numbers)}] names [{string.Join(",", r.Names)}] lines [{string.Join(",", r.Lines)}] " +
            $"counters [{string.Join(",", r.Counters)}] byId {r.ById.Count} fields {FieldsSet(r, 6)}");
        PoolCrashTests.Report(nameof(Lists_and_dictionaries_created_by_their_first_insert_never_leak_or_dangle_at_any_crash) + $"({durability})", result);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Sorted_dictionaries_and_sets_created_by_their_first_insert_never_leak_or_dangle_at_any_crash(DurabilityMode durability)
    {
        var operations = new List<Action<Objects.Index>>
        {
            i => i.Tags.Add(3),                    // a set, outside any transaction
            i => i.Names["k"] = "v",               // a sorted dictionary with owned strings
            i =>
            {
                using var tx = i.Pool.BeginTransaction();
                i.Numbers[1] = 2;                  // two creations in one transaction
                i.Words.Add("w");
                tx.Commit();
            },
            i =>
            {
                using var tx = i.Pool.BeginTransaction();
                i.Signed[-1] = "gone";              // created, then rolled back
            },
        };

        var result = Run(durability, operations, i =>
            $"tags [{string.Join(",", i.Tags)}] names [{string.Join(",", i.Names)}] numbers [{string.Join(",", i.Numbers)}] " +
            $"words [{string.Join(",", i.Words)}] signed {i.Signed.Count} fields {FieldsSet(i, 6)}");
        PoolCrashTests.Report(nameof(Sorted_dictionaries_and_sets_created_by_their_first_insert_never_leak_or_dangle_at_any_crash) + $"({durability})", result);
    }

    /// <summary>Which of the first <paramref name="count"/> collection fields hold a header (a bit each).</summary>
    private static int FieldsSet(PersistentObject owner, int count)
    {
        var bits = 0;
        for (var i = 0; i < count; i++)
        {
            bits |= owner.Pool.Domain.Read<long>(owner.Offset + i * 8) != 0 ? 1 << i : 0;
        }

        return bits;
    }
}
