// ThreeSlotLanes -- a closed pool's header and lanes rewritten as a format before 9, whose lanes hold three log slots.
using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>
/// Rewrites a closed pool written by this release as a pool of an older format: the version word with the header
/// checksum that covers it, and, below <see cref="PoolLayout.RoomyLanesVersion"/>, each lane's logs moved to where
/// three slots per lane put them (a pool of those formats is read with its logs nowhere else). A compaction of an
/// older pool builds its copy with this release and then gives it back the older format.
/// </summary>
internal static class ThreeSlotLanes
{
    /// <summary>
    /// Rewrites <paramref name="image"/>, the start of a pool file through its lanes at least, as format
    /// <paramref name="version"/>. A lane keeps its three newest logs, the most an older release leaves: the pool must
    /// need no older one (true after a clean close, where every log is retired).
    /// </summary>
    public static void AsVersion(Span<byte> image, uint version)
    {
        var current = BinaryPrimitives.ReadUInt32LittleEndian(image[PoolLayout.VersionOffset..]);
        if (current >= PoolLayout.RoomyLanesVersion && version < PoolLayout.RoomyLanesVersion)
        {
            MoveLogs(image, PoolLayout.LanesOf(image));
        }

        BinaryPrimitives.WriteUInt32LittleEndian(image[PoolLayout.VersionOffset..], version);
        BinaryPrimitives.WriteUInt64LittleEndian(image[PoolLayout.HeaderChecksumOffset..], PersistentPool.HeaderChecksum(image, PoolLayout.Magic));
    }

    /// <summary>
    /// <see cref="AsVersion(Span{byte}, uint)"/> on the closed pool file at <paramref name="path"/>, made durable.
    /// </summary>
    /// <exception cref="IOException">The file cannot be read, written or synced, or another opener holds it.</exception>
    public static void AsVersion(string path, uint version)
    {
        using var file = FileLockHolders.Open(path, FileAccess.ReadWrite, FileShare.None, FileOptions.None)
            ?? throw new IOException($"{path}: the file is locked by another opener");
        var header = new byte[PoolLayout.HeaderSize];
        file.ReadExactly(header);
        var lanes = PoolLayout.LanesOf(header);
        var image = new byte[lanes.OffsetOf(lanes.Count - 1) + lanes.LaneSize];
        file.Position = 0;
        file.ReadExactly(image);
        AsVersion(image, version);
        file.Position = 0;
        file.Write(image);
        file.Flush(flushToDisk: true);
    }

    private static void MoveLogs(Span<byte> image, LaneSet roomy)
    {
        var legacy = new LaneSet(PoolLayout.LanesOffset, roomy.Count, roomy.LaneSize, LaneSet.LegacySlotsPerLane);
        for (var lane = 0; lane < roomy.Count; lane++)
        {
            var logs = new List<(ulong Sequence, byte[] Bytes)>();
            for (var slot = 0; slot < roomy.SlotsPerLane; slot++)
            {
                var offset = (int)roomy.SlotOffset(lane, slot);
                var sequence = BinaryPrimitives.ReadUInt64LittleEndian(image[(offset + RedoLog.SequenceOffset)..]);
                var checksum = BinaryPrimitives.ReadUInt64LittleEndian(image[(offset + RedoLog.ChecksumOffset)..]);
                if (sequence != 0 && checksum != 0)
                {
                    logs.Add((sequence, image.Slice(offset, roomy.SlotSize).ToArray()));
                }
            }

            image.Slice((int)roomy.OffsetOf(lane), roomy.LaneSize).Clear();
            var kept = logs.OrderByDescending(log => log.Sequence).Take(LaneSet.LegacySlotsPerLane).Reverse().ToList();
            for (var slot = 0; slot < kept.Count; slot++)
            {
                kept[slot].Bytes.CopyTo(image[(int)legacy.SlotOffset(lane, slot)..]);
            }
        }
    }
}
