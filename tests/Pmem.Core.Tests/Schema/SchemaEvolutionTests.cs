// Reopening pools with changed classes: automatic migrations, user migrations, refusals that write nothing.
using System.Buffers.Binary;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Schema;

public sealed class SchemaEvolutionTests
{
    internal const string Layout = "schema-tests";
    internal const int People = 40;

    internal static PoolOpenOptions V2 => new() { Types = [PersonV2.PersistentType, Directory<PersonV2>.PersistentType] };

    /// <summary>A pool of <see cref="People"/> V1 people in a directory, each the friend of the next and the last of the first.</summary>
    /// <param name="people">How many.</param>
    /// <param name="small">A pool of two small lanes and few chunks, for crash campaigns that copy it per image.</param>
    internal static byte[] WriteV1(int people = People, bool small = false)
    {
        var domain = small
            ? MemoryDomain.Create(PoolLayout.MinimumPoolSize(2, 8192) + 2L * PoolLayout.ChunkSize)
            : MemoryDomain.Create(PersistentPool.MinimumSize + 8L * PoolLayout.ChunkSize);
        domain.KeepImage = true;
        using (var pool = PersistentPool.Create(domain, Layout, small ? new PoolCreateOptions { LaneCount = 2, LaneSize = 8192 } : null))
        {
            FillV1(pool, people);
        }

        return domain.ImageAtDispose!;
    }

    /// <summary>Adds <paramref name="people"/> V1 people to the root's directory, <paramref name="perTransaction"/> in each transaction.</summary>
    internal static void FillV1(PersistentPool pool, int people, int perTransaction = 1)
    {
        var root = pool.Root<Directory<PersonV1>>();
        root.Title = "people";
        PersonV1? previous = null;
        for (var start = 0; start < people; start += perTransaction)
        {
            using var tx = pool.BeginTransaction();
            for (var i = start; i < Math.Min(people, start + perTransaction); i++)
            {
                var person = pool.New<PersonV1>();
                person.Age = 20 + i;
                person.Score = i + 0.5f;
                person.Name = $"person {i}";
                person.Nick = $"nick {i}";
                person.Tags.Add($"tag {i}");
                person.Tags.Add(null);
                person.Count = i * 1000L;
                person.Friend = previous;
                root.People.Add(person);
                root.ByAge[person.Age] = person;
                root.First ??= person;
                previous = person;
            }

            tx.Commit();
        }

        if (root.First is { } first)
        {
            first.Friend = previous; // a cycle through the first person
        }
    }

    internal static PersistentPool Open(byte[] image, PoolOpenOptions options) =>
        PersistentPool.Open(MemoryDomain.FromImage(image), Layout, options);

    /// <summary>Opens <paramref name="image"/>, runs <paramref name="use"/> and returns the image after a clean close.</summary>
    internal static byte[] Reopen(byte[] image, PoolOpenOptions options, Action<PersistentPool>? use = null)
    {
        var domain = MemoryDomain.FromImage(image);
        domain.KeepImage = true;
        using (var pool = PersistentPool.Open(domain, Layout, options))
        {
            use?.Invoke(pool);
        }

        return domain.ImageAtDispose!;
    }

    /// <summary>Everything V1 wrote, read through V2: widened, renamed, nullable, added, and the references intact.</summary>
    internal static void AssertMigratedToV2(PersistentPool pool, int people = People)
    {
        var root = pool.Root<Directory<PersonV2>>();
        Assert.Equal("people", root.Title);
        Assert.Equal(people, root.People.Count);
        for (var i = 0; i < people; i++)
        {
            var person = root.People[i]!;
            Assert.Equal(20L + i, person.Age);
            Assert.Equal(i + 0.5, person.Score);
            Assert.Equal($"person {i}", person.FullName);
            Assert.Equal(i * 1000L, person.Count);
            Assert.Null(person.Email);
            Assert.Equal([$"tag {i}", null], person.Tags.ToArray());
            Assert.Equal(i == 0 ? $"person {people - 1}" : $"person {i - 1}", person.Friend!.FullName);
            Assert.Equal(person, root.ByAge[20 + i]); // references inside a sorted dictionary's nodes follow too
        }

        Assert.Equal("person 0", root.First!.FullName);
        AssertSound(pool);
    }

