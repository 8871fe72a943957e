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

    /// <summary>The distinct values <paramref name="read"/> returns over <see cref="Images"/>.</summary>
    public static HashSet<T> Observe<T>(SimulatedDomain domain, Func<byte[], T> read) =>
        Images(domain).Select(read).ToHashSet();

    /// <summary>Reads a little-endian value at <paramref name="offset"/> of an image.</summary>
    public static long Int64At(byte[] image, int offset) => BitConverter.ToInt64(image, offset);
}
