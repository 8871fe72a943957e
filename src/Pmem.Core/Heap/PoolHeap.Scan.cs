// PoolHeap (scan) -- walking allocated blocks without a lock: one type index run by run, all of them, or their count.
using System.Buffers.Binary;
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
    /// Advances <paramref name="scan"/> and writes into <paramref name="into"/> the references (offset and generation,
    /// <see cref="BlockGeneration.Reference"/>) of the next allocated blocks
    /// stamped <paramref name="typeIndex"/> whose blocks hold at least <paramref name="minBlockSize"/> bytes (an object
    /// never lives in a smaller class, so runs of smaller classes are skipped whole); returns how many, 0 at the heap's
    /// end. Reads the bitmaps and type indexes as they are now, without the heap lock; a batch per call (up to a bitmap
    /// word's matches: <paramref name="into"/> holds at least 64) keeps the per-block cost to a bit scan and a compare.
    /// </summary>
    /// <remarks>
    /// Safe beside other threads' allocations and frees: a block's type index is stored before its bit is set (prepared
    /// blocks are drained first; <see cref="LogAllocate"/> orders the type entry before the bit), and a run's chunk
    /// header is compared again before each bitmap word is trusted. A block allocated or freed during the scan may or
    /// may not be found; every block allocated throughout is found exactly once (offsets only grow).
    /// </remarks>
    public int NextOfType(ref TypeScan scan, uint typeIndex, long minBlockSize, Span<long> into)
    {
        while (true)
        {
            if (scan.Bits != 0)
            {
                // One bitmap word: its set bits in order, each block's type index read from the run's index array.
                var head = scan.Head;
                var geometry = SizeClasses.Geometry[head.SizeClass];
                var chunkOffset = ChunkOffset(scan.Chunk);
                var types = _domain.GetSpan(chunkOffset + geometry.TypesOffset, geometry.BlockCount * sizeof(uint));
                var first = chunkOffset + geometry.DataOffset;
                var blockSize = (long)SizeClasses.Sizes[head.SizeClass];
                var wordBase = scan.Word * RunGeometry.BitsPerWord;
                var bits = scan.Bits;
                scan.Bits = 0;
                var found = 0;
                while (bits != 0)
                {
                    var slot = wordBase + BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    if (slot < geometry.BlockCount && BinaryPrimitives.ReadUInt32LittleEndian(types[(slot * sizeof(uint))..]) is var header && BlockGeneration.TypeOf(header) == typeIndex)
                    {
                        into[found++] = BlockGeneration.Reference(first + slot * blockSize, BlockGeneration.Of(header));
                    }
                }

                if (found > 0)
                {
                    return found;
                }
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
                return 0;
            }

            scan.Chunk = next;
            scan.Head = heads[next];
            scan.Word = 0;
            scan.Bits = 0;
            if (scan.Head.Kind == ChunkKind.Large)
            {
                var size = LargeBlockSize(scan.Head.Span);
                if (size >= minBlockSize && _domain.Read<uint>(ChunkOffset(next) + ChunkHeader.LargeTypeOffset) is var header && BlockGeneration.TypeOf(header) == typeIndex)
                {
                    into[0] = BlockGeneration.Reference(ChunkOffset(next) + ChunkHeader.Size, BlockGeneration.Of(header));
                    return 1;
                }
            }
            else if (scan.Head.Kind == ChunkKind.Run && scan.Head.SizeClass < ClassCount)
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

    /// <summary>How many blocks are allocated (their bits counted; no allocation header is read).</summary>
    public int CountAllocated()
    {
        long count = 0;
        for (var i = 0; i < _chunkCount; i += Math.Max(1, _heads[i].Span))
        {
            var head = _heads[i];
            if (head.Kind == ChunkKind.Large)
            {
                count += BlockGeneration.TypeOf(_domain.Read<uint>(ChunkOffset(i) + ChunkHeader.LargeTypeOffset)) != 0 ? 1 : 0;
            }
            else if (head.Kind == ChunkKind.Run)
            {
                var geometry = SizeClasses.Geometry[head.SizeClass];
                for (var w = 0; w < geometry.BitmapWords; w++)
                {
                    count += BitOperations.PopCount(_domain.Read<ulong>(ChunkOffset(i) + geometry.WordOffsetAt(w)));
                }
            }
        }

        return (int)Math.Min(count, Array.MaxLength);
    }

    /// <summary>
    /// Visits the bytes of every free chunk group after its header line, as (offset, length): content nothing reads,
    /// which a copy of the pool may leave as zeroes.
    /// </summary>
    public void ForEachFreeBody(Action<long, long> visit)
    {
        for (var i = 0; i < _chunkCount; i += Math.Max(1, _heads[i].Span))
        {
            if (_heads[i].Kind == ChunkKind.Free)
            {
                visit(ChunkOffset(i) + ChunkHeader.Size, (long)Math.Max(1, _heads[i].Span) * ChunkSize - ChunkHeader.Size);
            }
        }
    }

    /// <summary>Visits every durably allocated block (for checks and statistics).</summary>
    public void ForEachAllocated(Action<BlockReservation, uint> visit)
    {
        var i = 0;
        while (i < _chunkCount)
        {
            var head = _heads[i];
            var chunkOffset = ChunkOffset(i);
            if (head.Kind == ChunkKind.Large)
            {
                var header = _domain.Read<uint>(chunkOffset + ChunkHeader.LargeTypeOffset);
                if (BlockGeneration.TypeOf(header) != 0)
                {
                    visit(new BlockReservation(chunkOffset + ChunkHeader.Size, -1, i, 0, LargeBlockSize(head.Span)) { Generation = BlockGeneration.Of(header) }, BlockGeneration.TypeOf(header));
                }
            }
            else if (head.Kind == ChunkKind.Run)
            {
                var geometry = SizeClasses.Geometry[head.SizeClass];
                for (var w = 0; w < geometry.BitmapWords; w++)
                {
                    var word = _domain.Read<ulong>(chunkOffset + geometry.WordOffsetAt(w));
                    while (word != 0)
                    {
                        var slot = w * RunGeometry.BitsPerWord + BitOperations.TrailingZeroCount(word);
                        word &= word - 1;
                        var header = _domain.Read<uint>(chunkOffset + geometry.TypeOffset(slot));
                        visit(new BlockReservation(BlockOffset(i, head.SizeClass, slot), head.SizeClass, i, slot, SizeClasses.Sizes[head.SizeClass]) { Generation = BlockGeneration.Of(header) }, BlockGeneration.TypeOf(header));
                    }
                }
            }

            i += Math.Max(1, head.Span);
        }
    }
}
