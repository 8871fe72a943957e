using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over <see cref="PersistentPool.Create(PersistenceDomain, string, PoolCreateOptions?, string?)"/>
/// itself: the workload is the create (the zero-fill, the header and the heap's first chunk header flushed and drained,
/// then the magic stored and drained), so its drains and those of the open that follows are the crash points.
/// </summary>
/// <remarks>
/// Invariant, on every image: the image is refused as "not a pool" (no magic: <see cref="PoolCorruptedException"/>
/// saying so, and nothing else) or it opens as an empty, consistent pool (no root, no allocated block, every chunk
/// free) that then allocates. A header that fails its checksum or a heap that does not walk, under a magic, is a
/// failure: the magic must be published only once everything it vouches for is durable.
/// </remarks>
public sealed class PoolCreateCrashTests
{
    private const byte Garbage = 0xA5;

    private static readonly long PoolLength = PoolCrashTests.SmallPoolLength;

    /// <summary>A domain of zeroes, as a new file's mapping.</summary>
    private static SimulatedDomain ZeroDomain() => new(PoolLength);

    /// <summary>A domain whose every byte is durably <see cref="Garbage"/>: a reused file or device, never zeroed.</summary>
    private static SimulatedDomain GarbageDomain()
    {
        var domain = new SimulatedDomain(PoolLength);
        domain.Fill(0, Garbage, PoolLength); // flushed and drained before the campaign watches
        return domain;
    }

    private static void CheckImage(byte[] image, CrashPoint point, ref int refused, ref int opened)
    {
        PersistentPool pool;
        try
        {
            pool = PoolCrashTests.OpenImage(image);
        }
        catch (PoolCorruptedException e) when (e.Message.Contains("not a pool", StringComparison.Ordinal))
        {
            Assert.False(point.AtEnd, "the image taken after Create returned is not a pool");
            Interlocked.Increment(ref refused);
            return;
        }

        using (pool)
        {
            Interlocked.Increment(ref opened);
            PoolCrashTests.AssertHeapIsSound(pool);
            var statistics = pool.GetStatistics();
            Assert.Equal(0, statistics.ObjectCount);
            Assert.Equal(statistics.HeapSize, statistics.FreeChunkBytes);
            Assert.Equal(0L, pool.Domain.Read<long>(PoolLayout.RootOffsetOffset));
            Assert.Equal(0, pool.RecoveredTransactions);

            // The pool works: a root, an object and a string, all zeroed or as written.
            var root = pool.Root<Ledger>();
            Assert.Null(root.First);
            Assert.Equal(0, root.Total);
            var account = pool.New<Account>();
            Assert.Equal(0, account.Balance);
            Assert.Null(account.Owner);
            root.First = account;
            root.Name = "created";
            Assert.Equal("created", root.Name);
            PoolCrashTests.AssertHeapIsSound(pool);
        }
    }

    private static void RunCampaign(string name, Func<SimulatedDomain> domain, DurabilityMode durability)
    {
        int refused = 0, opened = 0;
        var result = CrashCampaign.Run(
            domain,
            d => PersistentPool.Create(d, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool with { Durability = durability }),
            PoolCrashTests.OnOwnThread((image, point) => CheckImage(image, point, ref refused, ref opened)),
            new CrashCampaignOptions { ImagesPerPoint = 400 });

        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: {refused} images refused as not a pool, {opened} opened empty");
        PoolCrashTests.Report(name, result);
        Assert.True(refused > 0 && opened > 0, $"the campaign saw {refused} refused and {opened} opened images: it never crashed on both sides of the magic");
    }

    [Fact]
    public void A_crash_during_create_on_zeroed_memory_leaves_no_pool_or_an_empty_one()
    {
        RunCampaign(nameof(A_crash_during_create_on_zeroed_memory_leaves_no_pool_or_an_empty_one), ZeroDomain, DurabilityMode.PowerFailure);
    }

    /// <summary>
    /// The same on memory full of garbage: the header, type table and lanes must be zeroed durably before the magic (a
    /// lane of garbage, a type count of garbage), and the heap's chunks beyond the first header are never trusted.
    /// </summary>
    [Fact]
    public void A_crash_during_create_on_garbage_leaves_no_pool_or_an_empty_one()
    {
        RunCampaign(nameof(A_crash_during_create_on_garbage_leaves_no_pool_or_an_empty_one), GarbageDomain, DurabilityMode.PowerFailure);
    }

    [Fact]
    public void A_crash_during_create_of_a_process_crash_pool_on_garbage_leaves_no_pool_or_an_empty_one()
    {
        RunCampaign(nameof(A_crash_during_create_of_a_process_crash_pool_on_garbage_leaves_no_pool_or_an_empty_one), GarbageDomain, DurabilityMode.ProcessCrash);
    }
}
