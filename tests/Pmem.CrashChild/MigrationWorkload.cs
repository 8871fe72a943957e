// MigrationWorkload -- the child of the migration kill test: opens a pool of version-1 people with version 2 of the class.
using System.Diagnostics;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.CrashChild;

/// <summary>
/// <c>--migrate</c> prints "opening", opens a pool file of "Tests.Person" objects written by version 1 of the class (the
/// kill test writes it) with version 2, which grows the class so that every object moves (on an ordinary file the
/// migration runs in a copy of the file, renamed over it when done), then prints "done &lt;ms&gt; &lt;people&gt; &lt;migration
/// report&gt;" and exits; or is killed before. The classes are the test project's <c>PersonV2</c> and <c>Directory</c>
/// (Schema/SchemaTestObjects.cs), copied: the same durable names, layouts and schemas.
/// </summary>
internal static class MigrationWorkload
{
    /// <summary>The test project's <c>SchemaEvolutionTests.Layout</c>.</summary>
    private const string Layout = "schema-tests";

    public static int Run(string path)
    {
        Console.WriteLine("opening");
        Console.Out.Flush();
        var watch = Stopwatch.StartNew();
        using var pool = PersistentPool.Open(path, Layout, new PoolOpenOptions { Types = [MigratedPerson.PersistentType, MigratedDirectory.PersistentType] });
        var opened = watch.ElapsedMilliseconds;
        var people = pool.Root<MigratedDirectory>().People.Count;
        Console.WriteLine($"done {opened} {people} {string.Join(" | ", pool.MigratedAtOpen)}");
        Console.Out.Flush();
        return 0;
    }

    /// <summary>"Tests.Person" version 2 (the test project's <c>PersonV2</c>): 128 bytes, so every version-1 object moves.</summary>
    private sealed class MigratedPerson : PersistentObject, IPersistentObject<MigratedPerson>
    {
        private MigratedPerson(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new(
            "Tests.Person", 128, 0x9E250002, 1,
            [
                new("Age", "System.Int64", 0, 8),
                new("Score", "System.Double", 8, 8),
                new("FullName", "string", 16, 8, isNullable: true, formerNames: ["Name"]),
                new("Friend", "reference", 24, 8, target: "Tests.Person", isNullable: true),
                new("Tags", "list<string>", 32, 8),
                new("Count", "System.Int64?", 48, 16),
                new("Email", "string", 64, 8, isNullable: true),
            ]);

        static MigratedPerson IPersistentObject<MigratedPerson>.Attach(ObjectHandle handle) => new(handle);
    }

    /// <summary>The root, "Tests.Directory" (the test project's <c>Directory&lt;PersonV2&gt;</c>): unchanged.</summary>
    private sealed class MigratedDirectory : PersistentObject, IPersistentObject<MigratedDirectory>
    {
        private MigratedDirectory(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new(
            "Tests.Directory", 64, 0xD1EC7082, 1,
            [
                new("First", "reference", 0, 8, target: "Tests.Person", isNullable: true),
                new("People", "list<reference>", 8, 8, target: "Tests.Person"),
                new("Title", "string", 16, 8, isNullable: true),
                new("ByAge", "sorted<System.Int64,reference>", 24, 8, target: "Tests.Person"),
            ]);

        static MigratedDirectory IPersistentObject<MigratedDirectory>.Attach(ObjectHandle handle) => new(handle);

        public PersistentList<MigratedPerson?> People => GetObjectList<MigratedPerson>(8);
    }
}
