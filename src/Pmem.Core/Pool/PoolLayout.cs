// PoolLayout -- the pool file format: header offsets, the type table, the lane area and where the heap starts.
using System.Buffers.Binary;
using Pmem.Log;

namespace Pmem.Pool;

/// <summary>
/// The pool file format, version 11 (versions 2 to 10 are read too; those from 5 to 7 move to 8 at a writable open, older
/// ones when the pool first records a schema or an index: version 4 lacks the index directory, version 3 also schema
/// records, version 2 also never seals logs; version 1 had two log slots per lane; before 9 a lane has three slots).
/// All offsets are from the start of the pool; every multi-byte value is little-endian. See
/// <c>docs/pool-format.md</c>.
/// </summary>
/// <remarks>
/// <code>
/// 0        header (4 KiB): immutable part with checksum, then mutable words changed only through a redo log
/// 4096     type table (64 KiB): 256 entries of 256 bytes, each with its own checksum
/// 69632    lanes: LaneCount lanes of LaneSize bytes, each SlotsPerLane redo log slots
/// heap     256 KiB chunks up to the pool size; each chunk group starts with a 64-byte chunk header line
/// </code>
/// </remarks>
internal static class PoolLayout
{
    public const ulong Magic = 0x4C4F4F504D454D50; // "PMEMPOOL"
    /// <summary>
    /// The version new pools get: types carry schema records, indexes live in the index directory, blocks and
    /// references carry generations, process-crash pools seal their logs and clear them once applied, indexes may be
    /// hashed, lanes hold up to twelve log slots, the header may name a write-ahead log, runs may have mid-size classes.
    /// </summary>
    public const uint FormatVersion = MidSizeRunsVersion;

    /// <summary>
    /// The version an older pool moves to in place (with its first schema record or index, or at a writable open): its
    /// lanes keep their three slots, since a log left in them must stay where recovery looks for it.
    /// </summary>
    public const uint UpgradeVersion = 8;

    /// <summary>The first version with schema records (<see cref="SchemaWordsOffset"/>).</summary>
    public const uint SchemaVersion = 4;

    /// <summary>The first version with an index directory (<see cref="IndexDirectoryOffset"/>); older releases must not open a pool with indexes they would not maintain.</summary>
    public const uint IndexVersion = 5;

    /// <summary>
    /// The first version whose allocation headers and references carry block generations (Heap.BlockGeneration);
    /// older releases would read a generation as part of the type index, or of the target's offset.
    /// </summary>
    public const uint GenerationsVersion = 6;

    /// <summary>
    /// The first version whose process-crash pools clear each log once it is applied and number commits per lane
    /// (CommitPipeline): a whole log there is a commit still in flight. Older releases would take the cleared logs'
    /// absence for damage, and the per-lane numbers are not one commit order.
    /// </summary>
    public const uint ClearedLogsVersion = 7;

    /// <summary>
    /// The first version whose index directory may hold hashed indexes (IndexDirectory.HashFlag); a pool moves to it
    /// with its first hashed index, so older releases, which would take the flag for damage, refuse it by its version.
    /// </summary>
    public const uint HashedIndexVersion = 8;

    /// <summary>
    /// The first version whose lanes hold more than three log slots (<see cref="SlotsPerLane"/>): a commit then reads
    /// the other lanes' words only every few commits. Older releases would look for logs in the wrong places.
    /// </summary>
    public const uint RoomyLanesVersion = 9;

    /// <summary>
    /// The version a pool moves to when it is first opened with a write-ahead log (PoolOpenOptions.WriteAheadLog): its
    /// header may then name an active log (<see cref="WriteAheadLifeOffset"/>) holding commits the file lacks, which
    /// older releases would not replay. Otherwise the same as version 9.
    /// </summary>
    public const uint WriteAheadLogVersion = 10;

    /// <summary>
    /// The first version whose runs may have the mid-size classes (Heap.SizeClasses: blocks of 36.5 to 127.9 KiB, which
    /// took whole chunks before); older releases would refuse such a run as damage. All a version 10 is besides; new
    /// pools start here, and older ones move to it when compacted (never in place: a run of a new class would lock an
    /// older release out of a pool it opened the day before).
    /// </summary>
    public const uint MidSizeRunsVersion = 11;

    /// <summary>The newest version this release reads.</summary>
    public const uint NewestReadableVersion = MidSizeRunsVersion;

    /// <summary>
    /// Log slots per lane of a pool of format <paramref name="version"/> with lanes of <paramref name="laneSize"/>
    /// bytes: three before <see cref="RoomyLanesVersion"/>, then as many slots of at least 4 KiB as fit, at least three
    /// and at most <see cref="LaneSet.MaxSlotsPerLane"/> (the default lane: twelve of 16 KiB).
    /// </summary>
    public static int SlotsPerLane(uint version, int laneSize) => version < RoomyLanesVersion
        ? LaneSet.LegacySlotsPerLane
        : Math.Clamp(laneSize / (4 * 1024), LaneSet.LegacySlotsPerLane, LaneSet.MaxSlotsPerLane);

    /// <summary>The lanes of the pool whose header (first <see cref="HeaderSize"/> bytes, or more) is <paramref name="header"/>.</summary>
    public static LaneSet LanesOf(ReadOnlySpan<byte> header)
    {
        var laneSize = BinaryPrimitives.ReadInt32LittleEndian(header[LaneSizeOffset..]);
        var version = BinaryPrimitives.ReadUInt32LittleEndian(header[VersionOffset..]);
        return new LaneSet(LanesOffset, BinaryPrimitives.ReadInt32LittleEndian(header[LaneCountOffset..]), laneSize, SlotsPerLane(version, laneSize));
    }

