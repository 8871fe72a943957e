// BulkLoadSyncTests -- a transaction that makes many objects in a pool on an ordinary file syncs at its commit, not once per batch of prepared blocks.
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Transactions;

/// <summary>
/// An outside tester filled a power-failure pool on a disk at about 10,000 objects a second whatever the transaction
/// size: each batch of 32 prepared blocks was drained on its own, an msync on an ordinary file (676 for 20,000 objects in
/// one transaction; a 3-million-object transaction took 430 s before its commit). Inside a transaction the commit that
/// publishes the blocks makes their content durable, as it does for any new block.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class BulkLoadSyncTests : IDisposable
{
    private const int Objects = 2_000;
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-bulk-sync");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_transaction_of_thousands_of_new_objects_syncs_a_few_times_and_all_are_there_after_a_reopen()
    {
        var path = Path.Combine(_directory, "bulk.pool");
        using (var pool = PersistentPool.Create(path, "tests", 16 << 20, new PoolCreateOptions { Durability = DurabilityMode.PowerFailure }))
        {
            var domain = Assert.IsType<MsyncDomain>(pool.Domain);
            pool.New<Account>().Balance = -2; // the type's first use records it, in commits of its own
            var before = domain.SyncCalls;
            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < Objects; i++)
                {
                    pool.New<Account>().Balance = i; // found again by All<T>(): a list's growth syncs on its own
                }

                tx.Commit();
            }

            Assert.InRange(domain.SyncCalls - before, 1, 8); // 65 before: a batch of 32 prepared blocks synced at a time

            // Blocks the transaction prepared and left in the thread's cache: an allocation outside a transaction
            // drains them before it sets its bit (the commit above made them durable anyway).
            pool.New<Account>().Balance = -1;
        }

        using var reopened = PersistentPool.Open(path, "tests");
        Assert.Equal(Enumerable.Range(-2, Objects + 2).Select(i => (long)i), reopened.All<Account>().Select(a => a.Balance).Order());
        Assert.True(reopened.Check().IsClean);
    }
}
