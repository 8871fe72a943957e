// PoolCompactionIndexTests -- compaction called by a program that registers indexed classes: the copy keeps its indexes.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Tooling;

/// <summary>
/// A program whose indexed classes are registered (as generated code registers them) compacts a healthy pool: the
/// copy is published with its indexes, opens without room to grow, and answers lookups with the right objects.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class PoolCompactionIndexTests : IDisposable
{
    private const string LayoutName = "compact-indexes";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-compact-indexes-");

    static PoolCompactionIndexTests()
    {
        // Registered for the whole process, as the generator does: names of their own, so no other test's pool stores them.
        PersistentTypeRegistry.Register(SortedIndexed.PersistentType);
        PersistentTypeRegistry.Register(HashedIndexed.PersistentType);
        PersistentTypeRegistry.Register(IndexedRoot.PersistentType);
    }

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void A_pool_with_a_sorted_index_compacts_and_its_lookups_find_the_right_objects() =>
        CompactsWithIndexes<SortedIndexed>(root => root.Sorted, isHashed: false);

    [Fact]
    public void A_pool_with_a_hashed_index_compacts_and_its_lookups_find_the_right_objects() =>
        CompactsWithIndexes<HashedIndexed>(root => root.Hashed, isHashed: true);

    private void CompactsWithIndexes<T>(Func<IndexedRoot, PersistentList<T?>> list, bool isHashed)
        where T : PersistentObject, IPersistentObject<T>, INumbered
    {
        var path = Path.Combine(_directory.FullName, "indexed.pool");
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20))
        {
            var members = list(pool.Root<IndexedRoot>());
            for (var i = 1; i <= 300; i++)
            {
                using var tx = pool.BeginTransaction();
                var member = pool.New<T>();
                member.Number = i;
                member.Name = $"m{i % 10}";
                members.Add(member);
                tx.Commit();
            }

            for (var i = 1; i <= 300; i += 3)
            {
                using var tx = pool.BeginTransaction();
                var victim = pool.Index<T, long>(nameof(INumbered.Number)).Find(i)[0];
                members.Remove(victim);
                pool.Delete(victim); // holes for the compaction to close
                tx.Commit();
            }
        }

        var result = PoolCompaction.Compact(path, LayoutName);
        Assert.True(result.SizeAfter < result.SizeBefore, $"{result.SizeAfter} >= {result.SizeBefore}");

        // Opened as the program opens it, without room to grow: the indexes are there, nothing is built.
        using var compacted = PersistentPool.Open(path, LayoutName);
        Assert.Equal(result.SizeAfter, compacted.Size);
        Assert.Equal(2, compacted.LiveIndexes.Length);
        Assert.All(compacted.LiveIndexes, index => Assert.Equal(isHashed, index.Slot.IsHashed));
        var report = compacted.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));

        var byNumber = compacted.Index<T, long>(nameof(INumbered.Number));
        Assert.Equal(200, byNumber.Count);
        Assert.Empty(byNumber.Find(4));
        var found = Assert.Single(byNumber.Find(5));
        Assert.Equal((5L, "m5"), (found.Number, found.Name));
        var byName = compacted.Index<T, string>(nameof(INumbered.Name));
        Assert.Equal([3L, 23, 33, 53], byName.Find("m3").Select(m => m.Number).Order().Take(4));
        Assert.Equal(20, byName.Find("m3").Count);

        // And kept as the objects change.
        found.Name = "m3";
        Assert.Equal(21, byName.Find("m3").Count);
    }
}

/// <summary>What the test writes of either indexed class.</summary>
internal interface INumbered
{
    long Number { get; set; }

    string? Name { get; set; }
}

/// <summary>"Tests.CompactedSorted": a unique sorted number and a sorted name.</summary>
internal sealed class SortedIndexed : PersistentObject, IPersistentObject<SortedIndexed>, INumbered
{
    private SortedIndexed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.CompactedSorted", 64, 0xC0AC7001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Indexed),
        ]);

    static SortedIndexed IPersistentObject<SortedIndexed>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }
}

/// <summary>"Tests.CompactedHashed": a hashed unique number and a hashed name.</summary>
internal sealed class HashedIndexed : PersistentObject, IPersistentObject<HashedIndexed>, INumbered
{
    private HashedIndexed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.CompactedHashed", 64, 0xC0AC7002, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.HashedUnique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Hashed),
        ]);

    static HashedIndexed IPersistentObject<HashedIndexed>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }
}

/// <summary>"Tests.CompactedRoot": a list of each.</summary>
internal sealed class IndexedRoot : PersistentObject, IPersistentObject<IndexedRoot>
{
    private IndexedRoot(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.CompactedRoot", 64, 0xC0AC7003, 1,
        [
            new("Sorted", "list<reference>", 0, 8, target: "Tests.CompactedSorted"),
            new("Hashed", "list<reference>", 8, 8, target: "Tests.CompactedHashed"),
        ]);

    static IndexedRoot IPersistentObject<IndexedRoot>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<SortedIndexed?> Sorted => GetObjectList<SortedIndexed>(0);

    public PersistentList<HashedIndexed?> Hashed => GetObjectList<HashedIndexed>(8);
}
