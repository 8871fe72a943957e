// Damage a migration would meet halfway is found before it writes anything: the open is refused and the file unchanged.
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Schema;

[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class MigrationDamageTests
{
    private const string Layout = SchemaEvolutionTests.Layout;

    /// <summary>The offsets of the V1 people in <paramref name="image"/>, in list order.</summary>
    private static List<long> People(byte[] image)
    {
        using var pool = SchemaEvolutionTests.Open(image, new PoolOpenOptions());
        return [.. pool.Root<Directory<PersonV1>>().People.Select(person => person!.Offset)];
    }

    /// <summary>Damages the header of the last person's list of tags: more elements than its capacity.</summary>
    private static byte[] WithDamagedTags(byte[] image, long person)
    {
        var damaged = (byte[])image.Clone();
        var tags = BitConverter.ToInt64(damaged, (int)person + 32);
        BitConverter.GetBytes(1_000_000L).CopyTo(damaged, (int)tags + CollectionLayout.CountOffset);
        return damaged;
    }

    private static PoolCorruptedException RefusedUnchanged(byte[] damaged, PoolOpenOptions options)
    {
        var domain = MemoryDomain.FromImage(damaged);
        try
        {
            var error = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(domain, Layout, options));
            Assert.True(damaged.AsSpan().SequenceEqual(domain.ToArray()), "the refused open changed the pool");
            return error;
        }
        finally
        {
            domain.Dispose();
        }
    }

    [Fact]
    public void A_damaged_list_is_found_before_objects_that_move_are_converted()
    {
        // V1 → V2 moves every person to a larger block, then rewrites every reference to a moved object, walking
        // every collection: the damaged list used to stop it there, with every person converted.
        var image = SchemaEvolutionTests.WriteV1();
        var damaged = WithDamagedTags(image, People(image)[^1]);
        var error = RefusedUnchanged(damaged, SchemaEvolutionTests.V2);
        Assert.Contains("elements in a capacity of", error.Message);
        Assert.Contains("nothing was changed", error.Message);

        // The old program still opens it as it was (the damage is the list's, found when it is read).
        using var old = SchemaEvolutionTests.Open(damaged, new PoolOpenOptions { Types = [PersonV1.PersistentType] });
        Assert.Equal(SchemaEvolutionTests.People, old.Root<Directory<PersonV1>>().People.Count);
        Assert.Empty(old.MigratedAtOpen);
    }

    [Fact]
    public void A_dropped_string_property_naming_another_object_is_refused_rather_than_freeing_that_object()
    {
        // V2 drops Nick, whose string the migration frees: a Nick damaged to name the first person would free it.
        var image = SchemaEvolutionTests.WriteV1();
        var people = People(image);
        var damaged = (byte[])image.Clone();
        BitConverter.GetBytes(people[0]).CopyTo(damaged, (int)people[^1] + 24);
        var error = RefusedUnchanged(damaged, SchemaEvolutionTests.V2);
        Assert.Contains($"the Nick of the Tests.Person at {people[^1]} holds {people[0]}, which is not a readable string", error.Message);

        // Nor a word naming nothing: the free would throw halfway.
        BitConverter.GetBytes(people[^1] + 8).CopyTo(damaged, (int)people[^1] + 24);
        RefusedUnchanged(damaged, SchemaEvolutionTests.V2);
    }

    [Fact]
    public void A_dropped_string_property_naming_another_objects_string_is_refused_rather_than_freeing_it()
    {
        // The word names an allocated string, but one another object owns: the migration would free the first
        // person's name (an outside fuzzer's find).
        var image = SchemaEvolutionTests.WriteV1();
        var people = People(image);
        var name = BitConverter.ToInt64(image, (int)people[0] + 8);
        var damaged = (byte[])image.Clone();
        BitConverter.GetBytes(name).CopyTo(damaged, (int)people[^1] + 24);
        var error = RefusedUnchanged(damaged, SchemaEvolutionTests.V2);
        Assert.Contains($"the block at {name}, which the migration frees with the block at {people[^1]}, is owned by the Tests.Person at {people[0]} too", error.Message);

        // Two migrating objects whose dropped words name one string: the second free would fail halfway.
        var nick = BitConverter.ToInt64(image, (int)people[0] + 24);
        damaged = (byte[])image.Clone();
        BitConverter.GetBytes(nick).CopyTo(damaged, (int)people[^1] + 24);
        Assert.Contains($"owns the block at {nick}, which the object at", RefusedUnchanged(damaged, SchemaEvolutionTests.V2).Message);
    }

    [Fact]
    public void An_unreadable_string_of_a_migrating_object_is_refused_before_a_hook_could_meet_it()
    {
        // A hook reading it would throw halfway, leaving an in-place migration that only a working hook can finish.
        var image = SchemaEvolutionTests.WriteV1();
        var people = People(image);
        var name = BitConverter.ToInt64(image, (int)people[^1] + 8);
        var damaged = (byte[])image.Clone();
        BitConverter.GetBytes(1_000_000).CopyTo(damaged, (int)name + StringLayout.LengthOffset);
        var hook = new PoolMigrations().Add<PersonWithInitials>((stored, now) => now.Initials = stored.GetString("Name")![..1]);
        var error = RefusedUnchanged(damaged, new PoolOpenOptions { Migrations = hook, Types = [Directory<PersonWithInitials>.PersistentType] });
        Assert.Contains($"the Name of the Tests.Person at {people[^1]} holds {name}, which is not a readable string", error.Message);
    }

    [Fact]
    public void A_resumed_migration_checks_the_objects_it_has_still_to_convert()
    {
        var image = SchemaEvolutionTests.WriteV1();
        var people = People(image);
        var interrupted = SchemaEvolutionTests.Interrupted(image, out var options);

        // The last person is not converted yet; its Nick (dropped: the migration frees it) now names the first person.
        var damaged = (byte[])interrupted.Clone();
        BitConverter.GetBytes(people[0]).CopyTo(damaged, (int)people[^1] + 24);
        var working = options with { Migrations = new PoolMigrations().Add<PersonWithInitials>((_, now) => now.Initials = "!") };
        Assert.Contains("not a readable string", RefusedUnchanged(damaged, working).Message);

        // Undamaged, the same resumption finishes.
        using var pool = SchemaEvolutionTests.Open(interrupted, working);
        Assert.Equal(SchemaEvolutionTests.People - 4, pool.Root<Directory<PersonWithInitials>>().People.Count(person => person!.Initials == "!"));
    }

    [Fact]
    public void A_pool_file_migrating_through_a_copy_is_refused_before_the_copy_and_left_byte_for_byte()
    {
        var directory = Directory.CreateTempSubdirectory("pmem-migration-damage-");
        try
        {
            var path = Path.Combine(directory.FullName, "people.pool");
            using (var pool = PersistentPool.Create(path, Layout, 16 << 20))
            {
                SchemaEvolutionTests.FillV1(pool, 100);
            }

            List<long> people;
            using (var pool = PersistentPool.Open(path, Layout, new PoolOpenOptions()))
            {
                people = [.. pool.Root<Directory<PersonV1>>().People.Select(person => person!.Offset)];
            }

            var damaged = WithDamagedTags(TestFiles.ReadAllBytes(path), people[^1]);
            TestFiles.WriteAllBytes(path, damaged);
            var error = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, Layout, SchemaEvolutionTests.V2));
            Assert.DoesNotContain("MigrateInCopy", error.StackTrace);
            Assert.True(damaged.AsSpan().SequenceEqual(TestFiles.ReadAllBytes(path)), "the refused open changed the file");
            Assert.Equal(["people.pool"], directory.GetFiles().Select(file => file.Name));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
