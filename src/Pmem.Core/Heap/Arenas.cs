// Arenas -- per size class, the runs threads allocate from: one current run per arena, threads spread over arenas.
namespace Pmem.Heap;

/// <summary>
/// Runs a class allocates from: one current run per arena (threads are spread over the arenas, so threads on
/// different cores set bits in different runs' bitmap lines instead of sharing one), then the others.
/// </summary>
internal sealed class ClassState
{
    public readonly Lock Lock = new();
    public readonly List<RunState> Available = [];
    public readonly RunState?[] Current = new RunState?[Arenas.Count];

    public RunState? CurrentFor(int chunk)
    {
        foreach (var run in Current)
        {
            if (run is not null && run.Chunk == chunk)
            {
                return run;
            }
        }

        return null;
    }
}

/// <summary>The arenas: one per processor (up to 8), as libpmemobj spreads threads over its arenas.</summary>
internal static class Arenas
{
    public static readonly int Count = Math.Clamp(Environment.ProcessorCount, 1, 8);

    private static int s_nextArena;

    [ThreadStatic]
    private static int t_arenaPlusOne;

    /// <summary>The calling thread's arena, given round-robin on its first allocation.</summary>
    public static int OfThisThread()
    {
        var plusOne = t_arenaPlusOne;
        if (plusOne == 0)
        {
            plusOne = t_arenaPlusOne = (int)((uint)Interlocked.Increment(ref s_nextArena) % (uint)Count) + 1;
        }

        return plusOne - 1;
    }
}
