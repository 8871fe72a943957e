using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>Generated indexed setters in a real pool: lookups, a unique violation, and a crash that keeps index and objects equal.</summary>
public sealed class IndexTests
{
    [Fact]
    public void Generated_indexed_setters_keep_the_indexes_through_a_crash()
    {
        var domain = new SimulatedDomain(8 << 20);
        byte[] image;
        using (var pool = PersistentPool.Create(domain, "consumer"))
        {
            pool.Root<Club>();
            for (var i = 0; i < 100; i++)
            {
                using var tx = pool.BeginTransaction();
                var member = pool.New<Member>();
                member.Number = i + 1;
                member.Owner = $"owner {i % 10}";
                member.Day = (DayOfWeek)(i % 7);
                pool.Root<Club>().Members.Add(member);
                tx.Commit();
            }

            var first = pool.Index<Member, long>(nameof(Member.Number)).Find(1)[0];
            Assert.Throws<PersistentUniqueConstraintException>(() => first.Number = 2);
            first.Owner = "ada";
            image = domain.CrashNonePersisted();
        }

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), "consumer");
        var byOwner = reopened.Index<Member, string>(nameof(Member.Owner));
        Assert.Equal([1L], byOwner.Find("ada").Select(m => m.Number));
        Assert.Equal(9, byOwner.Find("owner 0").Count);
        Assert.Equal(15, reopened.Index<Member, DayOfWeek>(nameof(Member.Day)).Find(DayOfWeek.Monday).Count);
        Assert.Equal([10L, 11L, 12L], reopened.Index<Member, long>(nameof(Member.Number)).Range(10, 13).Select(m => m.Number));
        var report = reopened.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void Generated_hashed_index_setters_keep_the_indexes_through_a_crash()
    {
        var domain = new SimulatedDomain(8 << 20);
        byte[] image;
        using (var pool = PersistentPool.Create(domain, "consumer"))
        {
            pool.Root<HashedClub>();
            for (var i = 0; i < 100; i++)
            {
                using var tx = pool.BeginTransaction();
                var member = pool.New<HashedMember>();
                member.Number = i + 1;
                member.Owner = $"owner {i % 10}";
                member.Day = (DayOfWeek)(i % 7);
                pool.Root<HashedClub>().Members.Add(member);
                tx.Commit();
            }

            var byNumber = pool.Index<HashedMember, long>(nameof(HashedMember.Number));
            Assert.True(byNumber.IsHashed);
            var first = byNumber.Find(1)[0];
            Assert.Throws<PersistentUniqueConstraintException>(() => first.Number = 2);
            first.Owner = "ada";
            image = domain.CrashNonePersisted();
        }

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), "consumer");
        var byOwner = reopened.Index<HashedMember, string>(nameof(HashedMember.Owner));
        Assert.Equal([1L], byOwner.Find("ada").Select(m => m.Number));
        Assert.Equal(9, byOwner.Find("owner 0").Count);
        Assert.Equal(15, reopened.Index<HashedMember, DayOfWeek>(nameof(HashedMember.Day)).Find(DayOfWeek.Monday).Count);
        Assert.Equal([10L, 11L, 12L], reopened.Index<HashedMember, long>(nameof(HashedMember.Number)).Range(10, 13).Select(m => m.Number));
        Assert.True(reopened.FormatVersion >= 8, $"format {reopened.FormatVersion}"); // hashed indexes came with format 8
        var report = reopened.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }
}
