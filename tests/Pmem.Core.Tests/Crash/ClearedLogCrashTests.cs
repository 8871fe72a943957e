using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Log;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Why a process-crash pool must clear each log once applied (format 7): its lanes number their own commits, so the
/// numbers of two lanes say nothing about which committed first. A log left whole on a busy lane (many commits, high
/// numbers) would be replayed after the later commit of a quiet lane (low numbers) that changed the same word, and
/// undo it. The image is what a kill -9 leaves after both commits returned, on a real <see cref="ProcessCrashDomain"/>
/// (a simulated domain runs the older, pool-ordered protocol).
/// </summary>
public sealed class ClearedLogCrashTests : IDisposable
{
    private const string Layout = "cleared";
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"pmem-cleared-{Guid.NewGuid():N}.pool");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void A_busy_lanes_applied_log_is_never_replayed_over_a_later_commit_of_another_lane()
    {
        byte[] image;
        using (var pool = PersistentPool.Create(_path, Layout, 8 << 20, new PoolCreateOptions { Durability = DurabilityMode.ProcessCrash }))
        {
            var ledger = pool.Root<Ledger>();
            var busy = new Thread(() =>
            {
                for (var i = 0; i < 200; i++)
                {
                    Commit(pool, ledger, -i); // numbers this lane's commits far above the other lanes'
                }

                Commit(pool, ledger, 1);
            });

            var later = ClearedLogs.OnAnotherLane(pool, busy, () => Commit(pool, ledger, 2));

            busy.Start();
            busy.Join();
            later.Start();
            later.Join();
            Assert.Equal(2, ledger.Total);
            image = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray(); // what a kill now leaves
        }

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), Layout);
        Assert.Equal(2, reopened.Root<Ledger>().Total);
        Assert.Equal(0, reopened.RecoveredTransactions);
    }

    private static void Commit(PersistentPool pool, Ledger ledger, long total)
    {
        using var tx = pool.BeginTransaction();
        ledger.Total = total;
        tx.Commit();
    }
}
