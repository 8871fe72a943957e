// PoolHeap (scan) -- walking the allocated blocks of one type index run by run, without a lock or an allocation per block.
using System.Numerics;
using Pmem.Memory;

namespace Pmem.Heap;

/// <summary>
/// Where a scan of one type's blocks stands (<see cref="PoolHeap.NextOfType"/>): the chunk, the bitmap word, the bits of
/// that word not yet visited. A value type the caller keeps, so a scan allocates nothing.
/// </summary>
internal struct TypeScan
{
    internal int Chunk;
    internal ChunkHeader Head;
    internal int Word;
    internal ulong Bits;
    internal bool Started;
}

internal sealed partial class PoolHeap
{
    /// <summary>
    /// Advances <paramref name="scan"/> to the next allocated block stamped <paramref name="typeIndex"/> whose block holds
    /// at least <paramref name="minBlockSize"/> bytes (an object never lives in a smaller class, so runs of smaller
    /// classes are skipped whole). Reads the bitmaps and type indexes as they are now, without the heap lock.
    /// </summary>
    /// <remarks>
    /// Safe beside other threads' allocations and frees: a block's type index is stored before its bit is set (prepared
    /// blocks are drained first; <see cref="LogAllocate"/> orders the type entry before the bit), and a run's chunk
    /// header is compared again before each bitmap word is trusted. A block allocated or freed during the scan may or
    /// may not be found; every block allocated throughout is found exactly once (offsets only grow).
    /// </remarks>
    public bool NextOfType(ref TypeScan scan, uint typeIndex, long minBlockSize, out long offset)
    {
        while (true)
        {
            if (scan.Bits != 0)
            {
                var head = scan.Head;
                var geometry = SizeClasses.Geometry[head.SizeClass];
                var chunkOffset = ChunkOffset(scan.Chunk);
                do
                {
                    var slot = scan.Word * RunGeometry.BitsPerWord + BitOperations.TrailingZeroCount(scan.Bits);
                    scan.Bits &= scan.Bits - 1;
                    if (_domain.Read<uint>(chunkOffset + geometry.TypeOffset(slot)) == typeIndex)
                    {
                        offset = chunkOffset + geometry.DataOffset + (long)slot * SizeClasses.Sizes[head.SizeClass];
                        return true;
                    }
                }
                while (scan.Bits != 0);
            }

            if (scan.Started && scan.Head.Kind == ChunkKind.Run && scan.Word + 1 < SizeClasses.Geometry[scan.Head.SizeClass].BitmapWords)
            {
                scan.Word++;
                LoadWord(ref scan);
                continue;
            }

            // The next chunk group.
            var next = scan.Started ? scan.Chunk + Math.Max(1, scan.Head.Span) : 0;
            scan.Started = true;
            var heads = Volatile.Read(ref _heads);
            if (next >= Math.Min(Volatile.Read(ref _chunkCount), heads.Length))
            {
                scan.Chunk = next;
                scan.Head = default;
                offset = 0;
                return false;
            }

            scan.Chunk = next;
            scan.Head = heads[next];
            scan.Word = 0;
            scan.Bits = 0;
            if (scan.Head.Kind == ChunkKind.Large)
            {
                var size = (long)scan.Head.Span * ChunkSize - ChunkHeader.Size;
                if (size >= minBlockSize && _domain.Read<uint>(ChunkOffset(next) + ChunkHeader.LargeTypeOffset) == typeIndex)
                {
                    offset = ChunkOffset(next) + ChunkHeader.Size;
                    return true;
                }
            }
            else if (scan.Head.Kind == ChunkKind.Run && scan.Head.SizeClass < SizeClasses.Count)
            {
                if (SizeClasses.Sizes[scan.Head.SizeClass] >= minBlockSize)
                {
                    LoadWord(ref scan);
                }
                else
                {
                    scan.Head = scan.Head with { Kind = ChunkKind.Free }; // skip the whole run
                }
            }
        }
    }

    /// <summary>Loads the scan's bitmap word, or none when the chunk is no longer the run the scan started in.</summary>
    private void LoadWord(ref TypeScan scan)
    {
        var heads = Volatile.Read(ref _heads);
        if (scan.Chunk >= heads.Length || heads[scan.Chunk] != scan.Head)
        {
            // The run was returned (all its blocks freed) or carved anew: nothing of it was allocated throughout.
            scan.Head = scan.Head with { Kind = ChunkKind.Free };
            scan.Bits = 0;
            return;
        }

        var geometry = SizeClasses.Geometry[scan.Head.SizeClass];
        scan.Bits = Volatile.Read(ref _domain.GetRef<ulong>(ChunkOffset(scan.Chunk) + geometry.WordOffsetAt(scan.Word)));
    }
}
