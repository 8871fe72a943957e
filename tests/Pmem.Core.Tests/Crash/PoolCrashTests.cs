using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over the pool layer: the workload runs on a simulated domain, and at every drain the pool is
/// reopened from the durable image plus random subsets of the lines not yet durable (and the all/none extremes).
/// </summary>
/// <remarks>
/// The invariant, checked on every image after recovery: the heap is consistent (every reference and string
/// resolves, nothing overlaps), nothing allocated is unreachable from the root (no leak), every string reads back
/// whole as one of the values the workload wrote, every wide value is one the workload wrote, and the list at the
/// root is well formed with every node consistent with itself.
/// </remarks>
public sealed class PoolCrashTests
{
    internal const string LayoutName = "crash";

    internal static PoolCreateOptions SmallPool => new() { LaneCount = 2, LaneSize = 8192 };

    internal static long SmallPoolLength => PoolLayout.MinimumPoolSize(2, 8192);

    /// <summary>
    /// Crash images per point for a campaign run once per lane shape: all of <paramref name="images"/> for the protocol
    /// new pools use on persistent memory, fewer for the older ones, which earlier campaigns covered alone (a long
    /// campaign multiplies them all).
    /// </summary>
    internal static int ImagesFor(LaneShape shape, int images) => shape switch
    {
        LaneShape.TwelveSlots => images,
        LaneShape.ThreeSlots => images / 2,
        _ => images / 4,
    };

    /// <summary>A small simulated domain and pool with lanes of the given shape (<see cref="LaneShape"/>).</summary>
    internal static (SimulatedDomain Domain, PersistentPool Pool) NewPool(LaneShape shape, int lanes = 2)
    {
        var laneSize = shape == LaneShape.ThreeSlots ? 8192 : 48 * 1024;
        var options = new SimulationOptions { PersistentMemory = shape != LaneShape.TwelveSlotsOnFile };
        var domain = new SimulatedDomain(PoolLayout.MinimumPoolSize(lanes, laneSize), options);
        return (domain, PersistentPool.Create(domain, LayoutName, new PoolCreateOptions { LaneCount = lanes, LaneSize = laneSize }));
    }

    /// <summary>A small simulated pool with an empty <see cref="Ledger"/> root, handed to <paramref name="keep"/>.</summary>
    internal static Func<SimulatedDomain> LedgerSetup(Action<PersistentPool> keep, SimulationOptions? options = null) => () =>
    {
        var domain = new SimulatedDomain(SmallPoolLength, options);
        var pool = PersistentPool.Create(domain, LayoutName, SmallPool);
        pool.Root<Ledger>();
        keep(pool);
        return domain;
    };

    /// <summary>Unlinks the list's second node and frees it, in one transaction.</summary>
    private static void FreeSecondNode(PersistentPool pool, Ledger root)
    {
        using var tx = pool.BeginTransaction();
        var victim = root.First!.Next!;
        root.First.Next = victim.Next;
        pool.Delete(victim);
        tx.Commit();
    }

    internal static PersistentPool OpenImage(byte[] image) =>
        PersistentPool.Open(SimulatedDomain.FromImage(image), LayoutName);

