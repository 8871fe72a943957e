using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over threads that share objects under one lock of their own (as the contract asks: no isolation
/// between threads). Each transaction runs wholly inside the lock, so the commits happen in lock order on the threads'
/// different lanes, and recovery must replay committed logs across lanes in commit order for the state to be one the
/// threads passed through.
/// </summary>
public sealed class SharedObjectCrashTests
{
    private const int Threads = 3;
    private const int PerThread = 12;
    private const long InitialBalance = 1000;

    private static void RunThreads(Action<int, int> step)
    {
        Exception? failure = null;
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                for (var i = 0; i < PerThread; i++)
                {
                    step(t, i);
                }
            }
            catch (Exception e)
            {
                failure ??= e;
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>
    /// Three threads append to one list under a shared lock; each transaction also counts the node in the root and
    /// overwrites a shared register with the node's (increasing) number. Invariant, on every image: the nodes are
    /// exactly 1..k newest first for some k (a prefix of the commit order), the root's count and the register's count
    /// both equal k, the register's value is k (the last committed write wins), every node's string matches it, and
    /// the heap is sound with nothing leaked.
    /// </summary>
    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    public void Appends_to_a_shared_list_under_a_lock_recover_to_a_prefix_of_the_commit_order_at_every_crash(LaneShape lanes)
    {
        PersistentPool? pool = null;
        var gate = new Lock();
        var result = CrashCampaign.Run(
            () =>
            {
                var (domain, created) = PoolCrashTests.NewPool(lanes, Threads);
                pool = created;
                using var tx = pool.BeginTransaction();
                pool.Root<Ledger>().Second = pool.New<Account>(); // the shared register
                tx.Commit();
                return domain;
            },
            _ =>
            {
                var root = pool!.Root<Ledger>();
                var register = root.Second!;
                RunThreads((thread, _) =>
                {
                    lock (gate)
                    {
                        using var tx = pool.BeginTransaction();
                        var number = root.Total + 1;
                        var node = pool.New<Account>();
                        node.Balance = number;
                        node.Counter = thread;
                        node.Owner = $"node {number} by {thread}";
                        node.Next = root.First;
                        root.First = node;
                        root.Total = number;
                        register.Balance = number;     // overwritten by every transaction: the last commit wins
                        register.Counter += 1;
                        tx.Commit();
                    }
                });
            },
            (image, point) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var root = reopened.Root<Ledger>();
                var register = root.Second!;
                var k = root.Total;
                Assert.InRange(k, 0, Threads * PerThread);
                if (point.AtEnd)
                {
                    Assert.Equal(Threads * PerThread, k);
                }

                var expected = k;
                for (var node = root.First; node is not null; node = node.Next)
                {
                    Assert.True(node.Balance == expected, $"node {node.Balance} where {expected} was expected (count {k})");
                    Assert.Equal($"node {expected} by {node.Counter}", node.Owner);
                    expected--;
                }

                Assert.True(expected == 0, $"the list ends at {expected + 1}, not 1 (count {k})");
                Assert.Equal(k, register.Balance);
                Assert.Equal(k, register.Counter);
            },
            new CrashCampaignOptions { ImagesPerPoint = PoolCrashTests.ImagesFor(lanes, 60) });

        PoolCrashTests.Report($"{nameof(Appends_to_a_shared_list_under_a_lock_recover_to_a_prefix_of_the_commit_order_at_every_crash)}({lanes})", result);
    }

    /// <summary>
    /// Three threads move money among the same eight accounts under a shared lock, each transfer also stamping both
    /// accounts with its global number. Invariant, on every image: the sum is conserved, the transfers that survived
    /// are a prefix 1..k of the commit order (every account's stamp is at most k, the account the last transfer
    /// touched carries k, and the transfer count of the vault's first account equals k).
    /// </summary>
    [Theory]
    [InlineData(LaneShape.ThreeSlots)]
    [InlineData(LaneShape.TwelveSlots)]
    public void Transfers_among_shared_accounts_under_a_lock_conserve_the_sum_and_a_prefix_at_every_crash(LaneShape lanes)
    {
        PersistentPool? pool = null;
        var gate = new Lock();
        var touched = new List<(int From, int To)> { (-1, -1) }; // per transfer number, the accounts it stamped
        var result = CrashCampaign.Run(
            () =>
            {
                var (domain, created) = PoolCrashTests.NewPool(lanes, Threads);
                pool = created;
                using var tx = pool.BeginTransaction();
                var vault = pool.Root<Vault>();
                for (var i = 0; i < Vault.Slots; i++)
                {
                    var account = pool.New<Account>();
                    account.Balance = InitialBalance;
                    vault[i] = account;
                }

                tx.Commit();
                return domain;
            },
            _ =>
            {
                var vault = pool!.Root<Vault>();
                var accounts = Enumerable.Range(0, Vault.Slots).Select(i => vault[i]!).ToArray();
                var counter = accounts[0];
                RunThreads((thread, i) =>
                {
                    lock (gate)
                    {
                        var number = touched.Count;
                        var from = (thread * 3 + i) % Vault.Slots;
                        var to = (from + 1 + thread) % Vault.Slots;
                        touched.Add((from, to));
                        using var tx = pool.BeginTransaction();
                        accounts[from].Balance -= number;
                        accounts[to].Balance += number;
                        accounts[from].Counter = number;
                        accounts[to].Counter = number;
                        counter.Amount += 1; // the number of transfers, kept in the first account
                        tx.Commit();
                    }
                });
            },
            (image, point) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var vault = reopened.Root<Vault>();
                var accounts = Enumerable.Range(0, Vault.Slots).Select(i => vault[i]!).ToArray();
                Assert.Equal(Vault.Slots * InitialBalance, accounts.Sum(a => a.Balance));
                var k = (int)accounts[0].Amount;
                Assert.InRange(k, 0, Threads * PerThread);
                if (point.AtEnd)
                {
                    Assert.Equal(Threads * PerThread, k);
                }

                // Replaying the first k transfers in order gives every balance and stamp exactly.
                var balances = Enumerable.Repeat(InitialBalance, Vault.Slots).ToArray();
                var stamps = new int[Vault.Slots];
                for (var n = 1; n <= k; n++)
                {
                    var (from, to) = touched[n];
                    balances[from] -= n;
                    balances[to] += n;
                    stamps[from] = n;
                    stamps[to] = n;
                }

                for (var i = 0; i < Vault.Slots; i++)
                {
                    Assert.True(balances[i] == accounts[i].Balance && stamps[i] == accounts[i].Counter, $"account {i} holds {accounts[i].Balance} stamped {accounts[i].Counter}; the first {k} transfers give {balances[i]} stamped {stamps[i]}");
                }
            },
            new CrashCampaignOptions { ImagesPerPoint = PoolCrashTests.ImagesFor(lanes, 60) });

        PoolCrashTests.Report($"{nameof(Transfers_among_shared_accounts_under_a_lock_conserve_the_sum_and_a_prefix_at_every_crash)}({lanes})", result);
    }
}
