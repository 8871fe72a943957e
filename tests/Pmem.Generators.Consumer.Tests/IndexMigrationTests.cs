// Indexed generated classes across program versions: a migration hook that writes an indexed property.
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>Version 1 of an indexed class: a unique number, an ordinary sorted index and a hashed one.</summary>
[PersistentObject(Name = "consumer.stock")]
public partial class StockV1
{
    [Indexed(Unique = true)]
    public partial long Number { get; set; }

    [Indexed]
    public partial long Quantity { get; set; }

    [Indexed(Hashed = true)]
    public partial string? Name { get; set; }
}

/// <summary>Version 2: the same layout, raised so that its migration hook runs (and writes an indexed property).</summary>
[PersistentObject(Name = "consumer.stock", Version = 2)]
public partial class StockV2
{
    [Indexed(Unique = true)]
    public partial long Number { get; set; }

    [Indexed]
    public partial long Quantity { get; set; }

    [Indexed(Hashed = true)]
    public partial string? Name { get; set; }
}

public sealed class IndexMigrationTests : IDisposable
{
    private const int Items = 10;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"pmem-consumer-index-migration-{Guid.NewGuid():N}.pool");

    public void Dispose() => File.Delete(_path);

    private void CreateV1(Func<int, long> quantity)
    {
        using var pool = PersistentPool.Create(_path, "consumer", 8 << 20);
        for (var i = 1; i <= Items; i++)
        {
            var item = pool.New<StockV1>();
            (item.Number, item.Quantity, item.Name) = (i, quantity(i), $"item {i}");
        }
    }

    [Fact]
    public void A_migration_hook_that_writes_an_indexed_property_leaves_every_index_whole()
    {
        // The hook's write used to claim the new version's indexes empty mid-migration: only what hooks wrote was filed,
        // so the number and name indexes stayed empty and the unique constraint went unenforced (an outside tester's find).
        CreateV1(i => i * 100);
        var migrations = new PoolMigrations().Add<StockV2>((stored, now) => now.Quantity = stored.Get<long>("Quantity") + 1);

        using var pool = PersistentPool.Open(_path, "consumer", new PoolOpenOptions { Migrations = migrations });

        Assert.Single(pool.MigratedAtOpen);
        Assert.Equal(Items, pool.Index<StockV2, long>(nameof(StockV2.Number)).Count);
        Assert.Equal(Items, pool.Index<StockV2, long>(nameof(StockV2.Quantity)).Count);
        Assert.Equal(Items, pool.Index<StockV2, string>(nameof(StockV2.Name)).Count);
        Assert.Equal(301, Assert.Single(pool.Index<StockV2, long>(nameof(StockV2.Number)).Find(3)).Quantity);
        Assert.Equal(3, Assert.Single(pool.Index<StockV2, long>(nameof(StockV2.Quantity)).Find(301)).Number);
        Assert.Equal(7, Assert.Single(pool.Index<StockV2, string>(nameof(StockV2.Name)).Find("item 7")).Number);
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));

        var second = pool.Index<StockV2, long>(nameof(StockV2.Number)).Find(2)[0];
        Assert.Throws<PersistentUniqueConstraintException>(() => second.Number = 1);
    }
}
