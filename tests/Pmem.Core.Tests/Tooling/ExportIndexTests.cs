// Export and import carry a pool's indexes and durability mode: the imported pool opens with both, nothing to rebuild.
using System.Text;
using System.Text.RegularExpressions;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Tooling;

[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class ExportIndexTests : IDisposable
{
    private const string LayoutName = "export-indexes";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-export-indexes-");

    /// <summary>The program's classes, given to opens (not registered: an open of a pool the test has not told about them builds nothing).</summary>
    private static readonly PoolOpenOptions WithClasses = new() { Types = [ExportedSorted.PersistentType, ExportedHashed.PersistentType, ExportedRoot.PersistentType] };

    public void Dispose() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    /// <summary>A process-crash pool with 50 sorted and 50 hashed indexed objects (unique numbers, ten names), exported.</summary>
    private string IndexedExport()
    {
        using var pool = PersistentPool.Create(PathOf("source.pool"), LayoutName, 8 << 20, new PoolCreateOptions { Durability = DurabilityMode.ProcessCrash });
        var root = pool.Root<ExportedRoot>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 1; i <= 50; i++)
            {
                var sorted = pool.New<ExportedSorted>();
                (sorted.Number, sorted.Name) = (i, $"m{i % 10}");
                root.Sorted.Add(sorted);
                var hashed = pool.New<ExportedHashed>();
                (hashed.Number, hashed.Name) = (i, $"m{i % 10}");
                root.Hashed.Add(hashed);
            }

            tx.Commit();
        }

        using var output = new MemoryStream();
        PoolExport.Export(pool, output);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    [Fact]
    public void An_imported_pool_has_the_exported_pools_indexes_and_durability_before_any_program_opens_it()
    {
        var json = IndexedExport();
        Assert.Contains("\"durability\":\"ProcessCrash\"", json);
        Assert.Contains("\"name\":\"Number\",\"storageType\":\"System.Int64\",\"offset\":0,\"size\":8,\"index\":\"unique\"", json);
        Assert.Contains("\"index\":\"hashedUnique\"", json);
        Assert.Contains("\"index\":\"hashed\"", json);
        Assert.Contains("\"index\":\"indexed\"", json);

        var imported = PathOf("imported.pool");
        PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(json)), imported);

        // Read only (an open that builds nothing): the import built them.
        long[] trees;
        using (var reader = PersistentPool.OpenReadOnly(imported, LayoutName))
        {
            Assert.Equal(DurabilityMode.ProcessCrash, reader.Durability);
            var kinds = reader.Inspect().StoredTypes.SelectMany(t => t.Properties.Select(p => $"{t.Name}.{p.Name}:{p.Index}")).Order();
            Assert.Equal(
                ["Tests.ExportedHashed.Name:Hashed", "Tests.ExportedHashed.Number:HashedUnique", "Tests.ExportedRoot.Hashed:None",
                 "Tests.ExportedRoot.Sorted:None", "Tests.ExportedSorted.Name:Indexed", "Tests.ExportedSorted.Number:Unique"],
                kinds);
            var report = reader.Check();
            Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
            trees = [.. reader.LiveIndexes.Select(index => reader.ReadValue<long>(index.Slot.TreeWord)).Order()];
        }

        using var pool = PersistentPool.Open(imported, LayoutName, WithClasses);
        Assert.Equal(trees, pool.LiveIndexes.Select(index => pool.ReadValue<long>(index.Slot.TreeWord)).Order()); // kept, not rebuilt
        Assert.Equal([5L], pool.Index<ExportedSorted, long>(nameof(INumbered.Number)).Find(5).Select(o => o.Number));
        Assert.Equal([3L, 13, 23, 33, 43], pool.Index<ExportedHashed, string>(nameof(INumbered.Name)).Find("m3").Select(o => o.Number).Order());
        Assert.Throws<PersistentUniqueConstraintException>(() => pool.Root<ExportedRoot>().Sorted[0]!.Number = 2);
    }

    [Fact]
    public void An_export_that_declares_a_unique_index_over_repeated_values_is_refused_naming_both_objects()
    {
        var json = IndexedExport();
        var numbers = new Regex("\"Number\":(\\d+)");
        var count = 0;
        var edited = numbers.Replace(json, match => ++count == 7 ? "\"Number\":3" : match.Value); // the fourth sorted object (objects alternate)
        Assert.True(count > 7);

        var e = Assert.Throws<PoolImportException>(() => PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(edited)), PathOf("dup.pool"), new PoolImportOptions { SourceName = "in.json" }));
        Assert.Matches(@"^in\.json: type 'Tests\.Exported\w+', property 'Number' is indexed (unique|hashedUnique), but objects #\d+ and #\d+ both hold 3$", e.Message);
        Assert.False(File.Exists(PathOf("dup.pool")));
        Assert.Single(Directory.GetFiles(_directory.FullName)); // the source pool only: no temporary file
    }

    [Theory]
    [InlineData("\"durability\":\"ProcessCrash\"", "\"durability\":\"Battery\"", "'durability' is \"Battery\", none of \"PowerFailure\", \"ProcessCrash\"")]
    [InlineData("\"durability\":\"ProcessCrash\"", "\"durability\":1", "'durability' is not a string")]
    [InlineData("\"index\":\"unique\"", "\"index\":\"Unique\"", "property 'Number' of 'Tests.ExportedSorted' has the index \"Unique\", none of \"indexed\", \"unique\", \"hashed\", \"hashedUnique\"")]
    [InlineData("\"storageType\":\"System.Int64\",\"offset\":0,\"size\":8,\"index\":\"unique\"", "\"storageType\":\"System.Double\",\"offset\":0,\"size\":8,\"index\":\"unique\"", "property 'Number' of 'Tests.ExportedSorted' is stored as System.Double, which cannot be indexed")]
    public void A_bad_durability_or_index_is_refused_by_name(string original, string replacement, string message)
    {
        var json = IndexedExport();
        Assert.Contains(original, json);
        var edited = json.Replace(original, replacement);
        var e = Assert.Throws<PoolImportException>(() => PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(edited)), PathOf("bad.pool"), new PoolImportOptions { SourceName = "in.json" }));
        Assert.Equal("in.json: " + message, e.Message);
        Assert.False(File.Exists(PathOf("bad.pool")));
    }

    [Fact]
    public void An_export_without_durability_or_indexes_imports_as_a_power_failure_pool_without_indexes()
    {
        var json = IndexedExport();
        var older = Regex.Replace(json.Replace("\"durability\":\"ProcessCrash\",", ""), ",\"index\":\"\\w+\"", "");
        Assert.DoesNotContain("index\"", older);
        var imported = PathOf("older.pool");
        PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(older)), imported);
        using (var reader = PersistentPool.OpenReadOnly(imported, LayoutName))
        {
            Assert.Equal(DurabilityMode.PowerFailure, reader.Durability);
            Assert.All(reader.Inspect().StoredTypes.SelectMany(t => t.Properties), p => Assert.Equal(PersistentIndexKind.None, p.Index));
        }

        using var pool = PersistentPool.Open(imported, LayoutName, WithClasses); // the program's classes declare them: built now
        Assert.Equal(4, pool.LiveIndexes.Length);
        Assert.Single(pool.Index<ExportedHashed, long>(nameof(INumbered.Number)).Find(7));
    }
}

