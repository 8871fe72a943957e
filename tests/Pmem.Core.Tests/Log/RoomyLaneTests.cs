// RoomyLaneTests -- format 9's lanes: twelve slots, stale watermarks between a lane's scans, published content drained.
using System.Runtime.CompilerServices;
using Pmem.Log;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Log;

public sealed class RoomyLaneTests
{
    [Fact]
    public void No_cache_line_holds_two_lanes_words_whatever_the_slots_per_lane()
    {
        for (var slots = LaneSet.LegacySlotsPerLane; slots <= LaneSet.MaxSlotsPerLane; slots++)
        {
            var words = new LaneWords(3, slots, new long[3 * slots]);
            for (var lane = 0; lane < 2; lane++)
            {
                var last = WordOffsets(words, lane, slots).Max();
                var next = WordOffsets(words, lane + 1, slots).Min();
                Assert.True(next - last >= 64, $"{slots} slots: lane {lane}'s last word and lane {lane + 1}'s first are {next - last} bytes apart");
            }
        }
    }

    [Fact]
    public void A_new_pool_has_roomy_lanes_and_a_lane_uses_all_twelve_of_its_slots()
    {
        var (domain, pool) = NewPool(persistentMemory: true);
        using (pool)
        {
            Assert.True(pool.FormatVersion >= PoolLayout.RoomyLanesVersion);
            Commit(pool, 13);
            var lanes = ClearedLogs.LanesOf(domain.GetSpan(0, (int)domain.Length).ToArray());
            Assert.Equal(12, lanes.SlotsPerLane);
            Assert.Equal(16 * 1024, lanes.SlotSize);
            Assert.Contains(Enumerable.Range(0, lanes.Count), lane => LaneLogs(domain, lanes, lane).Count == 12);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void On_persistent_memory_a_commit_drains_the_content_it_publishes_instead_of_hashing_it(bool persistentMemory)
    {
        var (domain, pool) = NewPool(persistentMemory);
        using (pool)
        {
            using (var tx = pool.BeginTransaction())
            {
                pool.Root<Account>().Next = pool.New<Account>();
                tx.Commit();
            }

            var lanes = ClearedLogs.LanesOf(domain.GetSpan(0, (int)domain.Length).ToArray());
            var newest = Enumerable.Range(0, lanes.Count).SelectMany(lane => LaneLogs(domain, lanes, lane)).MaxBy(log => log.Sequence)!;
            Assert.Equal(!persistentMemory, HasVerifyEntry(newest.Entries));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Commits_between_a_lanes_scans_carry_its_last_watermarks_only_on_persistent_memory(bool persistentMemory)
    {
        var (domain, pool) = NewPool(persistentMemory);
        using (pool)
        {
            Commit(pool, 24);
            var lanes = ClearedLogs.LanesOf(domain.GetSpan(0, (int)domain.Length).ToArray());
            var logs = Enumerable.Range(0, lanes.Count).Select(lane => LaneLogs(domain, lanes, lane)).MaxBy(logs => logs.Count)!;
            Assert.Equal(12, logs.Count);
            var distinct = logs.Select(log => log.Retired).Distinct().Count();
            if (persistentMemory)
            {
                Assert.InRange(distinct, 2, 3); // a scan every six commits
            }
            else
            {
                Assert.Equal(12, distinct); // a scan at every commit: each log's R covers the commit two before it
            }
        }
    }

    private static (SimulatedDomain Domain, PersistentPool Pool) NewPool(bool persistentMemory)
    {
        var options = new PoolCreateOptions();
        var domain = new SimulatedDomain(
            PoolLayout.MinimumPoolSize(options.LaneCount, options.LaneSize) + 4 * PoolLayout.ChunkSize,
            new SimulationOptions { PersistentMemory = persistentMemory, TrackStores = false });
        var pool = PersistentPool.Create(domain, "roomy", options);
        pool.Root<Account>();
        return (domain, pool);
    }

    private static void Commit(PersistentPool pool, int transactions)
    {
        var account = pool.Root<Account>();
        for (var i = 0; i < transactions; i++)
        {
            using var tx = pool.BeginTransaction();
            account.Balance += 1;
            account.Counter = i;
            tx.Commit();
        }
    }

    private static List<SlotLog> LaneLogs(SimulatedDomain domain, LaneSet lanes, int lane) =>
        [.. Enumerable.Range(0, lanes.SlotsPerLane)
            .Select(slot => RedoLog.TryRead(domain, lanes.SlotOffset(lane, slot), lanes.SlotSize, sealsAllowed: false))
            .OfType<SlotLog>()
            .OrderBy(log => log.Sequence)];

    private static bool HasVerifyEntry(byte[] entries)
    {
        var reader = new RedoReader(entries);
        while (reader.MoveNext(out var error))
        {
            Assert.Null(error);
            if (reader.Operation == RedoOperation.Verify)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Byte offsets, from the first lane's in-flight word, of every word of <paramref name="lane"/>.</summary>
    private static IEnumerable<long> WordOffsets(LaneWords words, int lane, int slots)
    {
        ref var origin = ref words.InFlight(0);
        var offsets = new List<long>
        {
            Unsafe.ByteOffset(ref origin, ref words.InFlight(lane)),
            Unsafe.ByteOffset(ref origin, ref words.Retired(lane)),
            Unsafe.ByteOffset(ref origin, ref words.NextSequence(lane)),
            Unsafe.ByteOffset(ref origin, ref words.KnownRetired(lane)),
            Unsafe.ByteOffset(ref origin, ref words.KnownCommitted(lane)),
            Unsafe.ByteOffset(ref origin, ref words.CommitsBeforeScan(lane)),
        };
        for (var slot = lane * slots; slot < (lane + 1) * slots; slot++)
        {
            offsets.Add(Unsafe.ByteOffset(ref origin, ref words.Pending(slot)));
            offsets.Add(Unsafe.ByteOffset(ref origin, ref words.SlotSequence(slot)));
        }

        return offsets;
    }
}
