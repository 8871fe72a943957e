using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over transactions whose logs do not fit their lane slot and go to a heap block. Invariant on every
/// image after recovery: each batch of nodes is in the list whole or not at all, the total matches the list, and the
/// heap is sound with nothing leaked (the log blocks are reserved, never allocated).
/// </summary>
public sealed class LargeTransactionCrashTests
{
    private const int NodesPerBatch = 40; // ≈ 6 KB of log against a 2.6 KB slot

    private static void AddBatch(PersistentPool pool, Ledger root, int batch)
    {
        using var tx = pool.BeginTransaction();
        for (var i = 0; i < NodesPerBatch; i++)
        {
            var node = pool.New<Account>();
            node.Balance = batch;
            node.Counter = i;
            node.Owner = $"batch {batch} node {i}";
            node.Next = root.First;
            root.First = node;
        }

        root.Total += NodesPerBatch;
        tx.Commit();
    }

    /// <summary>Unlinks and deletes the first <see cref="NodesPerBatch"/> nodes (one whole batch) in one transaction.</summary>
    private static void RemoveNewestBatch(PersistentPool pool, Ledger root)
    {
        using var tx = pool.BeginTransaction();
        for (var i = 0; i < NodesPerBatch; i++)
        {
            var node = root.First!;
            root.First = node.Next;
            pool.Delete(node);
        }

        root.Total -= NodesPerBatch;
        tx.Commit();
    }

    private static void CheckBatches(byte[] image)
    {
        using var pool = PoolCrashTests.OpenImage(image);
        PoolCrashTests.AssertHeapIsSound(pool);
        var root = pool.Root<Ledger>();
        var nodes = new List<Account>();
        for (var node = root.First; node is not null; node = node.Next)
        {
            nodes.Add(node);
        }

        Assert.Equal(root.Total, nodes.Count);
        Assert.Equal(0, nodes.Count % NodesPerBatch);
        for (var i = 0; i < nodes.Count; i++)
        {
            // Newest first: within a batch the counters run down from NodesPerBatch - 1 to 0.
            var node = nodes[i];
            var expected = NodesPerBatch - 1 - (i % NodesPerBatch);
            Assert.Equal(expected, node.Counter);
            Assert.Equal($"batch {node.Balance} node {expected}", node.Owner);
            Assert.Equal(nodes[i - (i % NodesPerBatch)].Balance, node.Balance);
        }
    }

    [Fact]
    public void Transactions_larger_than_their_slot_are_all_or_nothing_at_every_crash()
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            PoolCrashTests.LedgerSetup(p => pool = p),
            _ =>
            {
                var root = pool!.Root<Ledger>();
                AddBatch(pool, root, 1);
                AddBatch(pool, root, 2);
                RemoveNewestBatch(pool, root);
                root.Total = root.Total; // a write outside the log after the large commits
                AddBatch(pool, root, 3);
                using (pool.BeginTransaction())
                {
                    AddBatch(pool, root, 4); // joins the outer transaction, which rolls back
                }

                AddBatch(pool, root, 5);
            },
            (image, point) => CheckBatches(image),
            new CrashCampaignOptions { ImagesPerPoint = 40 });

        PoolCrashTests.Report(nameof(Transactions_larger_than_their_slot_are_all_or_nothing_at_every_crash), result);
    }
}
