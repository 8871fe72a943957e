// Migrations at open crashed at every drain, and crashed again while the next open resumes them.
using System.Buffers.Binary;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Schema;

namespace Pmem.Tests.Crash;

/// <summary>
/// A pool of V1 people opened by a program whose class changed, crashed at every drain of the migration (and with
/// random subsets of its unflushed lines written back). Invariant on every image: the next open with the new program
/// finishes the migration and the application sees every object wholly migrated, references intact, nothing leaked;
/// opened by the old program instead, the pool is refused (mid-migration) and left unchanged, or still the old one.
/// </summary>
public sealed class MigrationCrashTests
{
    private const int People = 10;

    /// <summary>Batches of three objects: the migration crosses several transactions per phase, so the cursor matters.</summary>
    private static PoolOpenOptions Growing => SchemaEvolutionTests.V2 with { MigrationBatchObjects = 3 };

    [Fact]
    public void A_migration_that_moves_objects_finishes_on_the_next_open_after_a_crash_anywhere()
    {
        var image = SchemaEvolutionTests.WriteV1(People, small: true);
        var result = CrashCampaign.Run(
            () => SimulatedDomain.FromImage(image),
            d => PersistentPool.Open(d, SchemaEvolutionTests.Layout, Growing),
            PoolCrashTests.OnOwnThread((crashed, _) => CheckFinishes(crashed)),
            new CrashCampaignOptions { ImagesPerPoint = 12, BaseSeed = 41 });
        PoolCrashTests.Report(nameof(A_migration_that_moves_objects_finishes_on_the_next_open_after_a_crash_anywhere), result);
    }

    [Fact]
    public void A_user_migration_in_place_finishes_on_the_next_open_after_a_crash_anywhere()
    {
        var image = SchemaEvolutionTests.WriteV1(People, small: true);
        var options = UserMigration();
        var result = CrashCampaign.Run(
            () => SimulatedDomain.FromImage(image),
            d => PersistentPool.Open(d, SchemaEvolutionTests.Layout, options),
            PoolCrashTests.OnOwnThread((crashed, _) =>
            {
                using var pool = PersistentPool.Open(SimulatedDomain.FromImage(crashed), SchemaEvolutionTests.Layout, options);
                var people = pool.Root<Directory<PersonWithInitials>>().People;
                Assert.Equal(People, people.Count);
                for (var i = 0; i < People; i++)
                {
                    Assert.Equal(("p" + i.ToString()[0], i * 1000L + 20 + i), (people[i]!.Initials, people[i]!.Count));
                }

                SchemaEvolutionTests.AssertSound(pool);
            }),
            new CrashCampaignOptions { ImagesPerPoint = 22, BaseSeed = 43 });
        PoolCrashTests.Report(nameof(A_user_migration_in_place_finishes_on_the_next_open_after_a_crash_anywhere), result);
    }

    [Fact]
    public void A_migration_interrupted_twice_still_finishes_and_the_old_program_is_refused_meanwhile()
    {
        var bases = MidMigrationImages(SchemaEvolutionTests.WriteV1(People, small: true), wanted: 6);
        Assert.True(bases.Count >= 4, $"only {bases.Count} crash images stopped inside the migration");
        long crashPoints = 0, images = 0, failed = 0;
        var failures = new List<CrashFailure>();
        foreach (var (image, index) in bases.Select((image, index) => (image, index)))
        {
            var old = SimulatedDomain.FromImage(image);
            Assert.Throws<PersistentSchemaException>(() =>
                PersistentPool.Open(old, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }));
            Assert.Equal(image, old.GetSpan(0, image.Length).ToArray());
            old.Dispose();

            var result = CrashCampaign.Run(
                () => SimulatedDomain.FromImage(image),
                d => PersistentPool.Open(d, SchemaEvolutionTests.Layout, Growing), // the resumed migration, crashed again
                PoolCrashTests.OnOwnThread((crashed, _) => CheckFinishes(crashed)),
                new CrashCampaignOptions { ImagesPerPoint = 8, BaseSeed = 50 + index });
            crashPoints += result.CrashPoints;
            images += result.ImagesChecked;
            failed += result.FailureCount;
            failures.AddRange(result.Failures.Take(Math.Max(0, 20 - failures.Count)));
        }

