using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// A retirement that finds R already stored by another thread. Thread A reuses a block a commit freed: it raises R
/// over that commit and is held just before its drain, so its flush of R is still in flight. Thread B then reuses a
/// block of the same run: it finds R raised, and must flush R itself so that its own drain makes R durable before it
/// writes into the block and publishes it. Were B to rely on A's flush, a crash with A's flush lost would replay the
/// freeing commit over B's new object, clearing its bit while B's durable reference points at it.
/// </summary>
public sealed class RetirementRaceCrashTests
{
    private const int Freed = 64;
    private const long Marker = 4242;

    [Fact]
    public void A_block_reused_on_R_another_thread_raised_stays_allocated_at_every_crash()
    {
        var domain = new SimulatedDomain(PoolCrashTests.SmallPoolLength);
        using var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
        var root = pool.Root<Ledger>();
        using var a = new Worker();
        using var b = new Worker();

        // Each thread fills a run of its own arena with vaults; one commit frees all but one of each, so the runs stay
        // in use and the threads' next blocks of that size (accounts, whose prepared-block cache is still empty) are
        // blocks that commit freed: both must retire it first.
        var vaults = new List<Vault>();
        foreach (var worker in new[] { a, b })
        {
            worker.Run(() =>
            {
                using var tx = pool.BeginTransaction();
                for (var i = 0; i <= Freed; i++)
                {
                    vaults.Add(pool.New<Vault>());
                }

                tx.Commit();
            });
        }

        using (var tx = pool.BeginTransaction())
        {
            foreach (var vault in vaults.Where((_, i) => i % (Freed + 1) != 0))
            {
                pool.Delete(vault);
            }

            tx.Commit();
        }

        var retiredBefore = LiveRetired(domain);
        var images = new List<(byte[] Image, bool Published)>();
        using var aHeld = new ManualResetEventSlim();
        using var releaseA = new ManualResetEventSlim();
        var published = false;
        domain.BeforeDrain = d =>
        {
            if (a.IsCurrent && !aHeld.IsSet && LiveRetired(d) > retiredBefore)
            {
                aHeld.Set(); // A stored R and flushed it; its drain has made nothing durable yet
                releaseA.Wait(TimeSpan.FromMinutes(1));
            }
            else if (b.IsCurrent)
            {
                images.Add((d.CrashNonePersisted(), Volatile.Read(ref published)));
                images.Add((d.Crash(images.Count), Volatile.Read(ref published)));
            }
        };

        var aDone = a.Start(() => pool.New<Account>());
        try
        {
            Assert.True(aHeld.Wait(TimeSpan.FromMinutes(1)), "thread A never raised R for the freeing commit: the scenario did not happen");
            b.Run(() =>
            {
                var account = pool.New<Account>();
                account.Balance = Marker;
                root.Second = account; // durable on return
                Volatile.Write(ref published, true);
            });
            images.Add((domain.CrashNonePersisted(), true)); // B is done and A's flush of R is still in flight
        }
        finally
        {
            releaseA.Set();
            Worker.WaitFor(aDone);
            domain.BeforeDrain = null;
        }

        Assert.True(images.Count > 3, "thread B drained nothing");
        foreach (var (image, afterPublish) in images)
        {
            using var reopened = PoolCrashTests.OpenImage(image);
            var report = reopened.Check();
            Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
            var second = reopened.Root<Ledger>().Second;
            if (afterPublish)
            {
                Assert.NotNull(second);
            }

            Assert.True(second is null || second.Balance == Marker, $"the reference leads to {second?.Balance}");
        }

        TestSummary.Add(TestSummary.CrashImages, images.Count);
    }

    private static long LiveRetired(SimulatedDomain domain) => domain.GetRef<long>(PoolLayout.RetiredThroughOffset);

    /// <summary>A thread of its own that runs what it is given, so each step runs on the same thread (and arena).</summary>
    private sealed class Worker : IDisposable
    {
        private readonly System.Collections.Concurrent.BlockingCollection<(Action Action, TaskCompletionSource Done)> _work = [];
        private readonly Thread _thread;

        public Worker()
        {
            _thread = new Thread(() =>
            {
                foreach (var (action, done) in _work.GetConsumingEnumerable())
                {
                    try
                    {
                        action();
                        done.SetResult();
                    }
                    catch (Exception e)
                    {
                        done.SetException(e);
                    }
                }
            });
            _thread.Start();
        }

        public bool IsCurrent => Environment.CurrentManagedThreadId == _thread.ManagedThreadId;

        public Task Start(Action action)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Add((action, done));
            return done.Task;
        }

        public void Run(Action action) => WaitFor(Start(action));

        /// <summary>Blocks until work handed to a worker is done (the test thread has no other work meanwhile).</summary>
        public static void WaitFor(Task done) => done.GetAwaiter().GetResult();

        public void Dispose()
        {
            _work.CompleteAdding();
            _thread.Join();
            _work.Dispose();
        }
    }
}
