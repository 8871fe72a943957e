using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over transactions. Invariants after recovery, on every image: the sum of balances is conserved
/// (each transfer all-or-nothing), the list is well formed, and nothing allocated is unreachable (no leak from
/// aborted or committed transactions).
/// </summary>
public sealed class TransactionCrashTests
{
    private const long InitialBalance = 1000;

    private static Func<SimulatedDomain> BankSetup(Action<PersistentPool> keep, LaneShape lanes = LaneShape.ThreeSlots) => () =>
    {
        var (domain, pool) = PoolCrashTests.NewPool(lanes);
        using (var tx = pool.BeginTransaction())
        {
            var vault = pool.Root<Vault>();
            for (var i = 0; i < Vault.Slots; i++)
            {
                var account = pool.New<Account>();
                account.Balance = InitialBalance;
                account.Owner = $"account {i}";
                vault[i] = account;
            }

            tx.Commit();
        }

        keep(pool);
        return domain;
    };

    private static void CheckBank(byte[] image)
    {
        using var pool = PoolCrashTests.OpenImage(image);
        PoolCrashTests.AssertHeapIsSound(pool);
        var vault = pool.Root<Vault>();
        long sum = 0;
        for (var i = 0; i < Vault.Slots; i++)
        {
            var account = vault[i]!;
            Assert.Equal($"account {i}", account.Owner);
            sum += account.Balance;
        }

        Assert.Equal(Vault.Slots * InitialBalance, sum);
    }

