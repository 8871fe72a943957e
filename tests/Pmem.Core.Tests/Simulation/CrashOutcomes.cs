using Pmem.Memory.Simulation;

namespace Pmem.Tests.Simulation;

/// <summary>Collects what a reader sees over many crash images of one domain state.</summary>
internal static class CrashOutcomes
{
    /// <summary>Seeds tried per state: enough that an outcome with probability ≥ 1/8 per image is seen with near certainty.</summary>
    public const int Seeds = 200;

    /// <summary>Every crash image of the domain's current state: both extremes and <see cref="Seeds"/> random ones.</summary>
    public static IEnumerable<byte[]> Images(SimulatedDomain domain)
    {
        yield return domain.CrashNonePersisted();
        yield return domain.CrashAllPersisted();
        for (int seed = 0; seed < Seeds; seed++)
        {
            yield return domain.Crash(seed);
        }
    }

    /// <summary>The random crash images only (seeds 0 to <see cref="Seeds"/> - 1), without the extremes.</summary>
    public static IEnumerable<byte[]> RandomImages(SimulatedDomain domain) =>
        Enumerable.Range(0, Seeds).Select(domain.Crash);

    /// <summary>The distinct values <paramref name="read"/> returns over every image of <see cref="Images"/>, extremes included.</summary>
    public static HashSet<T> ObserveAll<T>(SimulatedDomain domain, Func<byte[], T> read) =>
        Images(domain).Select(read).ToHashSet();

    /// <summary>The distinct values <paramref name="read"/> returns over the random images only (seeds 0 to <see cref="Seeds"/> - 1).</summary>
    public static HashSet<T> Observe<T>(SimulatedDomain domain, Func<byte[], T> read) =>
        RandomImages(domain).Select(read).ToHashSet();

    /// <summary>Reads a little-endian value at <paramref name="offset"/> of an image.</summary>
    public static long Int64At(byte[] image, int offset) => BitConverter.ToInt64(image, offset);
}
