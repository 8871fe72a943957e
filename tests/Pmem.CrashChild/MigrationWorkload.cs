// MigrationWorkload -- the child of the migration kill test: opens a pool of version-1 people with version 2 of the class.
using System.Diagnostics;
using Pmem.Pool;
using Pmem.Tests.Schema;

namespace Pmem.CrashChild;

/// <summary>
/// <c>--migrate</c> prints "opening", opens a pool file of "Tests.Person" objects written by version 1 of the class (the
/// kill test writes it) with version 2, which grows the class so that every object moves (on an ordinary file the
/// migration runs in a copy of the file, renamed over it when done), then prints "done &lt;ms&gt; &lt;people&gt; &lt;migration
/// report&gt;" and exits; or is killed before. The classes are the test project's <c>PersonV2</c> and <c>Directory</c>
/// (Schema/SchemaTestObjects.cs, compiled into this project too).
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
        using var pool = PersistentPool.Open(path, Layout, new PoolOpenOptions { Types = [PersonV2.PersistentType, Directory<PersonV2>.PersistentType] });
        var opened = watch.ElapsedMilliseconds;
        var people = pool.Root<Directory<PersonV2>>().People.Count;
        Console.WriteLine($"done {opened} {people} {string.Join(" | ", pool.MigratedAtOpen)}");
        Console.Out.Flush();
        return 0;
    }
}