    private static void Transfer(PersistentPool pool, Vault vault, int from, int to, long amount)
    {
        using var tx = pool.BeginTransaction();
        vault[from]!.Balance -= amount;
        vault[to]!.Balance += amount;
        tx.Commit();
    }

    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    [InlineData(LaneShape.TwelveSlotsOnFile)]
    public void Bank_transfers_are_all_or_nothing_at_every_crash(LaneShape lanes)
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            BankSetup(p => pool = p, lanes),
            _ =>
            {
                var vault = pool!.Root<Vault>();
                var random = new Random(7);
                for (var i = 0; i < 25; i++)
                {
                    Transfer(pool, vault, random.Next(Vault.Slots), random.Next(Vault.Slots), random.Next(1, 100));
                }

                // A transfer that allocates an audit string and is aborted: nothing of it may remain.
                using (pool.BeginTransaction())
                {
                    vault[0]!.Balance -= 500;
                    vault[1]!.Owner = "aborted";
                }

                // Writes outside the log while applies still wait for their flush, then more transfers.
                vault[2]!.Owner = "account 2";         // a string: its own small commit
                vault[3]!.Balance = vault[3]!.Balance; // one word: written outside any log
                for (var i = 0; i < 5; i++)
                {
                    Transfer(pool, vault, random.Next(Vault.Slots), random.Next(Vault.Slots), random.Next(1, 100));
                }
            },
            (image, point) => CheckBank(image),
            new CrashCampaignOptions { ImagesPerPoint = PoolCrashTests.ImagesFor(lanes, 200) });

        PoolCrashTests.Report($"{nameof(Bank_transfers_are_all_or_nothing_at_every_crash)}({lanes})", result);
    }

    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    [InlineData(LaneShape.TwelveSlotsOnFile)]
    public void Transfers_on_several_threads_crashed_together_keep_the_sum(LaneShape lanes)
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            BankSetup(p => pool = p, lanes),
            _ =>
            {
                var vault = pool!.Root<Vault>();
                // Each thread moves money between its own pair, so no locks are needed; the crash hits them together.
                var threads = Enumerable.Range(0, 3).Select(t => new Thread(() =>
                {
                    for (var i = 0; i < 10; i++)
                    {
                        Transfer(pool, vault, t * 2, t * 2 + 1, i + 1);
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
            },
            (image, point) => CheckBank(image),
            new CrashCampaignOptions { ImagesPerPoint = PoolCrashTests.ImagesFor(lanes, 150) });

        PoolCrashTests.Report($"{nameof(Transfers_on_several_threads_crashed_together_keep_the_sum)}({lanes})", result);
    }

    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    [InlineData(LaneShape.TwelveSlotsOnFile)]
    public void Linked_list_inserts_and_removes_keep_a_well_formed_list_at_every_crash(LaneShape lanes)
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            () =>
            {
                var (domain, created) = PoolCrashTests.NewPool(lanes);
                created.Root<Ledger>();
                pool = created;
                return domain;
            },
            _ =>
            {
                var root = pool!.Root<Ledger>();
                var random = new Random(3);
                for (var i = 0; i < 30; i++)
                {
                    using var tx = pool.BeginTransaction();
                    var count = root.Total;
                    if (count > 0 && random.Next(3) == 0)
                    {
                        // Remove the node at a random position.
                        var position = random.Next((int)count);
                        Account? previous = null;
                        var node = root.First!;
                        for (var p = 0; p < position; p++)
                        {
                            (previous, node) = (node, node.Next!);
                        }

                        if (previous is null)
                        {
                            root.First = node.Next;
                        }
                        else
                        {
                            previous.Next = node.Next;
                        }

                        pool.Delete(node);
                        root.Total = count - 1;
                    }
                    else
                    {
                        var node = pool.New<Account>();
                        node.Balance = i;
                        node.Owner = $"node {i}";
                        node.Next = root.First;
                        root.First = node;
                        root.Total = count + 1;
                    }

                    tx.Commit();
                }
            },
            (image, point) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var root = reopened.Root<Ledger>();
                var length = 0;
                for (var node = root.First; node is not null; node = node.Next)
                {
                    Assert.Equal($"node {node.Balance}", node.Owner);
                    Assert.True(++length <= 30, "the list has a cycle");
                }

                Assert.Equal(root.Total, length);
            },
            new CrashCampaignOptions { ImagesPerPoint = PoolCrashTests.ImagesFor(lanes, 150) });

        PoolCrashTests.Report($"{nameof(Linked_list_inserts_and_removes_keep_a_well_formed_list_at_every_crash)}({lanes})", result);
    }

    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    [InlineData(LaneShape.TwelveSlotsOnFile)]
    public void A_durable_write_after_a_transaction_is_never_undone_by_recovery(LaneShape lanes)
    {
        // Every write raises Balance; one that returned is durable, so no crash image may show less. A transaction's
        // log stays valid after it applies, so this fails if a write that bypasses the log does not retire it first.
        PersistentPool? pool = null;
        var durable = new List<(long Drains, long Value)>();
        var result = CrashCampaign.Run(
            () =>
            {
                var (domain, created) = PoolCrashTests.NewPool(lanes);
                created.Root<Account>();
                pool = created;
                return domain;
            },
            domain =>
            {
                var account = pool!.Root<Account>();
                var start = domain.DrainCount;
                for (var i = 1; i <= 20; i++)
                {
                    if (i % 2 == 1)
                    {
                        using var tx = pool.BeginTransaction();
                        account.Balance = i * 10;
                        account.Counter = i;
                        tx.Commit();
                    }
                    else
                    {
                        account.Balance = i * 10; // one word, outside any transaction
                    }

                    durable.Add((domain.DrainCount - start, i * 10));
                }
            },
            (image, point) =>
            {
                var floor = durable.Where(d => point.AtEnd || d.Drains <= point.DrainIndex).Select(d => d.Value).DefaultIfEmpty(0).Max();
                using var reopened = PoolCrashTests.OpenImage(image);
                var balance = reopened.Root<Account>().Balance;
                Assert.True(balance >= floor, $"Balance {balance} is below {floor}, which was durable before this crash");
            },
            new CrashCampaignOptions { ImagesPerPoint = PoolCrashTests.ImagesFor(lanes, 300) });

        PoolCrashTests.Report($"{nameof(A_durable_write_after_a_transaction_is_never_undone_by_recovery)}({lanes})", result);
    }

    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    [InlineData(LaneShape.TwelveSlotsOnFile)]
    public void A_commit_makes_an_idle_threads_undrained_apply_durable_before_it_reuses_slots(LaneShape lanes)
    {
        Vault? vault = null;
        PersistentPool? pool = null;
        var domain = BankSetup(p => pool = p, lanes)();
        using (pool)
        {
            vault = pool!.Root<Vault>();

            // Another thread commits once and never drains again: its apply is flushed, not durable; its log is the truth.
            var other = new Thread(() => Transfer(pool, vault, 0, 1, 111));
            other.Start();
            other.Join();
            using (var reopened = PoolCrashTests.OpenImage(domain.CrashNonePersisted()))
            {
                Assert.Equal(InitialBalance - 111, reopened.Root<Vault>()[0]!.Balance); // replayed from its log
            }

            // More commits than a lane has slots: before the watermark may cover that log, this thread must make the
            // idle thread's apply durable itself (and must not wait for it).
            for (var i = 0; i < 30; i++)
            {
                Transfer(pool, vault, 2, 3, 1);
            }

            var image = domain.CrashNonePersisted();
            using var recovered = PoolCrashTests.OpenImage(image);
            var accounts = recovered.Root<Vault>();
            Assert.Equal(InitialBalance - 111, accounts[0]!.Balance);
            Assert.Equal(InitialBalance + 111, accounts[1]!.Balance);
            Assert.Equal(InitialBalance - 30, accounts[2]!.Balance);
            Assert.Equal(InitialBalance + 30, accounts[3]!.Balance);
        }
    }

    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    [InlineData(LaneShape.TwelveSlotsOnFile)]
    public void What_concurrent_commits_returned_from_is_durable_with_more_threads_than_lanes(LaneShape lanes)
    {
        PersistentPool? pool = null;
        var domain = BankSetup(p => pool = p, lanes)();
        using (pool)
        {
            var vault = pool!.Root<Vault>();
            var accounts = Enumerable.Range(0, Vault.Slots).Select(i => vault[i]!).ToArray();

            // Four threads on two lanes: commits migrate between lanes and slots, applies are left undrained by
            // threads that move on, and one thread mixes in batches (unlogged writes) — every case of the pipeline.
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                var (from, to) = (accounts[t * 2], accounts[t * 2 + 1]);
                for (var i = 0; i < 60; i++)
                {
                    if (t == 3 && i % 3 == 0)
                    {
                        using (pool.Batch())
                        {
                            from.Balance -= 1;
                            to.Balance += 1;
                        }

                        continue;
                    }

                    using var tx = pool.BeginTransaction();
                    from.Balance -= 1;
                    to.Balance += 1;
                    tx.Commit();
                }
            })).ToArray();
            foreach (var thread in threads)
            {
                thread.Start();
            }

            foreach (var thread in threads)
            {
                thread.Join();
            }

            // Only what is durable now survives this image: every transfer returned, so every one must be there.
            using var recovered = PoolCrashTests.OpenImage(domain.CrashNonePersisted());
            PoolCrashTests.AssertHeapIsSound(recovered);
            var durable = recovered.Root<Vault>();
            for (var i = 0; i < Vault.Slots; i++)
            {
                Assert.Equal(InitialBalance + (i % 2 == 0 ? -60 : 60), durable[i]!.Balance);
            }
        }
    }
}
