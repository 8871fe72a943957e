// DisposeRaceWorkload -- a pool disposed while other threads use it: they end with ObjectDisposedException, and the process lives.
using System.Globalization;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.CrashChild;

/// <summary>
/// <c>Pmem.CrashChild --dispose-race &lt;directory&gt; &lt;PowerFailure|ProcessCrash&gt; &lt;rounds&gt;</c>: each round creates a
/// pool, starts eight threads that set, read, transfer in transactions, create and delete objects and append to a list
/// on it without pause, and disposes the pool on the main thread after a few milliseconds. Every thread must end with
/// <see cref="ObjectDisposedException"/> (anything else is printed and the exit code is 1); an access that faulted
/// would end the process. Prints <c>ok &lt;rounds&gt;</c>. <c>DisposeRaceTests</c> runs it.
/// </summary>
internal static class DisposeRaceWorkload
{
    public static int Run(string[] args)
    {
        var directory = args[1];
        var mode = Enum.Parse<DurabilityMode>(args[2]);
        var rounds = int.Parse(args[3], CultureInfo.InvariantCulture);
        var unexpected = new List<string>();
        for (var round = 0; round < rounds; round++)
        {
            var path = Path.Combine(directory, "race.pool");
            File.Delete(path);
            var pool = PersistentPool.Create(path, CrashBank.Layout, 8 << 20, new PoolCreateOptions { Durability = mode });
            var bank = pool.Root<CrashBank>();
            var accounts = Enumerable.Range(0, 8).Select(_ => pool.New<CrashAccount>()).ToArray();
            var threads = Enumerable.Range(0, 8).Select(thread => new Thread(() =>
            {
                try
                {
                    for (long i = 0; ; i++)
                    {
                        var account = accounts[thread];
                        switch (i % 5)
                        {
                            case 0:
                                account.Balance = i;
                                break;
                            case 1:
                                using (var tx = pool.BeginTransaction())
                                {
                                    account.Balance -= 1;
                                    accounts[(thread + 1) % 8].Balance += 1;
                                    tx.Commit();
                                }

                                break;
                            case 2:
                                pool.Delete(pool.New<CrashAccount>());
                                break;
                            case 3:
                                account.Owner = i % 2 == 0 ? "owner" : null;
                                break;
                            default:
                                if (thread == 0 && bank.Accounts.Count < 65_536)
                                {
                                    // Bounded: on a loaded machine Dispose may come late, and an 8 MiB pool would fill up.
                                    bank.Accounts.Add(null);
                                }

                                _ = account.Balance + (account.Owner?.Length ?? 0);
                                break;
                        }
                    }
                }
                catch (ObjectDisposedException)
                {
                }
                catch (Exception e)
                {
                    lock (unexpected)
                    {
                        unexpected.Add($"round {round}, thread {thread}: {e}");
                    }
                }
            })).ToList();
            threads.ForEach(thread => thread.Start());
            Thread.Sleep(5 + (round % 10));
            pool.Dispose();
            threads.ForEach(thread => thread.Join());
        }

        unexpected.ForEach(Console.WriteLine);
        Console.WriteLine(unexpected.Count == 0 ? $"ok {rounds}" : $"{unexpected.Count} threads ended with another exception");
        return unexpected.Count == 0 ? 0 : 1;
    }
}