        PoolCrashTests.Report(
            nameof(A_migration_interrupted_twice_still_finishes_and_the_old_program_is_refused_meanwhile),
            new CrashCampaignResult(crashPoints, images, failed, failures));
    }

    [Fact]
    public void Recording_the_first_schema_in_a_version_3_pool_is_atomic_with_the_format_upgrade()
    {
        byte[] image;
        var domain = new SimulatedDomain(PoolLayout.MinimumPoolSize(2, 8192));
        using (var legacy = PersistentPool.Create(domain, SchemaEvolutionTests.Layout, PoolCrashTests.SmallPool))
        {
            var person = legacy.Root<PersonLegacy>();
            person.Age = 42;
            person.Name = "legacy";
            image = SchemaEvolutionTests.AsVersion3(domain.GetSpan(0, (int)domain.Length).ToArray());
        }

        var options = new PoolOpenOptions { Types = [PersonV1.PersistentType] };
        var result = CrashCampaign.Run(
            () => SimulatedDomain.FromImage(image),
            d => PersistentPool.Open(d, SchemaEvolutionTests.Layout, options),
            PoolCrashTests.OnOwnThread((crashed, _) =>
            {
                using (var pool = PersistentPool.Open(SimulatedDomain.FromImage(crashed), SchemaEvolutionTests.Layout))
                {
                    // Before the commit: version 3 without a schema; after it: version 4 with one. Never a mix.
                    var stored = pool.StoredTypes.Single();
                    Assert.Equal(pool.FormatVersion == PoolLayout.UpgradeVersion, stored.Schema is not null);
                    Assert.Contains(pool.FormatVersion, new[] { 3u, PoolLayout.UpgradeVersion });
                }

                using var upgraded = PersistentPool.Open(SimulatedDomain.FromImage(crashed), SchemaEvolutionTests.Layout, options);
                Assert.Equal(("legacy", 42), (upgraded.Root<PersonV1>().Name, upgraded.Root<PersonV1>().Age));
                Assert.Equal(PoolLayout.UpgradeVersion, upgraded.FormatVersion);
                SchemaEvolutionTests.AssertSound(upgraded);
            }),
            new CrashCampaignOptions { ImagesPerPoint = 40, BaseSeed = 47 });
        PoolCrashTests.Report(nameof(Recording_the_first_schema_in_a_version_3_pool_is_atomic_with_the_format_upgrade), result);
    }

    private static void CheckFinishes(byte[] crashed)
    {
        using var pool = PersistentPool.Open(SimulatedDomain.FromImage(crashed), SchemaEvolutionTests.Layout, Growing);
        SchemaEvolutionTests.AssertMigratedToV2(pool, People);
    }

    private static PoolOpenOptions UserMigration() => new()
    {
        Types = [Directory<PersonWithInitials>.PersistentType],
        MigrationBatchObjects = 3,
        Migrations = new PoolMigrations().Add<PersonWithInitials>((stored, now) =>
        {
            now.Initials = string.Concat(stored.GetString("Name")!.Split(' ').Select(word => word[0]));
            now.Count = stored.Get<long>("Count") + stored.Get<int>("Age");
        }),
    };

    /// <summary>Crash images of the migration whose header still records it in progress, spread over its phases.</summary>
    private static List<byte[]> MidMigrationImages(byte[] image, int wanted)
    {
        var found = new List<byte[]>();
        using var domain = SimulatedDomain.FromImage(image);
        var drains = 0;
        domain.BeforeDrain = d =>
        {
            var crashed = d.Crash(CrashCampaign.DeriveSeed(9, drains++, 0));
            if (BinaryPrimitives.ReadUInt64LittleEndian(crashed.AsSpan(PoolLayout.MigrationTypesOffset)) != 0)
            {
                found.Add(crashed);
            }
        };
        using (PersistentPool.Open(domain, SchemaEvolutionTests.Layout, Growing))
        {
            domain.BeforeDrain = null;
        }

        return found.Where((_, i) => i % Math.Max(1, found.Count / wanted) == 0).Take(wanted).ToList();
    }
}