/// <summary>"Tests.ExportedSorted": a unique sorted number and a sorted name.</summary>
internal sealed class ExportedSorted : PersistentObject, IPersistentObject<ExportedSorted>, INumbered
{
    private ExportedSorted(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.ExportedSorted", 64, 0xE8A07001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Indexed),
        ]);

    static ExportedSorted IPersistentObject<ExportedSorted>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }
}

/// <summary>"Tests.ExportedHashed": a hashed unique number and a hashed name.</summary>
internal sealed class ExportedHashed : PersistentObject, IPersistentObject<ExportedHashed>, INumbered
{
    private ExportedHashed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.ExportedHashed", 64, 0xE8A07002, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.HashedUnique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Hashed),
        ]);

    static ExportedHashed IPersistentObject<ExportedHashed>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }
}

/// <summary>"Tests.ExportedRoot": a list of each.</summary>
internal sealed class ExportedRoot : PersistentObject, IPersistentObject<ExportedRoot>
{
    private ExportedRoot(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.ExportedRoot", 64, 0xE8A07003, 1,
        [
            new("Sorted", "list<reference>", 0, 8, target: "Tests.ExportedSorted"),
            new("Hashed", "list<reference>", 8, 8, target: "Tests.ExportedHashed"),
        ]);

    static ExportedRoot IPersistentObject<ExportedRoot>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<ExportedSorted?> Sorted => GetObjectList<ExportedSorted>(0);

    public PersistentList<ExportedHashed?> Hashed => GetObjectList<ExportedHashed>(8);
}
