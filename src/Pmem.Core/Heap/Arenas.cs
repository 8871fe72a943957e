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
    public readonly RunState?[] Current;

    public ClassState(int arenas) => Current = new RunState?[arenas];

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

/// <summary>
/// The arenas: a thread keeps one for its life, given round-robin, so threads share runs only when there are more
/// threads than arenas. Up to four per processor (at most 32), as jemalloc has, because threads that outnumber the
/// processors still run on every core in turn. A pool gets one per <see cref="ChunksPerArena"/> chunks (never fewer
/// than one per processor, up to 8): every arena keeps a partly used run of each class it allocates, which would use up
/// a small pool.
/// </summary>
internal static class Arenas
{
    public const int ChunksPerArena = 32;

    public static readonly int Max = Math.Clamp(4 * Environment.ProcessorCount, 1, 32);

    private static int s_nextArena;

    [ThreadStatic]
    private static int t_arenaPlusOne;

    /// <summary>How many arenas a heap of <paramref name="chunks"/> chunks has.</summary>
    public static int CountFor(int chunks) => Math.Clamp(chunks / ChunksPerArena, Math.Min(Environment.ProcessorCount, 8), Max);

    /// <summary>The calling thread's arena among <paramref name="count"/>: its own, given round-robin on its first allocation, folded to the count.</summary>
    public static int OfThisThread(int count)
    {
        var plusOne = t_arenaPlusOne;
        if (plusOne == 0)
        {
            plusOne = t_arenaPlusOne = (int)((uint)Interlocked.Increment(ref s_nextArena) % (uint)Max) + 1;
        }

        return (plusOne - 1) % count;
    }
}
