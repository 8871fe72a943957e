// SharedWorkload -- threads that share objects under one lock: kill tests of the replay order across lanes.
using System.Globalization;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.CrashChild;

/// <summary>
/// <c>Pmem.CrashChild &lt;pool&gt; &lt;mode&gt; --shared N [--check]</c>: N threads take one lock in turn and, each in a
/// transaction, move money between two of the same eight accounts, bump the bank's shared counter and their own commit
/// counter. Consecutive transactions of different threads commit on different lanes and write the same words, so a
/// recovery that replayed an older thread's log after a newer one (or lost a newer one and kept an older) breaks the
/// sum or leaves the shared counter apart from the threads' counters. <c>SharedObjectKillTests</c> kills it.
/// </summary>
internal static class SharedWorkload
{
    public const int AccountCount = 8;
    public const long InitialBalance = 1000;

    public static int Run(string path, DurabilityMode mode, string[] args)
    {
        var threads = int.Parse(args[Array.IndexOf(args, "--shared") + 1], CultureInfo.InvariantCulture);
        if (args.Contains("--check"))
        {
            return Check(path);
        }

        var pool = File.Exists(path)
            ? PersistentPool.Open(path, SharedBank.Layout)
            : PersistentPool.Create(path, SharedBank.Layout, 8 << 20, new PoolCreateOptions { Durability = mode });
        var bank = Setup(pool, threads);
        var gate = new Lock();
        for (var t = 0; t < threads; t++)
        {
            var me = bank.Threads[t]!;
            new Thread(() =>
            {
                var random = new Random();
                while (true)
                {
                    lock (gate)
                    {
                        using var tx = pool.BeginTransaction();
                        var from = bank.Accounts[random.Next(AccountCount)]!;
                        var to = bank.Accounts[random.Next(AccountCount)]!;
                        var amount = random.Next(1, 50);
                        from.Balance -= amount;
                        to.Balance += amount;
                        bank.Counter += 1;
                        me.Commits += 1;
                        tx.Commit();
                    }
                }
            })
            { IsBackground = true }.Start();
        }

        Console.WriteLine("ready");
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite); // until killed
        return 0;
    }

    private static SharedBank Setup(PersistentPool pool, int threads)
    {
        var bank = pool.Root<SharedBank>();
        if (bank.Accounts.Count == 0)
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < AccountCount; i++)
            {
                var account = pool.New<SharedAccount>();
                account.Balance = InitialBalance;
                bank.Accounts.Add(account);
            }

            for (var t = 0; t < threads; t++)
            {
                bank.Threads.Add(pool.New<SharedThread>());
            }

            tx.Commit();
        }

        return bank;
    }

    /// <summary>Recovers, checks, prints "ok &lt;counter&gt;" or "broken: ..." (exit code 1).</summary>
    private static int Check(string path)
    {
        using var pool = PersistentPool.Open(path, SharedBank.Layout);
        var report = pool.Check();
        var bank = pool.Root<SharedBank>();
        var sum = bank.Accounts.Sum(account => account!.Balance);
        var commits = bank.Threads.Sum(thread => thread!.Commits);
        string? problem =
            !report.IsConsistent ? $"Check() found: {string.Join("; ", report.Errors.Take(3))}" :
            report.Unreachable.Count + report.DetachedObjects != 0 ? $"{report.Unreachable.Count} unreachable blocks, {report.DetachedObjects} the root does not reach" :
            bank.Accounts.Count != AccountCount ? $"{bank.Accounts.Count} accounts" :
            sum != AccountCount * InitialBalance ? $"the balances sum to {sum}, not {AccountCount * InitialBalance}" :
            bank.Counter != commits ? $"the shared counter is {bank.Counter} but the threads counted {commits} commits" :
            null;
        Console.WriteLine(problem is null ? $"ok {bank.Counter} recovered={pool.RecoveredTransactions}" : $"broken: {problem}");
        return problem is null ? 0 : 1;
    }
}

/// <summary>The shared workload's root.</summary>
[PersistentObject]
public partial class SharedBank
{
    public const string Layout = "crash-child-shared";

    public partial long Counter { get; set; }

    public partial PersistentList<SharedAccount?> Accounts { get; }

    public partial PersistentList<SharedThread?> Threads { get; }
}

/// <summary>An account every thread moves money in and out of.</summary>
[PersistentObject]
public partial class SharedAccount
{
    public partial long Balance { get; set; }
}

/// <summary>One thread's commit counter, written only by that thread.</summary>
[PersistentObject]
public partial class SharedThread
{
    public partial long Commits { get; set; }
}
