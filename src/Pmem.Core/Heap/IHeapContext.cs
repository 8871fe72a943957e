// IHeapContext -- what the heap needs of the layers around it, as one context (libpmemobj's struct palloc_heap).
namespace Pmem.Heap;

/// <summary>
/// The heap's dependencies, handed to it once (the pool implements this) instead of callbacks threaded through every
/// call: retiring logs before the heap writes outside them, growing the pool, and knowing which type indexes exist.
/// </summary>
internal interface IHeapContext
{
    /// <summary>
    /// Before chunks get new contents outside the log: retires every applied log, so none is replayed over them.
    /// </summary>
    void RetireBeforeReuse();

    /// <summary>
    /// Makes the retirement watermark durably cover every commit up to <paramref name="sequence"/> (before an emptied
    /// run becomes a free chunk, or a freed block is written outside the log).
    /// </summary>
    void RetireThrough(long sequence);

    /// <summary>The retirement watermark known durable: a block freed at or below it needs no <see cref="RetireThrough"/>.</summary>
    long RetiredDurable { get; }

    /// <summary>Grows the pool by at least <paramref name="bytes"/>; false when it may not or cannot.</summary>
    bool Grow(long bytes);

    /// <summary>The type indexes an allocated block may carry (recovery's validation of every block).</summary>
    KnownTypeIndexes KnownTypes { get; }
}

/// <summary>
/// The type indexes a pool knows: built-in ones below <paramref name="FirstUser"/> (bit i of
/// <paramref name="BuiltIns"/>), then <paramref name="UserCount"/> user types from <paramref name="FirstUser"/> on.
/// A value, so that a scan over a million blocks checks each with a few instructions and no call.
/// </summary>
internal readonly record struct KnownTypeIndexes(ulong BuiltIns, uint FirstUser, uint UserCount)
{
    /// <summary>Whether <paramref name="typeIndex"/> is one of them.</summary>
    public bool Contains(uint typeIndex) =>
        typeIndex < FirstUser ? ((BuiltIns >> (int)typeIndex) & 1) != 0 : typeIndex - FirstUser < UserCount;
}
