// HashIndexCrashTests -- crash campaigns over hashed indexes: setters, New, Delete and transactions moving values between one and several holders.
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Indexes;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over hashed indexes, in both durability modes. On every image after recovery the check holds (the
/// table's single holders and the shared tree's entries each name an object holding their value, every object has
/// its entry, values marked shared have shared entries and are counted, nothing leaks), and the members equal the
/// model after the operations that had returned, or one more: a setter, a New, a Delete or a transaction moves objects
/// and their entries together, also when a value goes from one holder to several and back, and a refused unique value
/// changes nothing. A build of hashed indexes a program adds, crashed at any point, leaves a pool whose next use builds
/// them whole.
/// </summary>
public sealed class HashIndexCrashTests
{
    private const int ImagesPerPoint = 8;

    private static Func<SimulatedDomain> Setup(DurabilityMode durability, Action<PersistentPool> prepare, Action<PersistentPool> keep) => () =>
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength + 10 * PoolLayout.ChunkSize);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool with { Durability = durability });
        prepare(pool);
        keep(pool);
        return domain;
    };

    private static (long Number, string? Name, Tide Tide)[] Members(PersistentPool pool) =>
        [.. pool.Root<HashedClub>().Members.Select(m => (m!.Number, m.Name, m.Tide)).OrderBy(m => m.Number)];

    private static HashedMember Find(PersistentPool pool, long number) => pool.Index<HashedMember, long>(nameof(HashedMember.Number)).Find(number)[0];

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Setters_new_and_delete_move_objects_and_their_hashed_entries_together_at_every_crash(DurabilityMode durability)
    {
        // Names: "solo i" held by one member each, "pair" by two, "crowd" by the rest; tides shared by many.
        static string NameOf(int i) => i <= 6 ? $"solo {i}" : i <= 8 ? "pair" : "crowd";
        void Prepare(PersistentPool pool)
        {
            var club = pool.Root<HashedClub>();
            using var tx = pool.BeginTransaction();
            for (var i = 1; i <= 16; i++)
            {
                var member = pool.New<HashedMember>();
                member.Number = i;
                member.Name = NameOf(i);
                member.Tide = i % 3 == 0 ? Tide.High : Tide.Slack;
                club.Members.Add(member);
            }

            tx.Commit();
        }

        var model = new SortedDictionary<long, (string? Name, Tide Tide)>();
        for (var i = 1; i <= 16; i++)
        {
            model[i] = (NameOf(i), i % 3 == 0 ? Tide.High : Tide.Slack);
        }

        var states = new List<(long, string?, Tide)[]>();
        states.Add([.. model.Select(p => (p.Key, p.Value.Name, p.Value.Tide))]);
        var operations = new List<Action<PersistentPool>>();
        void Step(Action<SortedDictionary<long, (string? Name, Tide Tide)>> onModel, Action<PersistentPool> onPool)
        {
            onModel(model);
            states.Add([.. model.Select(p => (p.Key, p.Value.Name, p.Value.Tide))]);
            operations.Add(onPool);
        }

        void Rename(long number, string? name) => Step(m => m[number] = m[number] with { Name = name }, pool => Find(pool, number).Name = name);
        Rename(2, "solo 1"); // one holder → shared
        Rename(1, "solo 3"); // shared → one holder left; "solo 3" becomes shared
        Rename(2, null); // "solo 1" loses its last holder
        Rename(7, "crowd"); // "pair" keeps one holder, still marked shared
        Rename(8, "solo 8"); // "pair" is gone
        for (var i = 13; i <= 16; i++)
        {
            Rename(i, $"solo {i}"); // "crowd" loses holders, one a commit, each freeing a string the next may reuse
        }

        Rename(13, "crowd"); // and gains them back
        Rename(14, "crowd");
        Step(m => m[12] = m[12] with { Tide = Tide.Low }, pool => Find(pool, 12).Tide = Tide.Low); // leaves a shared value for a new one
        Step(m => { m[100] = m[3]; m.Remove(3); }, pool => Find(pool, 3).Number = 100);
        Step(m => m.Remove(4), pool =>
        {
            using var tx = pool.BeginTransaction();
            var victim = Find(pool, 4);
            pool.Root<HashedClub>().Members.Remove(victim);
            pool.Delete(victim);
            tx.Commit();
        });
        Step(m => m[200] = ("solo 5", Tide.Slack), pool =>
        {
            using var tx = pool.BeginTransaction();
            var member = pool.New<HashedMember>(); // filed under the default values first
            member.Number = 200;
            member.Name = "solo 5"; // and a value held by one member becomes shared
            pool.Root<HashedClub>().Members.Add(member);
            tx.Commit();
        });
        Step(_ => { }, pool => Assert.Throws<PersistentUniqueConstraintException>(() => Find(pool, 5).Number = 6));
        Step(_ => { }, pool => Assert.ThrowsAny<Exception>(() =>
        {
            // A unique violation inside a transaction rolls back its earlier changes too.
            using var tx = pool.BeginTransaction();
            Find(pool, 9).Name = "solo 6";
            Find(pool, 10).Name = "solo 6";
            Find(pool, 9).Number = 10;
            tx.Commit();
        }));
        Step(m => { m[9] = m[9] with { Name = "swapped" }; m[10] = m[10] with { Name = "swapped" }; m[11] = m[11] with { Name = "solo 6" }; }, pool =>
        {
            using var tx = pool.BeginTransaction();
            Find(pool, 9).Name = "swapped";
            Find(pool, 10).Name = "swapped";
            Find(pool, 11).Name = "solo 6";
            tx.Commit();
        });

        PersistentPool? pool = null;
        var completed = 0;
        var result = CrashCampaign.Run(
            Setup(durability, Prepare, p => pool = p),
            _ =>
            {
                foreach (var operation in operations)
                {
                    operation(pool!);
                    completed++;
                }
            },
            PoolCrashTests.OnOwnThread((image, _) =>
            {
                var done = completed;
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var members = Members(reopened);
                Assert.True(states[done].SequenceEqual(members) || (done + 1 < states.Count && states[done + 1].SequenceEqual(members)),
                    $"after {done} operations the members match neither state {done} nor {done + 1}: {string.Join(", ", members.Take(8))}; state {string.Join(", ", states[done].Take(8))}");
                var byName = reopened.Index<HashedMember, string>(nameof(HashedMember.Name));
                Assert.True(byName.IsHashed);
                foreach (var (number, name, tide) in members)
                {
                    Assert.Equal(number, Find(reopened, number).Number);
                    if (name is not null)
                    {
                        Assert.Equal(members.Count(m => m.Name == name), byName.Find(name).Count);
                    }

                    Assert.Contains(reopened.Index<HashedMember, Tide>(nameof(HashedMember.Tide)).Find(tide), m => m.Number == number);
                }

                Assert.Equal(members.Count(m => m.Name is not null), byName.Count);
            }),
            new CrashCampaignOptions { ImagesPerPoint = ImagesPerPoint });
        PoolCrashTests.Report($"{nameof(Setters_new_and_delete_move_objects_and_their_hashed_entries_together_at_every_crash)}({durability})", result);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void A_crashed_hashed_index_build_leaves_a_pool_that_builds_it_whole_next_time(DurabilityMode durability)
    {
        void Prepare(PersistentPool pool)
        {
            var club = pool.Root<PlainClub>();
            using var tx = pool.BeginTransaction();
            for (var i = 1; i <= 40; i++)
            {
                var member = pool.New<MemberUnindexed>();
                member.Number = i;
                member.Name = i % 8 == 0 ? $"solo {i}" : $"name {i % 4}";
                club.Members.Add(member);
            }

            tx.Commit();
        }

        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            Setup(durability, Prepare, p => pool = p),
            _ => Assert.Equal(40, pool!.Index<HashedMember, long>(nameof(HashedMember.Number)).Count), // the first use of the hashed class builds its four indexes
            PoolCrashTests.OnOwnThread((image, _) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image); // frees what a crashed build left stale
                PoolCrashTests.AssertHeapIsSound(reopened);
                Assert.Equal(10, reopened.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("name 2").Count); // 2, 6, … 38
                Assert.Single(reopened.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("solo 16"));
                Assert.Equal(40, reopened.Index<HashedMember, long>(nameof(HashedMember.Number)).Count);
                Assert.Equal(40, reopened.Index<HashedMember, Tide>(nameof(HashedMember.Tide)).Find(Tide.Slack).Count);
                Assert.Equal(PoolLayout.FormatVersion, reopened.FormatVersion);
                PoolCrashTests.AssertHeapIsSound(reopened);
            }),
            new CrashCampaignOptions { ImagesPerPoint = ImagesPerPoint });
        PoolCrashTests.Report($"{nameof(A_crashed_hashed_index_build_leaves_a_pool_that_builds_it_whole_next_time)}({durability})", result);
    }
}
