// HashIndexLifecycleTests -- hashed indexes across a pool's life: reopen, switching kinds, the version-7 upgrade, check and repair, compaction, read-only.
using System.Buffers.Binary;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;
using Pmem.Tests.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Hashed indexes across a pool's life: they survive a reopen; a program that switches a property between sorted and
/// hashed gets it rebuilt; a version-7 pool moves to the hashed index version with its first hashed index; check,
/// repair, compaction and read-only pools treat them as they treat sorted indexes.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class HashIndexLifecycleTests : HashIndexTestBase
{
    private static PoolOpenOptions Program<T, TRoot>()
        where T : PersistentObject, IPersistentObject<T>
        where TRoot : PersistentObject, IPersistentObject<TRoot> => new() { Types = [T.PersistentType, TRoot.PersistentType] };

    private static List<GraphProblem> Problems(PersistentPool pool)
    {
        var problems = new List<GraphProblem>();
        pool.CheckGraph(problems, fromRootOnly: false, out _);
        return problems;
    }

    [Fact]
    public void Hashed_indexes_survive_a_reopen_and_switching_a_property_between_sorted_and_hashed_rebuilds_it()
    {
        using (var pool = NewPool())
        {
            Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
            for (var i = 0; i < 1_000; i++)
            {
                Add<HashedMember, HashedClub>(pool, i + 1, $"m{i % 10}", score: i % 100);
            }

            Assert.Equal(100, pool.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("m3").Count);
        }

        // Reopened: the same hashed indexes, read and written.
        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<HashedMember, HashedClub>()))
        {
            Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
            var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
            Assert.True(byName.IsHashed);
            Assert.Equal(100, byName.Find("m3").Count);
            Assert.True(pool.Index<HashedMember, long>(nameof(HashedMember.Number)).TryFind(500, out var member));
            Assert.Equal("m9", member.Name);
            member.Name = "m3";
            Assert.Equal(101, byName.Find("m3").Count);
            SortedDictionaryTests.AssertSound(pool);
        }

        // Back to Member's sorted indexes: every hashed index is dropped and built sorted, nothing leaked.
        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<Member, Club>()))
        {
            Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
            var byName = pool.Index<Member, string>(nameof(Member.Name));
            Assert.False(byName.IsHashed);
            Assert.All(pool.LiveIndexes, index => Assert.False(index.Slot.IsHashed, index.Property.Name));
            Assert.Equal(101, byName.Find("m3").Count);
            Assert.Equal([500L], pool.Index<Member, long>(nameof(Member.Number)).Find(500).Select(m => m.Number));
            Assert.Equal(1_000, byName.Count);
            pool.Index<Member, long>(nameof(Member.Number)).Find(501)[0].Name = "m3";
            SortedDictionaryTests.AssertSound(pool);
        }

        // Only Name hashed: it is rebuilt as a table, the others stay sorted.
        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<MemberHashedName, Club>()))
        {
            Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
            var byName = pool.Index<MemberHashedName, string>(nameof(MemberHashedName.Name));
            Assert.True(byName.IsHashed);
            Assert.Equal(["Name"], pool.LiveIndexes.Where(index => index.Slot.IsHashed).Select(index => index.Property.Name));
            Assert.Equal(102, byName.Find("m3").Count);
            Assert.Equal(102, byName.Range("m3", "m3", upperInclusive: true).Count);
            Assert.Equal(1_000, byName.Count);
            byName.Find("m3")[0].Name = "m4";
            Assert.Equal(101, byName.Find("m3").Count);
            Assert.Equal(101, byName.Find("m4").Count);
            SortedDictionaryTests.AssertSound(pool);
        }

        // And back to sorted.
        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<Member, Club>()))
        {
            var byName = pool.Index<Member, string>(nameof(Member.Name));
            Assert.False(byName.IsHashed);
            Assert.DoesNotContain(pool.LiveIndexes, index => index.Slot.IsHashed);
            Assert.Equal(101, byName.Find("m3").Count);
            Assert.Equal(101, byName.Find("m4").Count);
            var names = byName.Select(m => m.Name!).ToList();
            Assert.Equal(names.Order(StringComparer.Ordinal), names);
            SortedDictionaryTests.AssertSound(pool);
        }
    }

    [Fact]
    public void A_version_7_pool_moves_to_the_hashed_index_version_with_its_first_hashed_index()
    {
        var domain = new SimulatedDomain(PoolLayout.MinimumPoolSize(2, 8192) + (8 * PoolLayout.ChunkSize));
        byte[] image;
        using (var pool = PersistentPool.Create(domain, "tests", new PoolCreateOptions { LaneCount = 2, LaneSize = 8192 }))
        {
            for (var i = 1; i <= 10; i++)
            {
                Add<SortedMember, SortedClub>(pool, i, $"m{i % 3}");
            }

            image = domain.GetSpan(0, (int)domain.Length).ToArray();
            OlderFormat.AsVersion(image, 7);
        }

        // Sorted indexes only: the pool stays at version 7.
        using (var sorted = PersistentPool.Open(SimulatedDomain.FromImage(image), "tests", Program<SortedMember, SortedClub>()))
        {
            Assert.Equal(7u, sorted.FormatVersion);
            Assert.Equal(4, sorted.Index<SortedMember, string>(nameof(SortedMember.Name)).Find("m1").Count);
        }

        // The first hashed index moves it to version 8, durably.
        var upgraded = SimulatedDomain.FromImage(image);
        using (var pool = PersistentPool.Open(upgraded, "tests", Program<MemberHashedName, Club>()))
        {
            Assert.Equal(PoolLayout.HashedIndexVersion, pool.FormatVersion);
            Assert.Equal(4, pool.Index<MemberHashedName, string>(nameof(MemberHashedName.Name)).Find("m1").Count);
            SortedDictionaryTests.AssertSound(pool);
            Assert.Equal(PoolLayout.HashedIndexVersion, BinaryPrimitives.ReadUInt32LittleEndian(upgraded.GetSpan(PoolLayout.VersionOffset, 4)));
            image = upgraded.GetSpan(0, (int)upgraded.Length).ToArray();
        }

        using (var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), "tests"))
        {
            Assert.Equal(PoolLayout.HashedIndexVersion, reopened.FormatVersion);
            Assert.True(reopened.LiveIndexes.Single(index => index.Property.Name == "Name").Slot.IsHashed);
            SortedDictionaryTests.AssertSound(reopened);
        }
    }

    public enum Damage
    {
        SingleHolderValue,
        SharedHolderValue,
        UnindexedString,
        SharedValuesCounter,
    }

    [Theory]
    [InlineData(Damage.SingleHolderValue, "Number")]
    [InlineData(Damage.SharedHolderValue, "Name")]
    [InlineData(Damage.UnindexedString, "Name")]
    [InlineData(Damage.SharedValuesCounter, "Name")]
    public void Check_finds_a_hashed_index_that_disagrees_with_its_objects_and_repair_drops_it_for_a_rebuild(Damage damage, string property)
    {
        using (var pool = NewPool())
        {
            for (var i = 0; i < 20; i++)
            {
                Add(pool, i, i % 4 == 0 ? "shared" : i % 4 == 1 ? null : $"m{i}");
            }

            SortedDictionaryTests.AssertSound(pool);
            var byNumber = pool.Index<HashedMember, long>(nameof(HashedMember.Number));
            switch (damage) // behind the index's back
            {
                case Damage.SingleHolderValue:
                    pool.WriteValue(byNumber.Find(7)[0].Offset, 700L);
                    break;
                case Damage.SharedHolderValue:
                    pool.WriteString(byNumber.Find(8)[0].Offset + 8, "m7");
                    break;
                case Damage.UnindexedString:
                    pool.WriteString(byNumber.Find(9)[0].Offset + 8, "m9");
                    break;
                case Damage.SharedValuesCounter:
                    pool.WriteValue(pool.LiveIndexes.Single(index => index.Property.Name == "Name").Slot.SharedValuesWord, 2L);
                    break;
            }

            var problems = Problems(pool);
            var problem = Assert.Single(problems);
            Assert.Equal(GraphProblemKind.DamagedIndex, problem.Kind);
            Assert.Contains($"Tests.Member.{property}", problem.Message);
            Assert.Contains(problem.Message, pool.Check().Errors);

            var steps = PoolRepair.Repair(pool);
            Assert.Contains(steps, step => step.Kind == "drop-index");
            SortedDictionaryTests.AssertSound(pool);
        }

        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<HashedMember, HashedClub>()))
        {
            // Rebuilt from the objects, hashed again.
            var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
            var byNumber = pool.Index<HashedMember, long>(nameof(HashedMember.Number));
            Assert.True(byName.IsHashed && byNumber.IsHashed);
            Assert.All(pool.LiveIndexes, index => Assert.True(index.Slot.IsHashed, index.Property.Name));
            var expectedShared = damage == Damage.SharedHolderValue ? 4 : 5;
            Assert.Equal(expectedShared, byName.Find("shared").Count);
            Assert.Equal(damage == Damage.SingleHolderValue ? 1 : 0, byNumber.Find(700).Count);
            Assert.Equal(damage == Damage.SharedHolderValue ? 2 : 1, byName.Find("m7").Count);
            Assert.Equal(damage == Damage.UnindexedString ? 1 : 0, byName.Find("m9").Count);
            Assert.Equal(damage == Damage.UnindexedString ? 16 : 15, byName.Count);
            SortedDictionaryTests.AssertSound(pool);
        }
    }

    [Fact]
    public void A_compacted_pool_gets_its_hashed_indexes_rebuilt()
    {
        using (var pool = NewPool())
        {
            for (var i = 0; i < 500; i++)
            {
                Add(pool, i, $"m{i % 5}");
            }
        }

        PoolCompaction.Compact(PoolPath, "tests");
        using var compacted = PersistentPool.Open(PoolPath, "tests", Program<HashedMember, HashedClub>());
        var byName = compacted.Index<HashedMember, string>(nameof(HashedMember.Name));
        Assert.True(byName.IsHashed);
        Assert.Equal(100, byName.Find("m4").Count);
        Assert.Equal([250], Numbers(compacted.Index<HashedMember, long>(nameof(HashedMember.Number)).Find(250)));
        Assert.Equal(500, compacted.Index<HashedMember, Tide>(nameof(HashedMember.Tide)).Find(Tide.Slack).Count);
        Assert.All(compacted.LiveIndexes, index => Assert.True(index.Slot.IsHashed, index.Property.Name));
        SortedDictionaryTests.AssertSound(compacted);
    }

    [Fact]
    public void A_read_only_pool_answers_from_its_hashed_indexes()
    {
        using (var pool = NewPool())
        {
            for (var i = 1; i <= 30; i++)
            {
                Add(pool, i, $"m{i % 3}", (Tide)(i % 2 == 0 ? 3 : -2));
            }
        }

        using var readOnly = PersistentPool.OpenReadOnly(PoolPath, "tests", Program<HashedMember, HashedClub>());
        var byName = readOnly.Index<HashedMember, string>(nameof(HashedMember.Name));
        Assert.True(byName.IsHashed);
        Assert.Equal(10, byName.Find("m2").Count);
        Assert.True(readOnly.Index<HashedMember, long>(nameof(HashedMember.Number)).TryFind(17, out var member));
        Assert.Equal("m2", member.Name);
        Assert.Equal(15, readOnly.Index<HashedMember, Tide>(nameof(HashedMember.Tide)).To(Tide.Slack).Count);
        Assert.Equal(PersistentIndexKind.Hashed, readOnly.Inspect().StoredTypes.Single(t => t.Name == "Tests.Member").Properties.Single(p => p.Name == "Name").Index);
        Assert.Equal(PersistentIndexKind.HashedUnique, readOnly.Inspect().StoredTypes.Single(t => t.Name == "Tests.Member").Properties.Single(p => p.Name == "Number").Index);
    }
}
