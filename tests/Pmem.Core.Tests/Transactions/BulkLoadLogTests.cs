// BulkLoadLogTests -- a transaction of many new objects logs a batch's adjacent headers and contents in a few entries, not one per object.
using Pmem.Log;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;
using Pmem.Transactions;

namespace Pmem.Tests.Transactions;

/// <summary>
/// Blocks prepared inside a transaction reach its commit with their allocation headers to log, and (where the pipeline
/// hashes published content) their content to verify: 48 bytes of entries per 64-byte object when each had its own.
/// A batch's blocks are taken in slot order, so headers lie side by side and contents follow each other: one Set per
/// run of headers, one Verify per 4 KiB of content.
/// </summary>
public sealed class BulkLoadLogTests
{
    private const int Objects = 256; // eight batches of 32

    [Theory]
    [InlineData(false)] // an ordinary file: contents hashed into the log
    [InlineData(true)] // persistent memory: contents drained before the log, headers still logged
    public void A_bulk_commit_logs_headers_and_contents_per_run_of_adjacent_blocks(bool persistentMemory)
    {
        var domain = new SimulatedDomain(16 << 20, new SimulationOptions { PersistentMemory = persistentMemory });
        using var pool = PersistentPool.Create(domain, "tests", new PoolCreateOptions());
        pool.New<Account>().Balance = -1; // the type recorded, outside the transaction
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < Objects; i++)
            {
                pool.New<Account>().Balance = i;
            }

            tx.Commit();
        }

        var entries = new Dictionary<RedoOperation, int>();
        var reader = new RedoReader(TransactionState.ForThread.LastRedo!.Entries);
        while (reader.MoveNext(out var error))
        {
            Assert.Null(error);
            entries[reader.Operation] = entries.GetValueOrDefault(reader.Operation) + 1;
        }

        // Each batch is one run of slots unless it straddles a bitmap word or met a freed block: a few entries a batch at most.
        Assert.InRange(entries.GetValueOrDefault(RedoOperation.Set), 1, 2 * Objects / 32);
        Assert.InRange(entries.GetValueOrDefault(RedoOperation.Verify), persistentMemory ? 0 : 1, persistentMemory ? 0 : 2 * Objects * 64 / RedoBuilder.VerifyLimit);
        Assert.Equal(Objects + 1, pool.All<Account>().Count());
        Assert.True(pool.Check().IsClean);
    }
}
