// CreateLoopWorkload -- pools created, used, closed and deleted under one name until the process is killed.
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.CrashChild;

/// <summary>
/// <c>Pmem.CrashChild --create-loop &lt;pool path&gt; &lt;PowerFailure|ProcessCrash&gt;</c>: prints <c>ready</c>, then
/// creates the pool, writes its root, disposes and deletes it, over and over until killed; most of the time goes to
/// <see cref="PersistentPool.Create(string, string, long, PoolCreateOptions?)"/>, so a kill lands in it often.
/// <c>PoolCreateKillTests</c> runs it.
/// </summary>
internal static class CreateLoopWorkload
{
    public static int Run(string[] args)
    {
        var path = args[1];
        var mode = Enum.Parse<DurabilityMode>(args[2]);
        Console.WriteLine("ready");
        for (var round = 1L; ; round++)
        {
            using (var pool = PersistentPool.Create(path, CrashBank.Layout, 16 << 20, new PoolCreateOptions { Durability = mode }))
            {
                pool.Root<CrashBank>().Accounts.Add(pool.New<CrashAccount>());
            }

            File.Delete(path);
        }
    }
}