    /// <summary>The oldest version this release opens (and keeps: a version-2 pool never gets a sealed log).</summary>
    public const uint OldestReadableVersion = 2;

    /// <summary>The first version whose process-crash pools seal their logs instead of checksumming them.</summary>
    public const uint SealedLogsVersion = 3;

    // Immutable header part (checksummed).
    public const int MagicOffset = 0;
    public const int VersionOffset = 8;
    public const int HeaderSizeOffset = 12;
    public const int UuidOffset = 16;
    public const int CreatedOffset = 32;
    public const int DurabilityOffset = 40;
    public const int LaneCountOffset = 44;
    public const int LaneSizeOffset = 48;
    public const int HeapOffsetOffset = 56;
    public const int LayoutNameOffset = 64;
    public const int LayoutNameCapacity = 256;
    public const int ChecksummedBytes = LayoutNameOffset + LayoutNameCapacity; // 320
    public const int HeaderChecksumOffset = ChecksummedBytes;

    // Mutable words (each an aligned 8-byte value, changed through the redo log).
    public const int PoolSizeOffset = 512;
    public const int RootOffsetOffset = 520;
    public const int RootTypeOffset = 528;
    public const int TypeCountOffset = 536;
    public const int RetiredThroughOffset = 544;

    /// <summary>A migration in progress: the old type index (low 32 bits) and the new one (high 32 bits), or 0.</summary>
    public const int MigrationTypesOffset = 552;

    /// <summary>The migration's phase (see <see cref="MigrationPhases"/>).</summary>
    public const int MigrationPhaseOffset = 560;

    /// <summary>The migration's durable cursor: the offset of the last object its current phase finished.</summary>
    public const int MigrationCursorOffset = 568;

    /// <summary>The offset of the index directory block (<see cref="IndexDirectory"/>), or 0 while the pool has no index.</summary>
    public const int IndexDirectoryOffset = 576;

    /// <summary>
    /// While a write-ahead log is active: the id of its current life (its records carry it), else 0. Written only by
    /// a checkpoint or at open and close, when every commit's apply is durable; never through a log.
    /// </summary>
    public const int WriteAheadLifeOffset = 584;

    /// <summary>Where in the write-ahead log the records after the last checkpoint start (an LSN; see WriteAheadFile).</summary>
    public const int WriteAheadStartOffset = 592;

    /// <summary>
    /// The largest size the pool may grow to by itself, as its creation set it (<see cref="PoolCreateOptions.MaxSize"/>;
    /// 0: none, as in every pool made before the word existed). Written once, at creation; read before the file is
    /// mapped, to reserve room for the growth.
    /// </summary>
    public const int GrowthLimitOffset = 600;

    /// <summary>The largest growth limit a pool records: offsets stay below 2^47 bytes.</summary>
    public const long MaxGrowthLimit = 1L << 46;

    /// <summary>
    /// One word per type table entry (index <c>i - FirstUserTypeIndex</c>): the offset of the entry's schema record
    /// (0: none, a version-3 entry), and <see cref="SchemaRetiredBit"/> once a migration replaced the entry.
    /// </summary>
    public const int SchemaWordsOffset = 1024;

    /// <summary>The bit of a schema word that marks its entry retired: its objects were migrated to a newer entry.</summary>
    public const ulong SchemaRetiredBit = 1UL << 63;

    public const int HeaderSize = 4096;

    /// <summary>
    /// The immutable header words a log may change: the version and the checksum, together, when a pool of an older
    /// format records its first schema (every other log entry targets the mutable words or beyond).
    /// </summary>
    public static ReadOnlySpan<(long Offset, int Length)> UpgradeWords => new[] { ((long)VersionOffset, 4), ((long)HeaderChecksumOffset, 8) };

    /// <summary>The schema word of type table entry <paramref name="entry"/>.</summary>
    public static long SchemaWordOffset(int entry) => SchemaWordsOffset + (long)entry * 8;

    public const int TypeTableOffset = HeaderSize;
    public const int TypeEntrySize = 256;
    public const int TypeTableCapacity = 256;
    public const int TypeTableSize = TypeEntrySize * TypeTableCapacity;

    public const int LanesOffset = TypeTableOffset + TypeTableSize;
    public const int DefaultLaneCount = 8;
    public const int DefaultLaneSize = 192 * 1024; // twelve 16 KiB log slots (three of 64 KiB before format 9)

    /// <summary>Bytes of a heap chunk (defined by the heap).</summary>
    public const int ChunkSize = Heap.PoolHeap.ChunkSize;

    /// <summary>Bytes of a chunk's header (defined by the heap).</summary>
    public const int ChunkHeaderSize = Heap.ChunkHeader.Size;

    /// <summary>Smallest pool: the fixed areas plus room for a few chunks.</summary>
    public static long MinimumPoolSize(int laneCount, int laneSize) =>
        HeapStart(laneCount, laneSize) + 4L * ChunkSize;

    /// <summary>First byte of the heap for a lane configuration (chunk-aligned relative to the file for huge pages).</summary>
    public static long HeapStart(int laneCount, int laneSize)
    {
        long end = LanesOffset + (long)laneCount * laneSize;
        return (end + 4095) & ~4095L;
    }
}
