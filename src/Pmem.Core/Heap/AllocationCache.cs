// AllocationCache -- one thread's prepared blocks for one pool, per type index, taken without a lock or a log.
namespace Pmem.Heap;

/// <summary>
/// One thread's prepared blocks for one pool, per type index: reserved from the heap a batch at a time (one lock),
/// zeroed and stamped with their type index, and drained once per batch. Allocating outside a transaction then only
/// sets the block's bitmap bit: one flushed line and one drain, no lock, no log (see <c>docs/transactions.md</c>).
/// </summary>
/// <remarks>
/// The blocks are reserved in volatile state only: their bits are clear, so a crash frees them. A cache whose thread
/// ends returns its blocks to the heap from its finalizer; a thread that moves to another pool returns them at once.
/// </remarks>
internal sealed class AllocationCache
{
    /// <summary>Most blocks prepared per batch (32 blocks of 64 bytes: two lines of type indexes, 2 KiB zeroed).</summary>
    public const int MaxBatch = 32;

    private readonly PoolHeap _heap;
    private readonly BlockReservation[]?[] _blocks;
    private readonly int[] _counts; // per type index: the pool's whole range of indexes

    public AllocationCache(PoolHeap heap, int typeIndexCount)
    {
        _heap = heap;
        _blocks = new BlockReservation[]?[typeIndexCount];
        _counts = new int[typeIndexCount];
    }

    // The finalizer changes only volatile state (the pool may be closing): an emptied run stays a run until reused.
    ~AllocationCache() => ReturnAll(0, mayReturnRuns: false);

    public PoolHeap Heap => _heap;

    /// <summary>Blocks to prepare at once for blocks of <paramref name="blockSize"/> bytes: 2 KiB worth, 2 to 32.</summary>
    public static int BatchFor(int blockSize) => Math.Clamp(2048 / blockSize, 2, MaxBatch);

    /// <summary>True when any type's cache holds a block.</summary>
    public bool HoldsBlocks => _counts.AsSpan().ContainsAnyExcept(0);

    public bool TryTake(uint typeIndex, out BlockReservation block)
    {
        ref var count = ref _counts[typeIndex];
        if (count == 0)
        {
            block = default;
            return false;
        }

        block = _blocks[typeIndex]![--count];
        return true;
    }

    /// <summary>Adds prepared blocks (the cache for <paramref name="typeIndex"/> is empty).</summary>
    public void Add(uint typeIndex, ReadOnlySpan<BlockReservation> blocks)
    {
        var store = _blocks[typeIndex] ??= new BlockReservation[MaxBatch];
        blocks.CopyTo(store);
        _counts[typeIndex] = blocks.Length;
    }

    /// <summary>Gives every cached block back to the heap's free lists.</summary>
    public void ReturnAll(long freedThrough, bool mayReturnRuns = true)
    {
        for (var type = 0; type < _counts.Length; type++)
        {
            for (var i = 0; i < _counts[type]; i++)
            {
                _heap.Release(_blocks[type]![i], freedThrough, mayReturnRuns);
            }

            _counts[type] = 0;
        }
    }
}
