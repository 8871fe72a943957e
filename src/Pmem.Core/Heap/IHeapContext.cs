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

    /// <summary>Grows the pool by at least <paramref name="bytes"/>; false when it may not or cannot.</summary>
    bool Grow(long bytes);

    /// <summary>Whether an allocated block may carry <paramref name="typeIndex"/> (recovery's validation).</summary>
    bool IsKnownType(uint typeIndex);
}
