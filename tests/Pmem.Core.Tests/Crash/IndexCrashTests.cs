using System.Buffers.Binary;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Indexes;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over indexed properties, in both durability modes. On every image after recovery the check holds
/// (every index entry names an object holding its value, every object has its entry, the trees are in order, nothing
/// leaks), and the members equal the model after the operations that had returned, or one more: a setter, a New, a
/// Delete or a transaction moves objects and their entries together. A build of indexes a program adds, crashed at
/// any point, leaves a pool whose next use builds them whole.
/// </summary>
public sealed class IndexCrashTests
{
    private const int ImagesPerPoint = 8;

    private static Func<SimulatedDomain> Setup(DurabilityMode durability, Action<PersistentPool> prepare, Action<PersistentPool> keep) => () =>
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength + 6 * PoolLayout.ChunkSize);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool with { Durability = durability });
        prepare(pool);
        keep(pool);
        return domain;
    };

    private static (long Number, string? Name)[] Members(PersistentPool pool) =>
        [.. pool.Root<Club>().Members.Select(m => (m!.Number, m.Name)).OrderBy(m => m.Number)];

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Setters_new_and_delete_move_objects_and_their_entries_together_at_every_crash(DurabilityMode durability)
    {
        void Prepare(PersistentPool pool)
        {
            var club = pool.Root<Club>();
            for (var i = 1; i <= 40; i++)
            {
                using var tx = pool.BeginTransaction();
                var member = pool.New<Member>();
                member.Number = i;
                member.Name = $"name {i % 6}";
                club.Members.Add(member);
                tx.Commit();
            }
        }

        var model = new SortedDictionary<long, string?>();
        for (var i = 1; i <= 40; i++)
        {
            model[i] = $"name {i % 6}";
        }

        var states = new List<(long, string?)[]>();
        states.Add([.. model.Select(p => (p.Key, p.Value))]);
        var operations = new List<Action<PersistentPool>>();
        void Step(Action<SortedDictionary<long, string?>> onModel, Action<PersistentPool> onPool)
        {
            onModel(model);
            states.Add([.. model.Select(p => (p.Key, p.Value))]);
            operations.Add(onPool);
        }

        static Member Find(PersistentPool pool, long number) => pool.Index<Member, long>(nameof(Member.Number)).Find(number)[0];
        for (var i = 1; i <= 16; i++)
        {
            var (number, name) = (i * 2L + 8, $"renamed {i}");
            Step(m => m[number] = name, pool => Find(pool, number).Name = name);
        }

        Step(m => { m[100] = m[3]; m.Remove(3); }, pool => Find(pool, 3).Number = 100);
        Step(m => m.Remove(7), pool =>
        {
            using var tx = pool.BeginTransaction();
            var victim = Find(pool, 7);
            pool.Root<Club>().Members.Remove(victim);
            pool.Delete(victim);
            tx.Commit();
        });
        Step(m => m[200] = null, pool =>
        {
            using var tx = pool.BeginTransaction();
            var member = pool.New<Member>();
            member.Number = 200;
            pool.Root<Club>().Members.Add(member);
            tx.Commit();
        });
        Step(_ => { }, pool => Assert.Throws<PersistentUniqueConstraintException>(() => Find(pool, 8).Number = 9));
        Step(m => { m[8] = "swapped"; m[9] = "swapped too"; }, pool =>
        {
            using var tx = pool.BeginTransaction();
            Find(pool, 8).Name = "swapped";
            Find(pool, 9).Name = "swapped too";
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
                foreach (var (number, name) in members)
                {
                    Assert.Equal(number, Find(reopened, number).Number);
                    if (name is not null)
                    {
                        Assert.Contains(reopened.Index<Member, string>(nameof(Member.Name)).Find(name), m => m.Number == number);
                    }
                }
            }),
            new CrashCampaignOptions { ImagesPerPoint = ImagesPerPoint });
        PoolCrashTests.Report($"{nameof(Setters_new_and_delete_move_objects_and_their_entries_together_at_every_crash)}({durability})", result);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void A_crashed_index_build_leaves_a_pool_that_builds_it_whole_next_time(DurabilityMode durability)
    {
        void Prepare(PersistentPool pool)
        {
            var club = pool.Root<PlainClub>();
            using var tx = pool.BeginTransaction();
            for (var i = 1; i <= 60; i++)
            {
                var member = pool.New<MemberUnindexed>();
                member.Number = i;
                member.Name = $"name {i % 4}";
                club.Members.Add(member);
            }

            tx.Commit();
        }

        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            Setup(durability, Prepare, p => pool = p),
            _ => Assert.Equal(60, pool!.Index<Member, long>(nameof(Member.Number)).Count), // the first use of the indexed class builds its four indexes
            PoolCrashTests.OnOwnThread((image, _) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image); // frees what a crashed build left stale
                PoolCrashTests.AssertHeapIsSound(reopened);
                Assert.Equal(15, reopened.Index<Member, string>(nameof(Member.Name)).Find("name 2").Count);
                Assert.Equal(60, reopened.Index<Member, long>(nameof(Member.Number)).Count);
                PoolCrashTests.AssertHeapIsSound(reopened);
            }),
            new CrashCampaignOptions { ImagesPerPoint = 2 * ImagesPerPoint });
        PoolCrashTests.Report($"{nameof(A_crashed_index_build_leaves_a_pool_that_builds_it_whole_next_time)}({durability})", result);
    }

    [Fact]
    public void A_version_4_pool_gets_its_first_index_and_the_format_upgrade_atomically()
    {
        // A version-4 pool (no index directory) with members written without indexes; the indexed program's first use
        // makes the directory and the header's move to version 5 in one commit, then builds.
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength + 6 * PoolLayout.ChunkSize);
        byte[] image;
        using (var legacy = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool))
        {
            var club = legacy.Root<PlainClub>();
            for (var i = 1; i <= 10; i++)
            {
                var member = legacy.New<MemberUnindexed>();
                member.Number = i;
                club.Members.Add(member);
            }

            image = domain.GetSpan(0, (int)domain.Length).ToArray();
            OlderFormat.AsVersion(image, 4);
        }

        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            () =>
            {
                var fresh = SimulatedDomain.FromImage(image);
                pool = PersistentPool.Open(fresh, PoolCrashTests.LayoutName);
                Assert.Equal(4u, pool.FormatVersion);
                return fresh;
            },
            _ => Assert.Equal(10, pool!.Index<Member, long>(nameof(Member.Number)).Count),
            PoolCrashTests.OnOwnThread((crashed, _) =>
            {
                using var reopened = PoolCrashTests.OpenImage(crashed);
                var directory = reopened.Domain.Read<long>(PoolLayout.IndexDirectoryOffset);
                Assert.Equal(directory != 0, reopened.FormatVersion == PoolLayout.UpgradeVersion); // never a directory in a version-4 pool
                PoolCrashTests.AssertHeapIsSound(reopened);
                Assert.Equal([4L], reopened.Index<Member, long>(nameof(Member.Number)).Find(4).Select(m => m.Number));
                Assert.Equal(PoolLayout.UpgradeVersion, reopened.FormatVersion);
            }),
            new CrashCampaignOptions { ImagesPerPoint = 20 });
        PoolCrashTests.Report(nameof(A_version_4_pool_gets_its_first_index_and_the_format_upgrade_atomically), result);
    }
}
