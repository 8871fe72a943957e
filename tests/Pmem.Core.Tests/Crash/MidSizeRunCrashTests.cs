// MidSizeRunCrashTests -- runs of format 11's mid-size classes carved from garbage, filled, freed and reused, crashed at every drain.
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Blocks of 36 to 128 KiB share runs of two to seven since format 11: strings of 40 KB and a list's storage as it
/// grows past 4,096 longs (52, 87 and 131 KB blocks, then a chunk), over a heap durably full of 0xA5.
/// </summary>
/// <remarks>
/// Invariant, on every image: the heap is sound (consistent, everything reachable from the root), the strings are
/// those of a committed state, and the list holds 0..n-1 for an n some commit left.
/// </remarks>
public sealed class MidSizeRunCrashTests
{
    private const byte Garbage = 0xA5;
    private const int Chars = 20_000; // 40,016 bytes: the six-a-run class
    private const int NumbersPerCommit = 3_000;
    private const int Numbers = 15_000;

    private static readonly long PoolLength = PoolCrashTests.SmallPoolLength + 10 * PoolLayout.ChunkSize;

    private static string Text(int i) => new((char)('A' + i), Chars);

    // Lines after each commit, as the first character of each string.
    private static readonly string[] States = ["", "ABCDEFGH", "ACEGH", "ACEGHKLM"];

    [Fact]
    public void Mid_size_runs_keep_the_heap_sound_and_every_value_committed_at_every_crash()
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            () =>
            {
                var domain = new SimulatedDomain(PoolLength);
                domain.Fill(0, Garbage, PoolLength); // runs, headers and blocks carved from garbage
                pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
                Assert.Equal(PoolLayout.MidSizeRunsVersion, pool.FormatVersion);
                pool.Root<Registry>();
                return domain;
            },
            _ => Workload(pool!),
            PoolCrashTests.OnOwnThread((image, _) => CheckImage(image)),
            new CrashCampaignOptions { ImagesPerPoint = 4 });

        PoolCrashTests.Report(nameof(Mid_size_runs_keep_the_heap_sound_and_every_value_committed_at_every_crash), result);
    }

    private static void Workload(PersistentPool pool)
    {
        var registry = pool.Root<Registry>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 8; i++)
            {
                registry.Lines.Add(Text(i));
            }

            tx.Commit();
        }

        // The list's storage moves through the mid-size classes to a chunk, a commit at a time.
        for (var n = 0; n < Numbers; n += NumbersPerCommit)
        {
            using var tx = pool.BeginTransaction();
            for (var i = n; i < n + NumbersPerCommit; i++)
            {
                registry.Numbers.Add(i);
            }

            tx.Commit();
        }

        using (var tx = pool.BeginTransaction())
        {
            for (var i = 5; i >= 1; i -= 2)
            {
                registry.Lines.RemoveAt(i); // B, D, F: their blocks go back to the heap
            }

            tx.Commit();
        }

        using (var tx = pool.BeginTransaction())
        {
            for (var i = 10; i < 13; i++)
            {
                registry.Lines.Add(Text(i)); // into the freed blocks
            }

            tx.Commit();
        }
    }

    private static void CheckImage(byte[] image)
    {
        using var reopened = PoolCrashTests.OpenImage(image);
        PoolCrashTests.AssertHeapIsSound(reopened);
        var registry = reopened.Root<Registry>();
        var lines = registry.Lines.ToList();
        Assert.All(lines, line => Assert.True(line is { Length: Chars } && line.AsSpan().IndexOfAnyExcept(line![0]) < 0, "a torn string"));
        var state = string.Concat(lines.Select(line => line![0]));
        Assert.Contains(state, States);

        var count = registry.Numbers.Count;
        Assert.Equal(0, count % NumbersPerCommit);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), registry.Numbers);
    }
}
