// A reference property that keeps its layout but points to another class: refused at open, as the README's rules say.
using System.Security.Cryptography;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Schema;

/// <summary>
/// An outside tester changed <c>Customer? Who</c> to <c>Supplier? Who</c>: the layout hash covers offsets and kinds,
/// not a reference's class, so the open took the pool and every read of the property then threw (after writing the
/// new class into the type table: a getter wrote to the file).
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class ReferenceTargetTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pmem-target-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PoolPath => Path.Combine(_directory, "people.pool");

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private long CreateFriends()
    {
        using var pool = PersistentPool.Create(PoolPath, "tests", 8 << 20, new PoolCreateOptions());
        var root = pool.Root<PersonV1>();
        root.Name = "ada";
        root.Friend = pool.New<PersonV1>();
        root.Friend.Name = "bob";
        root.Friend.Friend = root;
        return root.Offset;
    }

    [Fact]
    public void A_reference_that_now_points_to_another_class_is_refused_at_open_and_the_file_is_left_as_it_was()
    {
        CreateFriends();
        var before = Hash(PoolPath);

        var error = Assert.Throws<PersistentSchemaException>(() =>
            PersistentPool.Open(PoolPath, "tests", new PoolOpenOptions { Types = [PersonFriendOfPet.PersistentType] }).Dispose());

        var problem = Assert.Single(error.Problems);
        Assert.Contains("Friend is stored as Friend: reference of 'Tests.Person' and compiled as Friend: reference of 'Tests.Pet'", problem);
        Assert.Contains("Raise the class's version", problem);
        Assert.Equal(before, Hash(PoolPath));
        using var again = PersistentPool.Open(PoolPath, "tests", new PoolOpenOptions { Types = [PersonV1.PersistentType] });
        Assert.Equal("bob", again.Root<PersonV1>().Friend!.Name);
    }

    [Fact]
    public void A_refused_open_of_a_pool_with_an_empty_run_leaves_the_file_byte_for_byte()
    {
        CreateFriends();
        using (var pool = PersistentPool.Open(PoolPath, "tests", new PoolOpenOptions { Types = [PersonV1.PersistentType] }))
        {
            // Strings of a size class nothing else uses, then freed: a run left without any block, which a heap that
            // tidies up turns back into a free chunk (a header word written).
            var root = pool.Root<PersonV1>();
            foreach (var nick in new[] { new string('n', 3000), null })
            {
                using var tx = pool.BeginTransaction();
                root.Nick = nick;
                root.Friend!.Nick = nick is null ? null : nick + "!";
                tx.Commit();
            }
        }

        var before = Hash(PoolPath);
        Assert.Throws<PersistentSchemaException>(() =>
            PersistentPool.Open(PoolPath, "tests", new PoolOpenOptions { Types = [PersonFriendOfPet.PersistentType] }).Dispose());
        Assert.Equal(before, Hash(PoolPath));
    }

    [Fact]
    public void Reading_a_reference_as_a_class_the_pool_never_stored_throws_and_writes_nothing()
    {
        var root = CreateFriends();
        var before = Hash(PoolPath);
        using (var pool = PersistentPool.Open(PoolPath, "tests", new PoolOpenOptions { Types = [PersonV1.PersistentType] }))
        {
            var types = pool.Inspect().StoredTypes.Count;
            var error = Assert.Throws<PersistentTypeMismatchException>(() => pool.ReadReference<Pet>(root + 16));
            Assert.Contains("is a Tests.Person, not a Tests.Pet", error.Message);
            Assert.Equal(types, pool.Inspect().StoredTypes.Count);
        }

        Assert.Equal(before, Hash(PoolPath));
    }

    [Fact]
    public void A_migration_hook_reading_an_object_not_converted_yet_is_told_so()
    {
        CreateFriends(); // two friends of each other: whichever converts first reads one not converted yet
        var hooks = new PoolMigrations().Add<PersonWithInitials>((stored, now) =>
            now.Initials = now.Pool.ReadReference<PersonWithInitials>(now.Offset + 16)?.Name?[..1]);

        var error = Assert.Throws<PersistentMigrationException>(() =>
            PersistentPool.Open(PoolPath, "tests", new PoolOpenOptions { Migrations = hooks, Types = [PersonWithInitials.PersistentType] }).Dispose());

        var inner = Assert.IsType<PersistentTypeMismatchException>(error.InnerException);
        Assert.Contains("is a Tests.Person in an older layout than the program's, not converted yet: a migration hook cannot read other objects of the class being migrated", inner.Message);
    }
}

/// <summary>"Tests.Person" in V1's layout, but its Friend refers to a Tests.Pet.</summary>
internal sealed class PersonFriendOfPet : PersistentObject, IPersistentObject<PersonFriendOfPet>
{
    private PersonFriendOfPet(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Person", 64, 0x9E250001, 1,
        [
            new("Age", "System.Int32", 0, 4),
            new("Score", "System.Single", 4, 4),
            new("Name", "string", 8, 8, isNullable: true),
            new("Friend", "reference", 16, 8, target: "Tests.Pet", isNullable: true),
            new("Nick", "string", 24, 8, isNullable: true),
            new("Tags", "list<string>", 32, 8),
            new("Count", "System.Int64", 40, 8),
        ]);

    static PersonFriendOfPet IPersistentObject<PersonFriendOfPet>.Attach(ObjectHandle handle) => new(handle);
}

/// <summary>A class no pool of these tests stores.</summary>
internal sealed class Pet : PersistentObject, IPersistentObject<Pet>
{
    private Pet(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.Pet", 64, 0x9E2500F0, 1, [new("Legs", "System.Int32", 0, 4)]);

    static Pet IPersistentObject<Pet>.Attach(ObjectHandle handle) => new(handle);
}
