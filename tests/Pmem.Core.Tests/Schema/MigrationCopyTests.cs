// Migrations of ordinary files run in a copy renamed over the file: what the file holds before, after, and on failure.
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Schema;

/// <summary>
/// On an ordinary file an open that migrates copies the file, migrates the copy without syncs, and renames it over the
/// file: a new inode afterwards, the old file untouched when the migration fails, a crashed migration's leftover copy
/// replaced, a symbolic link kept, and the migration run in place when no copy can be made.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class MigrationCopyTests : IDisposable
{
    private const int People = 300;
    private readonly DirectoryInfo _directory = new(Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "pmem-migration-copy-" + Guid.NewGuid().ToString("N")));

    public MigrationCopyTests() => _directory.Create();

    public void Dispose() => _directory.Delete(recursive: true);

    private string NewV1Pool()
    {
        var path = Path.Combine(_directory.FullName, "people.pool");
        using var pool = PersistentPool.Create(path, SchemaEvolutionTests.Layout, 16 << 20, new PoolCreateOptions { MaxSize = 64 << 20 });
        Assert.Equal(FlushPath.Msync, pool.Domain.FlushPath);
        SchemaEvolutionTests.FillV1(pool, People);
        return path;
    }

    private static ulong Inode(string path)
    {
        Assert.Equal(0, LibC.FileStatus(path, out var info));
        return info.Inode;
    }

    [Fact]
    public void A_migration_replaces_the_file_with_its_migrated_copy_and_leaves_nothing_beside_it()
    {
        var path = NewV1Pool();
        var before = Inode(path);
        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            Assert.Contains($"({People} objects converted)", Assert.Single(pool.MigratedAtOpen));
            Assert.Equal(FlushPath.Msync, pool.Domain.FlushPath); // the published copy is an ordinary synced pool again
            SchemaEvolutionTests.AssertMigratedToV2(pool, People);
            Assert.Equal(path, pool.Path);
        }

        Assert.NotEqual(before, Inode(path));
        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(path)));
        Assert.Equal(["people.pool"], _directory.GetFiles().Select(file => file.Name));

        // Migrated for good: the old program is refused as a downgrade, the new one opens with nothing to do.
        Assert.Throws<PersistentSchemaException>(() => PersistentPool.Open(path, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }));
        using var reopened = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2);
        Assert.Empty(reopened.MigratedAtOpen);
        SchemaEvolutionTests.AssertMigratedToV2(reopened, People);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void The_migrated_copy_keeps_the_files_mode_owner_and_group_and_a_new_write_ahead_log_takes_them()
    {
        // An outside tester's case: a migration run as root left the service's pool owned by root.
        var path = NewV1Pool();
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            Assert.Equal(0, LibC.Chown(path, 65534, 65534));
        }

        Assert.Equal(0, LibC.FileStatus(path, out var before));
        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            Assert.Single(pool.MigratedAtOpen);
        }

        using (PersistentPool.Open(path, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = SchemaEvolutionTests.V2.Types, WriteAheadLog = true }))
        {
            foreach (var file in new[] { path, PersistentPool.WriteAheadLogPath(path) })
            {
                Assert.Equal(0, LibC.FileStatus(file, out var after));
                Assert.Equal((before.Mode & 0x1FF, before.Uid, before.Gid), (after.Mode & 0x1FF, after.Uid, after.Gid));
            }
        }

        Assert.True(!asRoot || before.Uid == 65534);
    }

    [Fact]
    public void A_pool_whose_last_commits_logged_outside_their_slots_migrates_through_a_copy()
    {
        // Small lanes: a transaction of a few hundred writes logs into a heap block that is reserved, not allocated, so
        // it lies in a free chunk, which the copy leaves out but for what the slots' headers name.
        var path = Path.Combine(_directory.FullName, "people.pool");
        using (var pool = PersistentPool.Create(path, SchemaEvolutionTests.Layout, 16 << 20, new PoolCreateOptions { LaneCount = 2, LaneSize = 3 * 4096 }))
        {
            SchemaEvolutionTests.FillV1(pool, People);
            for (var round = 0; round < 3; round++)
            {
                using var tx = pool.BeginTransaction();
                foreach (var person in pool.Root<Directory<PersonV1>>().People)
                {
                    person!.Count += 1;
                }

                tx.Commit();
            }
        }

        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            Assert.Single(pool.MigratedAtOpen);
            var people = pool.Root<Directory<PersonV2>>().People;
            for (var i = 0; i < People; i++)
            {
                Assert.Equal(i * 1000L + 3, people[i]!.Count);
            }

            SchemaEvolutionTests.AssertSound(pool);
        }

        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(path)));
    }

    [Fact]
    public void An_open_without_a_migration_keeps_the_file()
    {
        var path = NewV1Pool();
        var before = Inode(path);
        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }))
        {
            Assert.Empty(pool.MigratedAtOpen);
        }

        Assert.Equal(before, Inode(path));
        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(path)));
    }

    [Fact]
    public void A_failing_migration_hook_leaves_the_file_as_it_was_and_removes_the_copy()
    {
        var path = NewV1Pool();
        using (var written = PersistentPool.Open(path, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }))
        {
            // Strings of a size class nothing else uses, then freed: a run left without any block, which an open's heap
            // upkeep turns into a free chunk (a write the failed open must not make).
            var people = written.Root<Directory<PersonV1>>().People;
            foreach (var nick in new[] { new string('n', 3000), null })
            {
                using var tx = written.BeginTransaction();
                for (var i = 0; i < 4; i++)
                {
                    people[i]!.Nick = nick ?? $"nick {i}";
                }

                tx.Commit();
            }
        }

        var inode = Inode(path);
        var bytes = TestFiles.ReadAllBytes(path);
        var calls = 0;
        var failing = new PoolMigrations().Add<PersonWithInitials>((stored, now) =>
        {
            if (++calls == 150)
            {
                throw new FormatException("cannot make initials");
            }

            now.Initials = "?";
        });
        var options = new PoolOpenOptions { Migrations = failing, MigrationBatchObjects = 16, Types = [Directory<PersonWithInitials>.PersistentType] };

        var error = Assert.Throws<PersistentMigrationException>(() => PersistentPool.Open(path, SchemaEvolutionTests.Layout, options));
        Assert.IsType<FormatException>(error.InnerException);
        Assert.Equal(path, error.PoolPath); // the user's file, not the copy the hook ran in
        Assert.Matches(@": the migration hook of '[\w.]+' threw for the object at offset \d+: FormatException: cannot make initials$", error.Message);

        Assert.Equal(150, calls); // the hook ran on the copy, batches of it committed there
        Assert.Equal(inode, Inode(path)); // the file, not the copy
        Assert.True(bytes.AsSpan().SequenceEqual(TestFiles.ReadAllBytes(path)), "the failed migration changed the file");
        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(path)));

        // Unlike a migration in place, nothing is left in progress: the old program still opens it, every person as written.
        using (var old = PersistentPool.Open(path, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] }))
        {
            var people = old.Root<Directory<PersonV1>>().People;
            Assert.Equal(People, people.Count);
            for (var i = 0; i < People; i++)
            {
                Assert.Equal(20 + i, people[i]!.Age);
                Assert.Equal($"person {i}", people[i]!.Name);
            }

            SchemaEvolutionTests.AssertSound(old);
        }

        var working = new PoolMigrations().Add<PersonWithInitials>((stored, now) => now.Initials = "!");
        using var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, new PoolOpenOptions { Migrations = working, Types = [Directory<PersonWithInitials>.PersistentType] });
        Assert.Single(pool.MigratedAtOpen);
        Assert.All(pool.Root<Directory<PersonWithInitials>>().People, person => Assert.Equal("!", person!.Initials));
    }

    [Fact]
    public void A_crashed_migrations_leftover_copy_is_replaced_by_the_next_migration()
    {
        var path = NewV1Pool();
        var leftover = PersistentPool.MigrationCopyPath(path);
        TestFiles.WriteAllBytes(leftover, new byte[12345]); // a copy a kill cut short

        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            SchemaEvolutionTests.AssertMigratedToV2(pool, People);
        }

        Assert.False(File.Exists(leftover));
    }

    [Fact]
    public void A_pool_opened_through_a_symbolic_link_is_migrated_where_the_link_points_and_the_link_stays()
    {
        var path = NewV1Pool();
        var link = Path.Combine(_directory.FullName, "link.pool");
        File.CreateSymbolicLink(link, path);

        using (var pool = PersistentPool.Open(link, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            Assert.Single(pool.MigratedAtOpen);
            SchemaEvolutionTests.AssertMigratedToV2(pool, People);
        }

        Assert.Equal(path, new FileInfo(link).LinkTarget);
        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(link)));
        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(path)));
        using var direct = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2);
        Assert.Empty(direct.MigratedAtOpen);
    }

    [Fact]
    public void When_no_copy_can_be_made_the_migration_runs_in_place()
    {
        var path = NewV1Pool();
        var inode = Inode(path);
        var blocker = Directory.CreateDirectory(PersistentPool.MigrationCopyPath(path)); // no file can be created there
        File.WriteAllText(Path.Combine(blocker.FullName, "keep"), "not ours");

        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            Assert.Contains($"({People} objects converted)", Assert.Single(pool.MigratedAtOpen));
            SchemaEvolutionTests.AssertMigratedToV2(pool, People);
        }

        Assert.Equal(inode, Inode(path));
        Assert.True(File.Exists(Path.Combine(blocker.FullName, "keep"))); // what stood in the way is not removed
    }
}
