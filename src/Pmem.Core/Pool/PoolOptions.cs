// PoolCreateOptions, PoolOpenOptions -- what a caller chooses when creating or opening a pool.
using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>Options for creating a pool.</summary>
public sealed record PoolCreateOptions
{
    /// <summary>What the pool's writes survive; see <see cref="DurabilityMode"/>.</summary>
    public DurabilityMode Durability { get; init; } = DurabilityMode.PowerFailure;

    /// <summary>Number of lanes (commits that may run at once).</summary>
    public int LaneCount { get; init; } = PoolLayout.DefaultLaneCount;

    /// <summary>
    /// Bytes of redo log per lane, in slots of at least 4 KiB (at most twelve, at least three; the default: twelve of
    /// 16 KiB). A transaction whose log outgrows its slot writes it into a block of the heap instead.
    /// </summary>
    public int LaneSize { get; init; } = PoolLayout.DefaultLaneSize;

    /// <summary>
    /// Largest size the pool may grow to by itself when full (0 = never grows by itself), at most 2^46 bytes and not
    /// below the pool's size. Recorded
    /// in the pool: later opens grow it up to this limit unless they give their own (<see cref="PoolOpenOptions.MaxSize"/>).
    /// </summary>
    public long MaxSize { get; init; }

    /// <summary>Open the new pool with a write-ahead log (see <see cref="PoolOpenOptions.WriteAheadLog"/>).</summary>
    public bool WriteAheadLog { get; init; }

    /// <summary>
    /// The format the pool starts at: the newest, or (for a compaction's copy of a pool that keeps an older format)
    /// <see cref="PoolLayout.RoomyLanesVersion"/>, whose heap has only the legacy size classes.
    /// </summary>
    internal uint FormatVersion { get; init; } = PoolLayout.FormatVersion;
}