    /// <summary>
    /// Runs a checker on its own thread: crash points fall inside the workload's commits, and the checker's own
    /// transactions (on the reopened pool) must not meet the workload thread's running one.
    /// </summary>
    internal static Action<byte[], CrashPoint> OnOwnThread(Action<byte[], CrashPoint> checker) =>
        (image, point) =>
        {
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                try
                {
                    checker(image, point);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            thread.Start();
            thread.Join();
            if (failure is not null)
            {
                KeepFailedImage(image, point);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            }
        };

    /// <summary>The variable naming a directory where checkers keep the images they failed on (to replay a failure seen once).</summary>
    internal const string FailedImagesVariable = "PMEM_CRASH_FAILED_IMAGES";

    private static void KeepFailedImage(byte[] image, CrashPoint point)
    {
        if (Environment.GetEnvironmentVariable(FailedImagesVariable) is not { Length: > 0 } directory)
        {
            return;
        }

        var test = TestContext.Current.Test?.TestDisplayName ?? "unknown";
        var name = string.Concat(test.Select(c => char.IsLetterOrDigit(c) ? c : '_'));
        Directory.CreateDirectory(directory);
        TestFiles.WriteAllBytes(Path.Combine(directory, $"{name[..Math.Min(name.Length, 120)]}-{point.DrainIndex}-{point.Kind}-{point.Seed}.img"), image);
    }

    internal static void Report(string name, CrashCampaignResult result)
    {
        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: {result}");
        Console.WriteLine($"[crash] {name}: {result.ImagesChecked} crash images checked at {result.CrashPoints} crash points");
        TestSummary.Add(TestSummary.CrashImages, result.ImagesChecked);
        result.ThrowIfFailed();
        Assert.True(result.ImagesChecked >= 22 * 10, $"only {result.ImagesChecked} images were checked");
    }

    internal static void AssertHeapIsSound(PersistentPool pool)
    {
        RootedCheck.AssertAllFromRoot(pool.Check());
    }

    [Fact]
    public void Allocations_frees_strings_and_references_survive_every_crash()
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            LedgerSetup(p => pool = p),
            _ =>
            {
                var root = pool!.Root<Ledger>();
                for (var i = 1; i <= 12; i++)
                {
                    // Allocate, fill and link in one transaction: reachable after commit, absent before.
                    using (var tx = pool.BeginTransaction())
                    {
                        var node = pool.New<Account>();
                        node.Balance = i;
                        node.Owner = $"owner {i}";
                        node.Next = root.First;
                        root.First = node;
                        tx.Commit();
                    }

                    root.Name = $"name {i}";                 // a string replaced outside a transaction
                    root.First!.Amount = i * 1.5m;            // a 16-byte value outside a transaction
                    root.First.Owner = $"owner {i} renamed";  // replace a node's string

                    if (i % 3 == 0)
                    {
                        FreeSecondNode(pool, root);
                    }
                }
            },
            (image, point) =>
            {
                using var reopened = OpenImage(image);
                AssertHeapIsSound(reopened);
                var root = reopened.Root<Ledger>();
                Assert.True(root.Name is null || (root.Name.StartsWith("name ", StringComparison.Ordinal) && int.TryParse(root.Name[5..], out _)), $"torn name '{root.Name}'");
                var seen = new HashSet<long>();
                for (var node = root.First; node is not null; node = node.Next)
                {
                    Assert.True(seen.Add(node.Offset), "the list has a cycle");
                    var i = node.Balance;
                    Assert.InRange(i, 1, 12);
                    Assert.Contains(node.Owner, new[] { $"owner {i}", $"owner {i} renamed" });
                    Assert.Contains(node.Amount, new[] { 0m, i * 1.5m });
                }
            },
            new CrashCampaignOptions { ImagesPerPoint = 60 });

