// BlockReservation -- a block the allocator handed out (reserved, or found allocated): where it is and its run slot.
namespace Pmem.Heap;

/// <summary>A block reserved by the allocator but not yet durably allocated (its bitmap bit is set at commit).</summary>
internal readonly record struct BlockReservation(long Offset, int SizeClass, int Chunk, int Slot, long Size)
{
    public bool IsLarge => SizeClass < 0;

    /// <summary>Zeroed and stamped with its type index durably (<see cref="PoolHeap.Prepare"/>): only its bit is left to set.</summary>
    public bool Prepared { get; init; }

    /// <summary>The generation the block has (allocated) or gets when published (reserved); see <see cref="BlockGeneration"/>.</summary>
    public ushort Generation { get; init; }
}
