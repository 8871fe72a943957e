// OlderFormat -- a pool image of the current format rewritten as an older release wrote it, for upgrade tests.
using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Pool;
using Pmem.Tests.Log;

namespace Pmem.Tests.Pool;

/// <summary>
/// Rewrites an image written by this release as one of an older format: the version word with the header checksum
/// that covers it, and, below format 9, each lane's logs moved to where three slots per lane put them (a release of
/// those formats looks for logs nowhere else).
/// </summary>
internal static class OlderFormat
{
    /// <summary>Rewrites <paramref name="image"/> in place as format <paramref name="version"/>; returns it.</summary>
    /// <remarks>
    /// A lane keeps its three newest logs, the most an older release leaves: the image must not need an older one
    /// (true of an image taken after a clean close, where every log is retired).
    /// </remarks>
    public static byte[] AsVersion(byte[] image, uint version)
    {
        var current = BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(PoolLayout.VersionOffset));
        if (current >= PoolLayout.RoomyLanesVersion && version < PoolLayout.RoomyLanesVersion)
        {
            MoveLogsToThreeSlots(image);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(PoolLayout.VersionOffset), version);
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(PoolLayout.HeaderChecksumOffset), PersistentPool.HeaderChecksum(image, PoolLayout.Magic));
        return image;
    }

    private static void MoveLogsToThreeSlots(byte[] image)
    {
        var roomy = ClearedLogs.LanesOf(image);
        var legacy = new LaneSet(PoolLayout.LanesOffset, roomy.Count, roomy.LaneSize, LaneSet.LegacySlotsPerLane);
        for (var lane = 0; lane < roomy.Count; lane++)
        {
            var logs = new List<(ulong Sequence, byte[] Bytes)>();
            for (var slot = 0; slot < roomy.SlotsPerLane; slot++)
            {
                var offset = (int)roomy.SlotOffset(lane, slot);
                var sequence = BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(offset + RedoLog.SequenceOffset));
                var checksum = BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan(offset + RedoLog.ChecksumOffset));
                if (sequence != 0 && checksum != 0)
                {
                    logs.Add((sequence, image.AsSpan(offset, roomy.SlotSize).ToArray()));
                }
            }

            image.AsSpan((int)roomy.OffsetOf(lane), roomy.LaneSize).Clear();
            var kept = logs.OrderByDescending(log => log.Sequence).Take(LaneSet.LegacySlotsPerLane).Reverse().ToList();
            for (var slot = 0; slot < kept.Count; slot++)
            {
                kept[slot].Bytes.CopyTo(image.AsSpan((int)legacy.SlotOffset(lane, slot)));
            }
        }
    }
}
