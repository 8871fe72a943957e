using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over the two ways of writing that commit no log of their own: a batch (each write flushed, one drain
/// at the end) and <c>pool.New&lt;T&gt;()</c> outside a transaction (a prepared block published by one bit).
/// </summary>
public sealed class BatchAndAllocationCrashTests
{
    private const int Accounts = Vault.Slots;

    private static Func<SimulatedDomain> VaultSetup(Action<PersistentPool> keep) => () =>
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength);
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
        using (var tx = pool.BeginTransaction())
        {
            var vault = pool.Root<Vault>();
            for (var i = 0; i < Accounts; i++)
            {
                vault[i] = pool.New<Account>();
            }

            tx.Commit();
        }

        keep(pool);
        return domain;
    };

    /// <summary>The value batch <paramref name="batch"/> gives account <paramref name="account"/> (batch 0: the zeroes the setup left).</summary>
    private static long BalanceOf(int batch, int account) => batch == 0 ? 0 : batch * 1000 + account;

    private static decimal AmountOf(int batch, int account) => batch == 0 ? 0m : batch + account / 8m;

    /// <summary>
    /// Invariant, on every image: each property holds its value from before the batch that was running at the crash or
    /// the value that batch wrote (never a mix, never an older batch's), and once a batch has ended every one of its
    /// writes is durable. A transaction between batches (its applies waiting for their late flush) is never undone by
    /// the batch's unlogged writes.
    /// </summary>
    [Fact]
    public void Each_write_of_a_batch_is_old_or_new_at_every_crash_and_all_new_once_it_ends()
    {
        const int Batches = 16;
        PersistentPool? pool = null;
        var batchEnds = new List<long>(); // per batch that has ended, the drains made by then
        var result = CrashCampaign.Run(
            VaultSetup(p => pool = p),
            domain =>
            {
                var vault = pool!.Root<Vault>();
                var accounts = Enumerable.Range(0, Accounts).Select(i => vault[i]!).ToArray();
                var start = domain.DrainCount;
                for (var batch = 1; batch <= Batches; batch++)
                {
                    if (batch % 4 == 0)
                    {
                        // A transaction right before the batch: the batch's first unlogged write must retire its log.
                        using var tx = pool.BeginTransaction();
                        foreach (var account in accounts)
                        {
                            account.Counter = batch;
                        }

                        tx.Commit();
                    }

                    using (pool.Batch())
                    {
                        for (var i = 0; i < Accounts; i++)
                        {
                            accounts[i].Balance = BalanceOf(batch, i); // one word: flushed now, drained at the end
                            if (batch % 3 == 0)
                            {
                                accounts[i].Amount = AmountOf(batch, i); // 16 bytes: its own one-entry log, inside the batch
                            }
                        }
                    }

                    batchEnds.Add(domain.DrainCount - start);
                }
            },
            (image, point) =>
            {
                // The checker runs at the crash point itself: the batches recorded so far have ended (their drain
                // is durable), and the next one is running.
                var running = point.AtEnd ? Batches + 1 : batchEnds.Count + 1;

                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var vault = reopened.Root<Vault>();
                var lastAmountBatch = (running - 1) / 3 * 3; // the newest durable batch that wrote amounts
                var lastCounter = (running - 1) / 4 * 4;     // the transactions before that batch committed
                for (var i = 0; i < Accounts; i++)
                {
                    var account = vault[i]!;
                    var balance = account.Balance;
                    Assert.True(
                        balance == BalanceOf(running - 1, i) || (running <= Batches && balance == BalanceOf(running, i)),
                        $"account {i} holds {balance} at a crash in batch {running}: neither {BalanceOf(running - 1, i)} nor {BalanceOf(running, i)}");
                    var amount = account.Amount;
                    Assert.True(
                        amount == AmountOf(lastAmountBatch, i) || (running <= Batches && running % 3 == 0 && amount == AmountOf(running, i)),
                        $"account {i} holds amount {amount} at a crash in batch {running}");
                    var counter = account.Counter;
                    Assert.True(
                        counter == lastCounter || (running <= Batches && running % 4 == 0 && counter == running),
                        $"account {i} holds counter {counter} at a crash in batch {running}: a committed transaction was undone or torn");
                }
            },
            new CrashCampaignOptions { ImagesPerPoint = 100 });

        PoolCrashTests.Report(nameof(Each_write_of_a_batch_is_old_or_new_at_every_crash_and_all_new_once_it_ends), result);
    }

    /// <summary>
    /// <c>pool.New&lt;Account&gt;()</c> outside a transaction, published nowhere, over blocks that earlier objects left
    /// full of non-zero content. Invariant, on every image: the number of allocated accounts is the number of
    /// <c>New</c> calls that had returned, or one more (the one in progress); every allocated block is a zeroed
    /// <see cref="Account"/> (typed, never a freed block's old content); nothing else is allocated but the root, so
    /// nothing leaked.
    /// </summary>
    [Fact]
    public void An_allocation_outside_a_transaction_is_absent_or_whole_at_every_crash()
    {
        const int Allocations = 72; // more than two prepared batches of 32: blocks come back through new batches
        PersistentPool? pool = null;
        var returned = new List<long>(); // drains made before the k-th New returned, at index k - 1
        var result = CrashCampaign.Run(
            () =>
            {
                var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength);
                pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
                pool.Root<Ledger>();

                // Fill a run's first blocks with non-zero content, then free them all: the workload reuses them.
                var scribbled = Enumerable.Range(0, 96).Select(_ => pool.New<Account>()).ToList();
                foreach (var account in scribbled)
                {
                    account.Balance = -1;
                    account.Counter = -1;
                    account.Id = Guid.NewGuid();
                    account.Amount = -1.5m;
                }

                using (var tx = pool.BeginTransaction())
                {
                    scribbled.ForEach(pool.Delete);
                    tx.Commit();
                }

                return domain;
            },
            domain =>
            {
                var start = domain.DrainCount;
                for (var i = 0; i < Allocations; i++)
                {
                    pool!.New<Account>();
                    returned.Add(domain.DrainCount - start);
                }
            },
            (image, point) =>
            {
                var done = point.AtEnd ? Allocations : returned.Count(drains => drains <= point.DrainIndex);
                using var reopened = PoolCrashTests.OpenImage(image);
                var report = reopened.CheckFromRoot();
                Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
                Assert.Equal(report.Unreachable.Count, reopened.Check().Detached.GetValueOrDefault("Tests.Account")); // All<T>() finds them
                var statistics = reopened.GetStatistics();
                var accounts = statistics.ObjectsPerType.GetValueOrDefault("Tests.Account");
                Assert.True(accounts == done || (accounts == done + 1 && done < Allocations), $"{accounts} accounts are allocated after {done} allocations returned");
                Assert.Equal(1 + accounts, statistics.ObjectCount); // the root and the accounts: nothing else
                Assert.Equal(accounts, report.Unreachable.Count);
                foreach (var block in report.Unreachable)
                {
                    for (var offset = 0; offset < Account.PersistentType.Size; offset += 8)
                    {
                        Assert.True(reopened.Domain.Read<long>(block + offset) == 0, $"the new account at {block} holds old content at +{offset}");
                    }
                }
            },
            new CrashCampaignOptions { ImagesPerPoint = 100 });

        PoolCrashTests.Report(nameof(An_allocation_outside_a_transaction_is_absent_or_whole_at_every_crash), result);
    }
}
