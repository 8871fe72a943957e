using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crashes during an open that replays a committed log and then refuses the pool (its root is damaged). The replay's
/// stores are put back, flushed and drained before the exception leaves: a crash before that may keep some of the
/// replay (the pool is then refused the same way), but once the refusal has left, no image — whatever in-flight lines
/// reach the media — may differ from the file as it was.
/// </summary>
public sealed class RefusedOpenCrashTests
{
    [Fact]
    public void A_refused_open_leaves_the_pool_as_it_was_at_every_crash()
    {
        var damaged = DamagedPoolWithALogToReplay();
        var domain = SimulatedDomain.FromImage(damaged);
        var during = new List<(string When, byte[] Image)>();
        domain.BeforeDrain = d => during.AddRange(Images(d, $"drain {d.DrainCount}"));

        var refusal = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(domain, PoolCrashTests.LayoutName));
        Assert.Contains("root object", refusal.Message);
        Assert.True(during.Count > 0, "the refused open drained nothing: its put-back was not exercised");

        // A crash before the put-back is durable may keep some of the replay (its flushes were issued): the same log
        // replays again, and the pool is refused just the same.
        foreach (var (when, image) in during)
        {
            var again = Assert.Throws<PoolCorruptedException>(() => PoolCrashTests.OpenImage(image));
            Assert.True(again.Message == refusal.Message, $"{when}: refused with '{again.Message}'");
        }

        // Once the refusal has left, nothing of the replay may reach the media, whatever lines are still in flight.
        var after = Images(domain, "after the refusal").ToList();
        foreach (var (when, image) in after)
        {
            var first = image.AsSpan().CommonPrefixLength(damaged);
            if (first < damaged.Length)
            {
                var word = first / 8 * 8;
                Assert.Fail($"{when}: the file differs from the refused pool at offset {first} ({BitConverter.ToInt64(image, word)} for {BitConverter.ToInt64(damaged, word)})");
            }
        }

        TestSummary.Add(TestSummary.CrashImages, during.Count + after.Count);
    }

    private static IEnumerable<(string When, byte[] Image)> Images(SimulatedDomain domain, string at)
    {
        yield return ($"{at}, nothing in flight persisted", domain.CrashNonePersisted());
        yield return ($"{at}, everything in flight persisted", domain.CrashAllPersisted());
        for (var seed = 1; seed <= 8; seed++)
        {
            yield return ($"{at}, random subset {seed}", domain.Crash(seed));
        }
    }

    /// <summary>
    /// A crash image in which a committed transaction's log awaits replay (opening it recovers one transaction), with
    /// the root's recorded type index damaged so that the open refuses the pool after the replay.
    /// </summary>
    private static byte[] DamagedPoolWithALogToReplay()
    {
        // The root is created, then the pool reopened, so that no log left to replay writes the root's words.
        byte[] created;
        var creating = new SimulatedDomain(PoolCrashTests.SmallPoolLength);
        using (var pool = PersistentPool.Create(creating, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool))
        {
            pool.Root<Ledger>();
            created = creating.CrashAllPersisted();
        }

        var domain = SimulatedDomain.FromImage(created);
        var images = new List<byte[]>();
        using (var pool = PersistentPool.Open(domain, PoolCrashTests.LayoutName))
        {
            var root = pool.Root<Ledger>();
            domain.BeforeDrain = d => images.Add(d.CrashNonePersisted());
            using (var tx = pool.BeginTransaction())
            {
                root.Total = 7;
                root.Name = "replayed";
                var account = pool.New<Account>();
                account.Balance = 42;
                root.First = account;
                tx.Commit();
            }

            domain.BeforeDrain = null;
        }

        foreach (var image in images)
        {
            using (var reopened = PoolCrashTests.OpenImage(image))
            {
                if (reopened.RecoveredTransactions == 0)
                {
                    continue;
                }
            }

            var rootType = BitConverter.ToUInt32(image, PoolLayout.RootTypeOffset);
            BitConverter.TryWriteBytes(image.AsSpan(PoolLayout.RootTypeOffset), rootType + 1);
            return image;
        }

        throw new InvalidOperationException("no crash image of the transaction had a log to replay");
    }
}
