// HeapLogSpace -- heap blocks for redo logs too large for their lane slot: reserved, never allocated.
using System.Collections.Concurrent;
using Pmem.Log;

namespace Pmem.Heap;

/// <summary>
/// The heap blocks that hold logs too large for their lane slot (<see cref="ILogSpace"/>): reserved, never allocated,
/// so a crash leaves them free once recovery has read the logs.
/// </summary>
internal sealed class HeapLogSpace(PoolHeap heap, Func<long> lastSequence) : ILogSpace
{
    private readonly ConcurrentDictionary<long, BlockReservation> _reserved = new();

    public long Reserve(long bytes)
    {
        var block = heap.Reserve(bytes);
        _reserved[block.Offset] = block;
        return block.Offset;
    }

    public void Release(long offset)
    {
        if (_reserved.TryRemove(offset, out var block))
        {
            // No log mentions the block as a target; the newest sequence is a safe bound for its next preparation.
            heap.Release(block, lastSequence());
        }
    }
}
