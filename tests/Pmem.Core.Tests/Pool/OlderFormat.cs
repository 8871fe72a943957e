// OlderFormat -- a pool image of the current format rewritten as an older release wrote it, for upgrade tests.
using Pmem.Tooling;

namespace Pmem.Tests.Pool;

/// <summary>
/// Rewrites an image written by this release as one of an older format (<see cref="ThreeSlotLanes"/>: the version word
/// with the header checksum that covers it, and below format 9 each lane's logs where three slots put them).
/// </summary>
internal static class OlderFormat
{
    /// <summary>Rewrites <paramref name="image"/> in place as format <paramref name="version"/>; returns it.</summary>
    /// <remarks>The image must need no log older than a lane's three newest (true after a clean close).</remarks>
    public static byte[] AsVersion(byte[] image, uint version)
    {
        ThreeSlotLanes.AsVersion(image, version);
        return image;
    }
}
