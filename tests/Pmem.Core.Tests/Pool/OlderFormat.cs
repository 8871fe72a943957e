// OlderFormat -- a pool image of the current format rewritten as an older release wrote it, for upgrade tests.
using System.Buffers.Binary;
using Pmem.Heap;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Pool;

/// <summary>
/// Rewrites an image written by this release as one of an older format (<see cref="ThreeSlotLanes"/>: the version word
/// with the header checksum that covers it, and below format 9 each lane's logs where three slots put them).
/// </summary>
internal static class OlderFormat
{
    /// <summary>
    /// Creation options for a pool to be rewritten as an older format: its heap must keep to the classes that format
    /// has (<see cref="AsVersion"/> refuses a run of another).
    /// </summary>
    public static PoolCreateOptions Legacy(PoolCreateOptions? options = null) =>
        (options ?? new PoolCreateOptions()) with { FormatVersion = PoolLayout.RoomyLanesVersion };

    /// <summary>Rewrites <paramref name="image"/> in place as format <paramref name="version"/>; returns it.</summary>
    /// <remarks>The image must need no log older than a lane's three newest (true after a clean close).</remarks>
    public static byte[] AsVersion(byte[] image, uint version)
    {
        if (version < PoolLayout.MidSizeRunsVersion)
        {
            AssertOnlyLegacyRuns(image, version);
        }

        ThreeSlotLanes.AsVersion(image, version);
        return image;
    }

    // An older release never wrote a run of a mid-size class: a fixture that has one is no pool of that format.
    private static void AssertOnlyLegacyRuns(byte[] image, uint version)
    {
        var offset = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(PoolLayout.HeapOffsetOffset));
        var end = BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan(PoolLayout.PoolSizeOffset));
        while (offset < end)
        {
            Assert.True(ChunkHeader.TryDecode(BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan((int)offset)), out var head), $"no chunk header at {offset}");
            Assert.False(head.Kind == ChunkKind.Run && head.SizeClass >= SizeClasses.LegacyCount, $"the run at {offset} has mid-size class {head.SizeClass}, which format {version} lacks: create the fixture with OlderFormat.Legacy()");
            offset += (long)head.Span * PoolLayout.ChunkSize;
        }
    }
}