        Report(nameof(Allocations_frees_strings_and_references_survive_every_crash), result);
    }

    /// <summary>
    /// Allocation outside a transaction (a prepared block whose bitmap bit is set with one drain), published by a
    /// reference store, with frees in between so that freed blocks are prepared again. An allocation that was durable
    /// but not yet published is the one leak the API allows (as after a crash right after <c>New</c> returned): at
    /// most one, and it must be a zeroed block of its type — never a reused block's old content.
    /// </summary>
    [Fact]
    public void Allocations_outside_a_transaction_are_whole_or_absent_after_every_crash()
    {
        const int Nodes = 40; // more than two prepared batches, so freed blocks come back through a new batch
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            LedgerSetup(p => pool = p),
            _ =>
            {
                var root = pool!.Root<Ledger>();
                for (var i = 1; i <= Nodes; i++)
                {
                    var node = pool.New<Account>();
                    node.Next = root.First;
                    root.First = node;
                    node.Balance = i;
                    node.Counter = i;
                    if (i % 2 == 0)
                    {
                        FreeSecondNode(pool, root); // its block holds non-zero content and goes back to the run
                    }
                }
            },
            (image, point) =>
            {
                using var reopened = OpenImage(image);
                var report = reopened.CheckFromRoot();
                Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
                Assert.True(report.Unreachable.Count <= 1, $"leaked blocks at {string.Join(", ", report.Unreachable)}");
                var reachable = 0;
                for (var node = reopened.Root<Ledger>().First; node is not null; node = node.Next)
                {
                    reachable++;
                    Assert.True(node.Balance == 0 || node.Counter == 0 || node.Balance == node.Counter, $"node {node.Offset} holds {node.Balance}/{node.Counter}");
                    Assert.InRange(node.Balance, 0, Nodes);
                    Assert.Null(node.Owner);
                }

                Assert.Equal(reachable + report.Unreachable.Count, reopened.GetStatistics().ObjectsPerType.GetValueOrDefault("Tests.Account"));
                foreach (var leaked in report.Unreachable)
                {
                    // Published nowhere yet: the freshly zeroed object New returned, fields untouched.
                    Assert.Equal(0L, reopened.Domain.Read<long>(leaked));
                    Assert.Equal(0L, reopened.Domain.Read<long>(leaked + 8));
                    Assert.Equal(0, reopened.Domain.Read<int>(leaked + 24));
                }
            },
            new CrashCampaignOptions { ImagesPerPoint = 100 });

        Report(nameof(Allocations_outside_a_transaction_are_whole_or_absent_after_every_crash), result);
    }

    /// <summary>
    /// A run whose every block is freed becomes a free chunk again (its header rewritten after the watermark covers the
    /// logs that freed its blocks), and the chunk is reused by another size class.
    /// </summary>
    [Fact]
    public void Returning_an_empty_run_to_the_free_chunks_survives_every_crash()
    {
        const int Large = (32768 - 8) / 2; // fills a 32 KiB block: 7 per run
        const int Medium = (16384 - 8) / 2;
        var length = SmallPoolLength + 6 * PoolLayout.ChunkSize;
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            () =>
            {
                var domain = new SimulatedDomain(length);
                pool = PersistentPool.Create(domain, LayoutName, SmallPool);
                var root = pool.Root<Ledger>();
                for (var i = 0; i < 8; i++)
                {
                    using var tx = pool.BeginTransaction();
                    var account = pool.New<Account>();
                    account.Next = root.First;
                    account.Balance = i;
                    root.First = account;
                    tx.Commit();
                }

                for (var node = root.First; node is not null; node = node.Next)
                {
                    node.Owner = new string((char)('A' + node.Balance), Large); // a full run of 7 and one in a second run
                }

                return domain;
            },
            _ =>
            {
                // Replacing them frees the full run's seven blocks: it becomes a free chunk, then the medium strings' run.
                for (var node = pool!.Root<Ledger>().First; node is not null; node = node.Next)
                {
                    node.Owner = new string((char)('a' + node.Balance), Medium);
                }
            },
            OnOwnThread((image, point) =>
            {
                using var reopened = OpenImage(image);
                AssertHeapIsSound(reopened);
                var count = 0;
                for (var node = reopened.Root<Ledger>().First; node is not null; node = node.Next)
                {
                    count++;
                    var i = (int)node.Balance;
                    Assert.True(node.Owner == new string((char)('A' + i), Large) || node.Owner == new string((char)('a' + i), Medium), $"torn string in node {i}");
                }

                Assert.Equal(8, count);
                reopened.Root<Ledger>().First!.Owner = new string('z', Large); // the heap still allocates
                AssertHeapIsSound(reopened);
            }),
            new CrashCampaignOptions { ImagesPerPoint = 40 });

        Report(nameof(Returning_an_empty_run_to_the_free_chunks_survives_every_crash), result);
    }

    [Fact]
    public void Growing_the_pool_survives_every_crash()
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            LedgerSetup(p => pool = p, new SimulationOptions { Capacity = SmallPoolLength + 8 * PoolLayout.ChunkSize }),
            _ =>
            {
                var root = pool!.Root<Ledger>();
                pool.Grow(pool.Size + 4 * PoolLayout.ChunkSize);
                root.Name = new string('g', 300_000); // a large allocation that needs the new chunks
                root.Name = "small again";            // frees the large one
            },
            (image, point) =>
            {
                using var reopened = OpenImage(image);
                AssertHeapIsSound(reopened);
                var name = reopened.Root<Ledger>().Name;
                Assert.True(name is null or "small again" || name == new string('g', 300_000), "torn large string");
            },
            new CrashCampaignOptions { ImagesPerPoint = 60 });

        Report(nameof(Growing_the_pool_survives_every_crash), result);
    }
}

/// <summary>
/// The lanes a crash campaign's pool has, which decide the commit protocol it exercises (docs/transactions.md).
/// </summary>
public enum LaneShape
{
    /// <summary>Three slots per lane (lanes too small for more): every commit takes fresh watermarks and hashes the content it publishes.</summary>
    ThreeSlots,

    /// <summary>Twelve slots per lane on persistent memory: commits carry a lane's last watermarks and drain published content first.</summary>
    TwelveSlots,

    /// <summary>Twelve slots per lane on a domain that reports itself an ordinary file: fresh watermarks and hashes again.</summary>
    TwelveSlotsOnFile,
}