    internal static void AssertSound(PersistentPool pool)
    {
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
        var perType = pool.GetStatistics().ObjectsPerType;
        Assert.False(perType.ContainsKey("(moved object)"), "a forwarding block outlived its migration");
    }

    [Fact]
    public void A_new_pool_records_every_property_of_each_type()
    {
        using var pool = Open(WriteV1(), new PoolOpenOptions());
        Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
        var person = pool.StoredTypes.Single(type => type.Name == "Tests.Person");
        Assert.Equal(["Age", "Score", "Name", "Friend", "Nick", "Tags", "Count"], person.Schema!.Properties.Select(p => p.Name));
        Assert.Equal("Tests.Person", person.Schema.Properties[3].Target);
        AssertSound(pool);
    }

    [Fact]
    public void A_class_that_grows_moves_its_objects_and_every_reference_follows()
    {
        var migrated = Reopen(WriteV1(), V2, pool =>
        {
            AssertMigratedToV2(pool);
            Assert.Equal(People, pool.GetStatistics().ObjectsPerType["Tests.Person"]);
            Assert.Equal(
                [$"Tests.Person: Age widened from System.Int32 to System.Int64, Score widened from System.Single to System.Double, Name renamed to FullName, " +
                 $"Count widened from System.Int64 to System.Int64?, Email added, Nick removed ({People} objects converted)"],
                pool.MigratedAtOpen);
        });

        // Reopening with the same program changes nothing; writing through V2 works like any pool.
        using var again = Open(migrated, V2);
        Assert.Equal(0, again.RecoveredTransactions);
        var first = again.Root<Directory<PersonV2>>().First!;
        first.Email = "first@example.com";
        first.Count = null;
        Assert.Null(first.Count);
        Assert.Equal("first@example.com", first.Email);
        AssertSound(again);
    }

    [Fact]
    public void A_change_that_fits_the_blocks_converts_objects_in_place()
    {
        var image = WriteV1();
        List<long> offsets;
        using (var before = Open(image, new PoolOpenOptions()))
        {
            offsets = before.Root<Directory<PersonV1>>().People.Select(p => p!.Offset).ToList();
        }

        using var pool = Open(image, new PoolOpenOptions { Types = [PersonInPlace.PersistentType, Directory<PersonInPlace>.PersistentType] });
        var people = pool.Root<Directory<PersonInPlace>>().People;
        Assert.Equal(offsets, people.Select(p => p!.Offset));
        for (var i = 0; i < People; i++)
        {
            var person = people[i]!;
            Assert.Equal((20 + i, (short)0, $"person {i}", i * 1000L), (person.Age, person.Level, person.Name, person.Count));
            Assert.Equal(i == 0 ? $"person {People - 1}" : $"person {i - 1}", person.Friend!.Name);
            Assert.Equal([$"tag {i}", null], person.Tags.ToArray());
        }

        AssertSound(pool); // the removed Nick strings are freed
        Assert.Equal(2 * People + 1, pool.GetStatistics().ObjectsPerType["string"]); // names, tags and the title
    }

    [Fact]
    public void A_change_that_needs_a_decision_is_refused_at_open_and_writes_nothing()
    {
        var image = WriteV1();
        var domain = MemoryDomain.FromImage(image);
        var error = Assert.Throws<PersistentSchemaException>(() =>
            PersistentPool.Open(domain, Layout, new PoolOpenOptions { Types = [PersonNameAsNumber.Unversioned] }));
        Assert.Equal("Tests.Person", error.TypeName);
        Assert.Contains("Tests.Person.Name is stored as Name: string and compiled as Name: System.Int64", error.Message);
        Assert.Contains("Version = 2", error.Message);
        Assert.Contains("PoolMigrations().Add<", error.Message);
        Assert.Equal(image, domain.ToArray());
        domain.Dispose();
    }

