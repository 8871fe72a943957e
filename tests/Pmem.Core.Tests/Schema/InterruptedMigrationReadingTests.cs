// A migration interrupted in place, read by a program that knows no version of its class (the pmem tool): readable, checked clean.
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Schema;

/// <summary>
/// A migration hook that throws leaves an in-place migration interrupted: part of the objects converted (moved ones
/// reached through the blocks they left), and only the program version that started it may finish it. Before, every
/// <c>pmem</c> command refused such a pool ("a migration … is in progress"), and a check that got past would have
/// reported every not-yet-rewritten reference as damage, inviting a repair.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class InterruptedMigrationReadingTests : IDisposable
{
    private const int People = 300;
    private readonly string _directory = Directory.CreateTempSubdirectory("pmem-interrupted-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PoolPath => Path.Combine(_directory, "people.pool");

    /// <summary>V1 people migrated in place to V2 (a bigger layout: every object moves) until the hook throws at the 150th.</summary>
    private void Interrupt()
    {
        using (var pool = PersistentPool.Create(PoolPath, SchemaEvolutionTests.Layout, 16 << 20))
        {
            SchemaEvolutionTests.FillV1(pool, People);
        }

        var calls = 0;
        var failing = new PoolMigrations().Add<PersonV2>((stored, now) =>
        {
            if (++calls == 150)
            {
                throw new FormatException("stop");
            }
        });
        Assert.Throws<PersistentMigrationException>(() => PersistentPool.Open(PoolPath, SchemaEvolutionTests.Layout,
            SchemaEvolutionTests.V2 with { Migrations = failing, MigrationBatchObjects = 16, MigrateInPlace = true }));
    }

    [Fact]
    public void A_reader_without_the_class_sees_every_object_and_a_clean_pool_and_the_program_then_finishes()
    {
        Interrupt();
        var before = File.ReadAllBytes(PoolPath);
        using (var tool = PersistentPool.OpenReadOnly(PoolPath, SchemaEvolutionTests.Layout))
        {
            Assert.Equal("Tests.Person layout 000000009e250001 -> 000000009e250002", tool.Inspect().MigrationInProgress);
            var report = tool.Check();
            Assert.True(report.IsConsistent, string.Join("; ", report.Errors.Take(3)));
            Assert.Empty(report.Unreachable);
            Assert.Equal(0, report.DetachedObjects);

            var text = new StringWriter();
            PoolDump.WriteText(tool, text, new PoolDumpOptions { MaxItems = People });
            var dump = text.ToString();
            for (var i = 0; i < People; i++)
            {
                Assert.Contains($"\"person {i}\"", dump); // as Name (not converted yet) or FullName (converted)
            }

            Assert.Contains("FullName: \"person", dump);
            Assert.Contains("  Name: \"person", dump);

            // By type too: both layouts' objects (it listed only the first layout's).
            Assert.Equal(People, tool.AllOfType("Tests.Person").Count());
            text = new StringWriter();
            PoolDump.WriteText(tool, text, new PoolDumpOptions { TypeName = "Tests.Person", MaxItems = People });
            Assert.Contains("FullName: \"person", text.ToString());
            Assert.Contains("  Name: \"person", text.ToString());

            var refused = Assert.Throws<PoolException>(() => PoolExport.Export(tool, Stream.Null));
            Assert.Contains("cannot be exported: a migration of Tests.Person layout", refused.Message);
        }

        Assert.Equal(before, File.ReadAllBytes(PoolPath)); // read in private pages

        using var program = PersistentPool.Open(PoolPath, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2 with { Migrations = new PoolMigrations().Add<PersonV2>((_, _) => { }) });
        Assert.Null(program.Inspect().MigrationInProgress);
        SchemaEvolutionTests.AssertMigratedToV2(program, People);
    }

    [Fact]
    public void Compaction_and_repair_refuse_the_pool_and_leave_it_as_it_was()
    {
        Interrupt();
        var before = TestFiles.ReadAllBytes(PoolPath);
        var compacting = Assert.ThrowsAny<PoolException>(() => PoolCompaction.Compact(PoolPath, SchemaEvolutionTests.Layout));
        Assert.Contains("is in progress", compacting.Message);
        var repairing = Assert.ThrowsAny<PoolException>(() => PoolRepair.Run(PoolPath, SchemaEvolutionTests.Layout, apply: true));
        Assert.Contains("is in progress", repairing.Message);
        Assert.Equal(before, TestFiles.ReadAllBytes(PoolPath));
    }

    [Fact]
    public void A_reader_that_knows_the_old_class_is_still_refused()
    {
        Interrupt();
        var error = Assert.Throws<PersistentSchemaException>(() =>
            PersistentPool.OpenReadOnly(PoolPath, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }).Dispose());
        Assert.Contains("is in progress", error.Message);
    }

    [Fact]
    public void A_migration_that_runs_out_of_room_says_so_and_finishes_at_an_open_with_room()
    {
        // An outside tester's disk filled during an upgrade's in-place migration: the open threw only "out of space:
        // no room for 192 bytes", not that a migration had stopped half done, nor what would let it finish.
        int people;
        long size;
        using (var pool = PersistentPool.Create(PoolPath, SchemaEvolutionTests.Layout, 4 << 20)) // never grows by itself
        {
            try
            {
                SchemaEvolutionTests.FillV1(pool, 100_000);
            }
            catch (PoolOutOfSpaceException)
            {
                // full: the people committed so far stay
            }

            people = pool.Root<Directory<PersonV1>>().People.Count;
            size = pool.Size;
        }

        var error = Assert.Throws<PoolOutOfSpaceException>(() =>
            PersistentPool.Open(PoolPath, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2 with { MigrateInPlace = true, MaxSize = size + (512 << 10) }).Dispose());
        Assert.True(error.Message.Contains("the migration of Tests.Person layout 000000009e250001 -> 000000009e250002 stopped part way (out of space"), error.ToString());
        Assert.Contains("resumes the migration once the pool has room", error.Message);
        Assert.IsType<PoolOutOfSpaceException>(error.InnerException);

        using var roomy = PersistentPool.Open(PoolPath, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2 with { MigrateInPlace = true, MaxSize = 64 << 20 });
        var all = roomy.Root<Directory<PersonV2>>().People;
        Assert.Equal(people, all.Count);
        for (var i = 0; i < people; i++)
        {
            Assert.Equal($"person {i}", all[i]!.FullName); // (the fill stopped before it closed the ring of friends)
            Assert.Equal(20L + i, all[i]!.Age);
        }

        SchemaEvolutionTests.AssertSound(roomy);
    }
}
