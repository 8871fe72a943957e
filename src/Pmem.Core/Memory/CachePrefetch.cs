// CachePrefetch -- a hint that a domain's bytes will be read soon (PREFETCHT0), so that independent cache misses overlap.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Pmem.Memory;

/// <summary>
/// Asks the CPU to start loading cache lines of a domain before they are read: a tree descent that knows the next
/// node, or every key a binary search may compare, waits for one miss at a time otherwise (an index lookup among 1 M
/// strings, bench/Pmem.Benchmarks' PoolIndexLookupBenchmarks: about a fifth less time with the node's lines and its keys'
/// strings prefetched). A hint only: it never faults, changes nothing, and does nothing off x86 or for a range outside
/// the domain.
/// </summary>
internal static unsafe class CachePrefetch
{
    /// <summary>Hints that the lines of <paramref name="length"/> bytes at <paramref name="offset"/> will be read soon.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Lines(PersistenceDomain domain, long offset, int length)
    {
        if (!Sse.IsSupported || length <= 0 || offset < 0 || offset > domain.Length - length)
        {
            return;
        }

        var line = (domain.BaseAddress + offset) - ((nint)(domain.BaseAddress + offset) & (PersistenceDomain.CacheLineSize - 1));
        for (var end = domain.BaseAddress + offset + length; line < end; line += PersistenceDomain.CacheLineSize)
        {
            Sse.Prefetch0(line);
        }
    }
}