    [Fact]
    public void Opening_an_unchanged_pool_writes_nothing()
    {
        var image = Reopen(WriteV1(), new PoolOpenOptions()); // (a first open frees runs the workload left empty)
        var domain = MemoryDomain.FromImage(image);
        var pool = PersistentPool.Open(domain, Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] });
        Assert.Equal(image, domain.ToArray());
        pool.Dispose();
    }

    [Fact]
    public void A_user_migration_sets_what_the_pool_cannot_convert()
    {
        var migrations = new PoolMigrations().Add<PersonNameAsNumber>((stored, now) =>
        {
            Assert.Equal(1, stored.Version);
            Assert.Equal("reference", stored.StorageTypeOf("Friend"));
            now.Name = stored.GetString("Name")!.Length * 100 + stored.Get<int>("Age");
        });
        using var pool = Open(WriteV1(), new PoolOpenOptions { Migrations = migrations, Types = [Directory<PersonNameAsNumber>.PersistentType] });
        var people = pool.Root<Directory<PersonNameAsNumber>>().People;
        for (var i = 0; i < People; i++)
        {
            Assert.Equal($"person {i}".Length * 100 + 20 + i, people[i]!.Name);
            Assert.Equal(i * 1000L, people[i]!.Count);
        }

        AssertSound(pool); // the stored name strings went with the migration
        Assert.Equal(2 * People + 1, pool.GetStatistics().ObjectsPerType["string"]); // nicks, tags and the title
    }

    [Fact]
    public void A_raised_version_runs_its_migration_which_may_fill_new_properties_from_old_ones()
    {
        var migrations = new PoolMigrations().Add<PersonWithInitials>((stored, now) =>
        {
            now.Initials = string.Concat(stored.GetString("Name")!.Split(' ').Select(word => word[0]));
            now.Count = stored.Get<long>("Count") + stored.Get<int>("Age");
            Assert.Throws<InvalidCastException>(() => stored.Get<int>("Count"));
            Assert.Throws<KeyNotFoundException>(() => stored.Get<int>("Initials"));
        });
        using var pool = Open(WriteV1(), new PoolOpenOptions { Migrations = migrations, Types = [Directory<PersonWithInitials>.PersistentType] });
        var people = pool.Root<Directory<PersonWithInitials>>().People;
        Assert.Equal("p" + "0", people[0]!.Initials);
        Assert.Equal(3000L + 23, people[3]!.Count);
        AssertSound(pool);
        Assert.Equal(2, pool.StoredTypes.Single(type => type.Name == "Tests.Person" && !type.IsRetired).Version);
    }

    /// <summary>
    /// <paramref name="image"/> after a migration to <see cref="PersonWithInitials"/> in batches of two whose hook threw
    /// at the fifth object (two batches committed, in place); <paramref name="options"/> are that open's.
    /// </summary>
    internal static byte[] Interrupted(byte[] image, out PoolOpenOptions options)
    {
        var calls = 0;
        var failing = new PoolMigrations().Add<PersonWithInitials>((_, now) =>
        {
            if (++calls == 5)
            {
                throw new FormatException("cannot make initials");
            }

            now.Initials = "?";
        });
        options = new PoolOpenOptions { Migrations = failing, MigrationBatchObjects = 2, Types = [Directory<PersonWithInitials>.PersistentType] };
        var domain = MemoryDomain.FromImage(image);
        var opening = options;
        var error = Assert.Throws<PersistentMigrationException>(() => PersistentPool.Open(domain, Layout, opening));
        Assert.IsType<FormatException>(error.InnerException);
        Assert.Equal(PersonWithInitials.PersistentType.Name, error.TypeName);
        var interrupted = domain.ToArray();
        domain.Dispose();
        return interrupted;
    }

    [Fact]
    public void A_migration_whose_hook_throws_stops_the_open_and_the_next_open_finishes_it()
    {
        var interrupted = Interrupted(WriteV1(), out _);

        // The old program cannot open it now; the new one with a working migration finishes it.
        var old = MemoryDomain.FromImage(interrupted);
        Assert.Contains("in progress", Assert.Throws<PersistentSchemaException>(() => PersistentPool.Open(old, Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] })).Message);
        old.Dispose();
        var working = new PoolMigrations().Add<PersonWithInitials>((stored, now) => now.Initials = "!");
        using var pool = Open(interrupted, new PoolOpenOptions { Migrations = working, Types = [Directory<PersonWithInitials>.PersistentType] });
        var initials = pool.Root<Directory<PersonWithInitials>>().People.Select(person => person!.Initials).ToList();
        Assert.Equal(4, initials.Count(value => value == "?")); // the two batches of two that committed before the throw
        Assert.Equal(People - 4, initials.Count(value => value == "!"));
        AssertSound(pool);
    }

    [Fact]
    public void An_older_program_is_refused_once_the_pool_moved_on_and_nothing_is_written()
    {
        var migrated = Reopen(WriteV1(), V2);

        var domain = MemoryDomain.FromImage(migrated);
        var error = Assert.Throws<PersistentSchemaException>(() =>
            PersistentPool.Open(domain, Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }));
        Assert.Contains("newer program", error.Message);
        Assert.DoesNotMatch(@"version (\d+), written by a newer program than this one \(version \1\)", error.Message); // "1 is newer than 1"
        Assert.Equal(migrated, domain.ToArray());
        domain.Dispose();
    }

    [Fact]
    public void A_type_that_changed_but_was_not_known_at_open_names_the_change_on_first_use()
    {
        using var pool = Open(WriteV1(), new PoolOpenOptions());
        var root = pool.Root<Directory<PersonV2>>(); // the directory itself did not change
        var error = Assert.Throws<PersistentSchemaException>(() => root.First);
        Assert.Contains("Email added", error.Message);
        Assert.Contains("Nick removed", error.Message);
        Assert.Contains("Name renamed to FullName", error.Message);
        Assert.Contains("PoolOpenOptions.Types", error.Message);
    }

    [Fact]
    public void A_pool_without_schema_records_opens_and_gets_them_from_the_matching_program()
    {
        var domain = MemoryDomain.Create(PersistentPool.MinimumSize);
        domain.KeepImage = true;
        using (var legacy = PersistentPool.Create(domain, Layout))
        {
            var person = legacy.Root<PersonLegacy>();
            person.Age = 42;
            person.Name = "legacy";
        }

        var image = AsVersion3(domain.ImageAtDispose!);
        using (var pool = Open(image, new PoolOpenOptions()))
        {
            Assert.Equal(3u, pool.FormatVersion);
            Assert.Null(pool.StoredTypes.Single().Schema);
            Assert.Equal("legacy", pool.Root<PersonLegacy>().Name);
        }

        // A changed class cannot be migrated from an unknown layout: refused, untouched.
        var refused = MemoryDomain.FromImage(image);
        var error = Assert.Throws<PersistentSchemaException>(() => PersistentPool.Open(refused, Layout, V2));
        Assert.Contains("older than schema records", error.Message);
        Assert.Equal(image, refused.ToArray());
        refused.Dispose();

        // The program that wrote it records the schema (and the format moves to 4); the next version migrates.
        var upgraded = Reopen(image, new PoolOpenOptions { Types = [PersonV1.PersistentType] }, pool =>
        {
            Assert.Equal(PoolLayout.UpgradeVersion, pool.FormatVersion);
            Assert.Equal(7, pool.StoredTypes.Single().Schema!.Properties.Length);
            Assert.Equal("legacy", pool.Root<PersonV1>().Name);
            AssertSound(pool);
        });

        using var migrated = Open(upgraded, V2);
        var root = migrated.Root<PersonV2>();
        Assert.Equal((42L, "legacy"), (root.Age, root.FullName));
        AssertSound(migrated);
    }

    [Fact]
    public void A_damaged_schema_record_is_refused_and_the_file_left_unchanged()
    {
        var image = WriteV1();
        long record;
        using (var pool = Open(image, new PoolOpenOptions()))
        {
            record = pool.StoredTypes.Single(type => type.Name == "Tests.Person").SchemaOffset;
        }

        foreach (var at in new[] { 0, 13, 30, 50, 60 })
        {
            var damaged = (byte[])image.Clone();
            damaged[record + at] ^= 0x5A;
            var domain = MemoryDomain.FromImage(damaged);
            var error = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(domain, Layout, V2));
            Assert.Contains("schema record", error.Message);
            Assert.Equal(damaged, domain.ToArray());
            domain.Dispose();
        }
    }

    [Fact]
    public void A_type_with_many_owned_fields_and_a_long_name_has_no_cap_below_the_documented_limits()
    {
        var domain = MemoryDomain.Create(PersistentPool.MinimumSize);
        using var pool = PersistentPool.Create(domain, Layout);
        var wide = pool.Root<WideRecord>();
        for (var i = 0; i < WideRecord.Strings; i++)
        {
            wide[i] = $"value {i}";
        }

        var stored = pool.StoredTypes.Single();
        Assert.Equal(WideRecord.PersistentType.Name, stored.Name); // whole, not cut to the entry's 96 bytes
        Assert.Equal(WideRecord.Strings, stored.Fields.Count);
        Assert.Equal("value 39", wide[39]);
        AssertSound(pool);
        Assert.Equal(WideRecord.Strings, pool.GetStatistics().ObjectsPerType["string"]);
    }

    [Fact]
    public void The_schema_lock_file_records_each_type_in_the_generator_s_format()
    {
        var text = PersistentSchemaLock.ToJson([PersonV1.PersistentType, Directory<PersonV1>.PersistentType]);
        using var json = System.Text.Json.JsonDocument.Parse(text);
        Assert.Equal(1, json.RootElement.GetProperty("format").GetInt32());
        var types = json.RootElement.GetProperty("types").EnumerateArray().ToList();
        Assert.Equal(["Tests.Directory", "Tests.Person"], types.Select(type => type.GetProperty("name").GetString()));
        var friend = types[1].GetProperty("properties").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Friend");
        Assert.Equal(("reference", "Tests.Person"), (friend.GetProperty("storageType").GetString(), friend.GetProperty("target").GetString()));
        Assert.Throws<ArgumentException>(() => PersistentSchemaLock.ToJson([PersonLegacy.PersistentType]));
        Assert.Throws<ArgumentException>(() => PersistentSchemaLock.ToJson([PersonV1.PersistentType, PersonV2.PersistentType]));
    }

    [Fact]
    public void A_lock_file_written_from_a_pool_is_the_one_its_classes_write_and_a_pool_without_schema_records_has_none()
    {
        var domain = MemoryDomain.Create(PersistentPool.MinimumSize);
        using (var pool = PersistentPool.Create(domain, Layout))
        {
            pool.Root<PersonV1>().Friend = pool.New<PersonV1>();
            Assert.Equal(PersistentSchemaLock.ToJson([PersonV1.PersistentType]), PersistentSchemaLock.ToJson(pool.Inspect()));
        }

        var legacyDomain = MemoryDomain.Create(PersistentPool.MinimumSize);
        legacyDomain.KeepImage = true;
        using (var legacy = PersistentPool.Create(legacyDomain, Layout))
        {
            legacy.Root<PersonLegacy>().Age = 42;
        }

        using var old = Open(AsVersion3(legacyDomain.ImageAtDispose!), new PoolOpenOptions());
        Assert.False(old.Inspect().StoredTypes.Single().HasSchema);
        var error = Assert.Throws<ArgumentException>(() => PersistentSchemaLock.ToJson(old.Inspect()));
        Assert.Contains("before pools recorded schemas", error.Message);
    }

    /// <summary>A pool image as a version-3 release wrote it (a type table without schema records).</summary>
    internal static byte[] AsVersion3(byte[] image) => OlderFormat.AsVersion(image, 3);
}
