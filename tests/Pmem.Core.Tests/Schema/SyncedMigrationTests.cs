// Migrations on an ordinary file (msync): many batches, every object converted, every reference followed.
using Pmem.Pool;

namespace Pmem.Tests.Schema;

/// <summary>
/// A migration on a file synced by msync, across many batches: every object converts, every reference follows, and
/// the pool checks clean. (Batches of a MiB of objects were tried there and measured slower: bench/RESULTS.md, session 9.)
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class SyncedMigrationTests : IDisposable
{
    private const int People = 12_000; // many batches of the growing class's objects
    private readonly DirectoryInfo _directory = new(Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "pmem-synced-migration-" + Guid.NewGuid().ToString("N")));

    public SyncedMigrationTests() => _directory.Create();

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData(true)] // in a copy renamed over the file (what an open does on an ordinary file)
    [InlineData(false)] // in place, in synced transactions (what it does when the copy cannot be made)
    public void A_class_that_grows_migrates_in_large_batches_on_a_synced_file(bool throughCopy)
    {
        var path = Path.Combine(_directory.FullName, "people.pool");
        using (var pool = PersistentPool.Create(path, SchemaEvolutionTests.Layout, 64 << 20, new PoolCreateOptions { MaxSize = 256 << 20 }))
        {
            Assert.Equal(Pmem.Memory.FlushPath.Msync, pool.Domain.FlushPath);
            SchemaEvolutionTests.FillV1(pool, People);
        }

        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2 with { MigrateInPlace = !throughCopy }))
        {
            Assert.Contains($"({People} objects converted)", Assert.Single(pool.MigratedAtOpen));
            SchemaEvolutionTests.AssertMigratedToV2(pool, People);
        }

        using var reopened = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2);
        Assert.Empty(reopened.MigratedAtOpen);
        Assert.Equal(0, reopened.RecoveredTransactions);
    }
}
