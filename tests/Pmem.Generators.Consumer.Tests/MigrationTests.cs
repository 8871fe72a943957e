// Generated classes that change between two program versions: the pool written by one migrates when the other opens it.
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>Version 1 of a class as the generator compiles it.</summary>
[PersistentObject(Name = "consumer.evolving")]
public partial class EvolvingV1
{
    public partial int Amount { get; set; }

    public partial string? Label { get; set; }

    public partial string? Obsolete { get; set; }

    public partial PersistentList<long> History { get; }
}

/// <summary>
/// Version 2 of the same durable class, as the next release of the program compiles it: Amount renamed and widened,
/// Obsolete removed, Extra added past the first cache line (so every object moves), and a version-2 migration.
/// Both versions live in this one assembly (PMEM021 is turned off for the project); a program has only one.
/// </summary>
[PersistentObject(Name = "consumer.evolving", Version = 2)]
public partial class EvolvingV2
{
    [RenamedFrom("Amount")]
    public partial long Total { get; set; }

    public partial string? Label { get; set; }

    public partial PersistentList<long> History { get; }

    public partial decimal Extra0 { get; set; }

    public partial decimal Extra1 { get; set; }

    public partial decimal Extra2 { get; set; }

    public partial string? Summary { get; set; }
}

public sealed class MigrationTests
{
    [Fact]
    public void A_pool_written_with_version_1_of_a_generated_class_migrates_when_version_2_opens_it()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pmem-consumer-migration-{Guid.NewGuid():N}.pool");
        try
        {
            using (var pool = PersistentPool.Create(path, "consumer", PersistentPool.MinimumSize))
            {
                var root = pool.Root<EvolvingV1>();
                (root.Amount, root.Label, root.Obsolete) = (42, "label", "to be dropped");
                root.History.Add(1);
                root.History.Add(2);
            }

            var migrations = new PoolMigrations().Add<EvolvingV2>((stored, now) =>
                now.Summary = $"{stored.GetString("Label")} / {stored.GetString("Obsolete")} / {stored.Get<int>("Amount")}");
            using (var pool = PersistentPool.Open(path, "consumer", new PoolOpenOptions { Migrations = migrations }))
            {
                var root = pool.Root<EvolvingV2>();
                Assert.Equal((42L, "label", "label / to be dropped / 42"), (root.Total, root.Label, root.Summary));
                Assert.Equal([1L, 2L], root.History.ToArray());
                Assert.Equal(0m, root.Extra2);
                Assert.Contains("Amount renamed to Total", Assert.Single(pool.MigratedAtOpen));
                var report = pool.Check();
                Assert.True(report.IsConsistent && report.Unreachable.Count == 0 && report.DetachedObjects == 0, string.Join("; ", report.Errors));
            }

            // Version 1 again: refused, the file unchanged.
            var before = File.ReadAllBytes(path);
            var error = Assert.Throws<PersistentSchemaException>(() =>
                PersistentPool.Open(path, "consumer", new PoolOpenOptions { Types = [EvolvingV1.PersistentType] }));
            Assert.Contains("newer program", error.Message);
            Assert.Equal(before, File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
