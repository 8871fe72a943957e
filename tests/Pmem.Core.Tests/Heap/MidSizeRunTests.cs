// MidSizeRunTests -- blocks of 32 to 128 KiB share runs in pools of format 11; older pools keep their classes until compacted.
using Pmem.Heap;
using Pmem.Pool;
using Pmem.Tests.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Heap;

/// <summary>
/// Format 11's mid-size classes: a block of 32 to 128 KiB took a whole 256 KiB chunk before (200 lists of 5,000 longs
/// took 52 MB of heap for 8 MB of data). Pools of older formats never get such a run (their releases would refuse it),
/// and a run of one there is damage; compaction moves them to format 11. Lists grow to capacities that fill their blocks.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class MidSizeRunTests : IDisposable
{
    private const string LayoutName = "midsize";
    private const int Chars = 20_000; // 40,016 bytes: six blocks a run in format 11, a chunk each before
    private const int Strings = 30;
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-midsize");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory, name);

    private static string Text(int i) => new((char)('a' + i % 26), Chars);

    /// <summary>Adds <see cref="Strings"/> mid-size strings; returns the chunk bytes they took.</summary>
    private static long AddStrings(PersistentPool pool, int first = 0)
    {
        var before = UsedChunkBytes(pool);
        using (var tx = pool.BeginTransaction())
        {
            for (var i = first; i < first + Strings; i++)
            {
                pool.Root<Registry>().Lines.Add(Text(i));
            }

            tx.Commit();
        }

        return UsedChunkBytes(pool) - before;
    }

    // Growth adds free chunks: what the heap took is what is not free.
    private static long UsedChunkBytes(PersistentPool pool) => pool.GetStatistics() is var s ? s.HeapSize - s.FreeChunkBytes : 0;

    [Fact]
    public void Mid_size_strings_share_runs_in_a_new_pool_and_come_back_after_a_reopen()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 32 << 20))
        {
            Assert.Equal(PoolLayout.MidSizeRunsVersion, pool.FormatVersion);
            var taken = AddStrings(pool);
            Assert.InRange(taken, 1, 10 * PoolLayout.ChunkSize); // five runs of six, the list's storage and the first small runs; thirty chunks before

            // Half freed, then as many again: the freed blocks are taken again, no new run.
            using (var tx = pool.BeginTransaction())
            {
                var lines = pool.Root<Registry>().Lines;
                for (var i = lines.Count - 1; i >= 0; i -= 2)
                {
                    lines.RemoveAt(i);
                }

                tx.Commit();
            }

            var used = UsedChunkBytes(pool);
            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < Strings / 2; i++)
                {
                    pool.Root<Registry>().Lines.Add(Text(100 + i));
                }

                tx.Commit();
            }

            Assert.Equal(used, UsedChunkBytes(pool));
        }

        using var reopened = PersistentPool.Open(path, LayoutName);
        var expected = Enumerable.Range(0, Strings).Where(i => i % 2 == 0).Select(Text).Concat(Enumerable.Range(100, Strings / 2).Select(Text));
        Assert.Equal(expected, reopened.Root<Registry>().Lines);
        Assert.True(reopened.Check().IsClean);
    }

    [Fact]
    public void A_pool_of_format_9_keeps_its_classes_even_with_a_write_ahead_log_and_compaction_moves_it_to_11()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 32 << 20, OlderFormat.Legacy(new PoolCreateOptions { MaxSize = 64 << 20 })))
        {
            Assert.Equal(PoolLayout.RoomyLanesVersion, pool.FormatVersion);
            Assert.True(AddStrings(pool) >= Strings * PoolLayout.ChunkSize); // a chunk each, as its format has it
        }

        using (var pool = PersistentPool.Open(path, LayoutName, new PoolOpenOptions { WriteAheadLog = true }))
        {
            Assert.Equal(PoolLayout.WriteAheadLogVersion, pool.FormatVersion); // moved for the log, not for the classes
            Assert.True(AddStrings(pool, Strings) >= Strings * PoolLayout.ChunkSize);
        }

        File.Delete(PersistentPool.WriteAheadLogPath(path)); // closed cleanly: every commit is in the pool file
        var result = PoolCompaction.Compact(path, LayoutName);
        Assert.Equal((PoolLayout.WriteAheadLogVersion, PoolLayout.MidSizeRunsVersion), result.FormatVersions);
        using var compacted = PersistentPool.Open(path, LayoutName);
        Assert.Equal(Enumerable.Range(0, 2 * Strings).Select(Text), compacted.Root<Registry>().Lines);
        Assert.InRange(AddStrings(compacted, 2 * Strings), 1, 8 * PoolLayout.ChunkSize); // new blocks share runs now
        Assert.True(compacted.Check().IsClean);
    }

    [Fact]
    public void Compaction_moves_an_older_pool_s_large_strings_and_tables_into_mid_size_runs()
    {
        var path = PoolPath();
        long usedBefore;
        using (var pool = PersistentPool.Create(path, LayoutName, 32 << 20, OlderFormat.Legacy()))
        {
            AddStrings(pool); // 40,016 bytes each: a chunk each in this format
            using (var tx = pool.BeginTransaction())
            {
                for (var key = 0L; key < 2_000; key++)
                {
                    pool.Root<Registry>().Counters[key] = key * 3; // a table of 4,096 entries, 98,304 bytes: a chunk
                }

                tx.Commit();
            }

            usedBefore = UsedChunkBytes(pool);
            Assert.True(usedBefore >= (Strings + 1) * PoolLayout.ChunkSize);
        }

        var result = PoolCompaction.Compact(path, LayoutName);
        Assert.Equal((PoolLayout.RoomyLanesVersion, PoolLayout.MidSizeRunsVersion), result.FormatVersions);
        Assert.True(result.SizeAfter < result.SizeBefore / 2, $"{result.SizeBefore} -> {result.SizeAfter} bytes");
        using var compacted = PersistentPool.Open(path, LayoutName);
        var used = UsedChunkBytes(compacted);
        Assert.True(used <= 10 * PoolLayout.ChunkSize, $"{usedBefore} -> {used} bytes of chunks"); // five runs of six strings, the table's run, small runs
        Assert.Equal(Enumerable.Range(0, Strings).Select(Text), compacted.Root<Registry>().Lines);
        var counters = compacted.Root<Registry>().Counters;
        Assert.Equal(2_000, counters.Count);
        Assert.All(Enumerable.Range(0, 2_000), key => Assert.Equal(key * 3L, counters[key]));
        counters[5_000] = 1; // the table, now in a smaller block, still takes inserts
        Assert.True(compacted.Check().IsClean);
    }

    [Fact]
    public void A_run_of_a_mid_size_class_in_a_pool_of_an_older_format_is_refused_as_damage()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 32 << 20))
        {
            pool.Root<Registry>().Lines.Add(Text(0));
        }

        ThreeSlotLanes.AsVersion(path, PoolLayout.WriteAheadLogVersion); // as if an older release had written that run

        var refused = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, LayoutName));
        Assert.Contains(path, refused.Message);
        Assert.Contains($"size class {SizeClasses.ClassFor(Chars * 2 + 16, SizeClasses.Count)}", refused.Message);
        Assert.Contains($"format has {SizeClasses.LegacyCount} classes", refused.Message);
    }

    [Theory]
    [InlineData(true, 16_376)] // 131,008 bytes: a run's largest block, where doubling would take 131,072 (a whole chunk)
    [InlineData(false, 32_760)] // format 9: a chunk less its header line, where doubling would take two chunks
    public void A_list_grows_to_fill_its_block(bool newFormat, int fitted)
    {
        var options = newFormat ? new PoolCreateOptions() : OlderFormat.Legacy();
        using var pool = PersistentPool.Create(PoolPath(), LayoutName, 32 << 20, options);
        var numbers = pool.Root<Registry>().Numbers;
        var capacities = new List<int>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 40_000; i++)
            {
                numbers.Add(i);
                if (capacities.Count == 0 || capacities[^1] != numbers.Capacity)
                {
                    capacities.Add(numbers.Capacity);
                }
            }

            tx.Commit();
        }

        Assert.All(capacities.Zip(capacities.Skip(1)), pair => Assert.True(pair.Second >= pair.First * 3 / 2, $"{pair.First} -> {pair.Second}"));
        Assert.All(capacities, c => Assert.Equal(c * 8L, ((Pmem.Transactions.ITransactionalPool)pool).Heap.BlockSizeFor(c * 8L))); // every block filled
        Assert.Contains(fitted, capacities);
        Assert.Equal(Enumerable.Range(0, 40_000).Select(i => (long)i), numbers);
        Assert.True(pool.Check().IsClean);
    }
}
