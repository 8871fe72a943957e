// PoolHeap (lookups) -- which allocated block an offset designates, its header, size and type word, read without a lock.
using System.Numerics;
using System.Runtime.CompilerServices;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Heap;

internal sealed partial class PoolHeap
{
    /// <summary>
    /// The start of the run block that holds <paramref name="offset"/> (allocated or not), or -1 when the offset is not
    /// in a run's blocks (a large block, a header, outside the heap).
    /// </summary>
    public long RunBlockStartOf(long offset)
    {
        var chunkIndex = (offset - _heapStart) / ChunkSize;
        if (offset < _heapStart || chunkIndex >= Volatile.Read(ref _chunkCount))
        {
            return -1;
        }

        var head = _heads[(int)chunkIndex];
        if (head.Kind != ChunkKind.Run)
        {
            return -1;
        }

        var geometry = SizeClasses.Geometry[head.SizeClass];
        var blockSize = SizeClasses.Sizes[head.SizeClass];
        var dataStart = ChunkOffset((int)chunkIndex) + geometry.DataOffset;
        var slot = (offset - dataStart) / blockSize;
        return offset < dataStart || slot >= geometry.BlockCount ? -1 : dataStart + slot * blockSize;
    }

    /// <summary>Finds the allocated block that starts at <paramref name="offset"/>.</summary>
    public bool TryGetAllocated(long offset, out BlockReservation block, out uint typeIndex)
    {
        if (!TryFindAllocated(offset, out var chunk, out var slot, out var header))
        {
            (block, typeIndex) = (default, 0);
            return false;
        }

        typeIndex = BlockGeneration.TypeOf(header);
        var head = _heads[chunk];
        block = slot < 0
            ? new BlockReservation(offset, -1, chunk, 0, LargeBlockSize(head.Span)) { Generation = BlockGeneration.Of(header) }
            : new BlockReservation(offset, head.SizeClass, chunk, slot, SizeClasses.Sizes[head.SizeClass]) { Generation = BlockGeneration.Of(header) };
        return true;
    }

    /// <summary>The allocation header (type index and generation: <see cref="BlockGeneration"/>) of the allocated block that starts at <paramref name="offset"/>.</summary>
    public bool TryGetAllocatedHeader(long offset, out uint header) => TryFindAllocated(offset, out _, out _, out header);

    /// <summary>
    /// The size of the allocated block that starts at <paramref name="offset"/> when its type index is
    /// <paramref name="typeIndex"/>, else -1: <see cref="TryGetAllocated"/>'s answer without the reservation it builds,
    /// for the checks every node and reference read makes.
    /// </summary>
    public long AllocatedSizeOf(long offset, uint typeIndex)
    {
        if (!TryFindAllocated(offset, out var chunk, out var slot, out var header) || BlockGeneration.TypeOf(header) != typeIndex)
        {
            return -1;
        }

        var head = _heads[chunk];
        return slot < 0 ? LargeBlockSize(head.Span) : SizeClasses.Sizes[head.SizeClass];
    }

    /// <summary>
    /// Whether an allocated block starts at <paramref name="offset"/>: its chunk, its run slot (-1 for a large block) and
    /// its allocation header (a large block's is never 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryFindAllocated(long offset, out int chunk, out int slot, out uint header)
    {
        (chunk, slot, header) = (0, -1, 0);
        if (offset < _heapStart + ChunkHeader.Size || (offset & (PersistenceDomain.CacheLineSize - 1)) != 0)
        {
            return false;
        }

        var chunkIndex = (offset - _heapStart) / ChunkSize; // a long: a damaged offset may be far past the heap
        if (chunkIndex >= Volatile.Read(ref _chunkCount))
        {
            return false;
        }

        chunk = (int)chunkIndex;
        var head = _heads[chunk];
        var chunkOffset = ChunkOffset(chunk);
        if (head.Kind == ChunkKind.Large && offset == chunkOffset + ChunkHeader.Size)
        {
            header = _domain.Read<uint>(chunkOffset + ChunkHeader.LargeTypeOffset);
            return BlockGeneration.TypeOf(header) != 0;
        }

        if (head.Kind != ChunkKind.Run)
        {
            return false;
        }

        var geometry = SizeClasses.Geometry[head.SizeClass];
        var relative = offset - chunkOffset - geometry.DataOffset; // below the chunk size, in whole lines
        if (relative < 0 || !geometry.TrySlotAt((int)relative, out slot))
        {
            return false;
        }

        if ((_domain.Read<ulong>(chunkOffset + geometry.WordOffset(slot)) & RunGeometry.BitOf(slot)) == 0)
        {
            return false;
        }

        header = _domain.Read<uint>(chunkOffset + geometry.TypeOffset(slot));
        return true;
    }

    /// <summary>Where the type index of an allocated block is stored (a migration changes it in place).</summary>
    public long TypeWordOffset(in BlockReservation block) =>
        block.IsLarge
            ? ChunkOffset(block.Chunk) + ChunkHeader.LargeTypeOffset
            : ChunkOffset(block.Chunk) + SizeClasses.Geometry[block.SizeClass].TypeOffset(block.Slot);
}
