// CompactionWorkload -- the child of the compaction kill test: builds a fragmented pool, then compacts it until killed.
using System.Text;
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.CrashChild;

/// <summary>
/// <c>--compact-setup</c> creates a pool of accounts, half of them deleted (a fragmented heap) and some left unreachable;
/// <c>--compact</c> prints "ready" and compacts the pool again and again (a line per compaction) until killed;
/// <c>--compact-fingerprint</c> opens the pool, checks it and prints a fingerprint of everything it holds (exit 1 if
/// the check finds errors).
/// </summary>
internal static class CompactionWorkload
{
    private const int Accounts = 3000;

    public static int Run(string path, DurabilityMode mode, string command)
    {
        switch (command)
        {
            case "--compact-setup":
                Setup(path, mode);
                return 0;
            case "--compact":
                Console.WriteLine("ready");
                Console.Out.Flush();
                for (var round = 1; ; round++)
                {
                    var result = PoolCompaction.Compact(path, CrashBank.Layout);
                    Console.WriteLine($"compacted {round} {result.SizeBefore} {result.SizeAfter}");
                    Console.Out.Flush();
                }

            default:
                return Fingerprint(path);
        }
    }

    private static void Setup(string path, DurabilityMode mode)
    {
        using var pool = PersistentPool.Create(path, CrashBank.Layout, 8 << 20, new PoolCreateOptions { Durability = mode, MaxSize = 256 << 20 });
        var bank = pool.Root<CrashBank>();
        bank.Note = "compaction";
        for (var batch = 0; batch < Accounts / 500; batch++)
        {
            using var tx = pool.BeginTransaction();
            for (var i = batch * 500; i < (batch + 1) * 500; i++)
            {
                // Accounts and their strings interleaved in the heap; every other one deleted leaves holes in every run.
                var account = pool.New<CrashAccount>();
                account.Balance = i;
                account.Owner = $"owner {i} " + new string('x', i % 300);
                if (i % 2 == 0)
                {
                    bank.Accounts.Add(account);
                    bank.Accounts.Add(account); // each twice: shared references
                }
                else if (i % 25 != 0)
                {
                    pool.Delete(account);
                }

                // (i % 25 == 0 and odd: left allocated but unreachable; compaction keeps it, All<T>() still finds it)
            }

            tx.Commit();
        }
    }

    private static int Fingerprint(string path)
    {
        using var pool = PersistentPool.Open(path, CrashBank.Layout);
        var report = pool.Check();
        var text = new StringBuilder();
        var bank = pool.Root<CrashBank>();
        text.Append($"note={bank.Note} accounts={bank.Accounts.Count} allocated={report.AllocatedObjects} unreachable={report.Unreachable.Count} detached={report.DetachedObjects} uuid={pool.Uuid};");
        var ids = new Dictionary<long, int>();
        foreach (var account in bank.Accounts)
        {
            var id = ids.TryGetValue(account!.Offset, out var known) ? known : ids[account.Offset] = ids.Count;
            text.Append($"{id}:{account.Balance}:{account.Owner};");
        }

        foreach (var account in pool.All<CrashAccount>().OrderBy(a => a.Balance))
        {
            text.Append($"all {account.Balance}:{account.Owner?.Length};");
        }

        Console.WriteLine(report.IsConsistent ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))) : "broken: " + string.Join("; ", report.Errors));
        return report.IsConsistent ? 0 : 1;
    }
}
