// PoolHeap (recovery) -- validating the heap at open, before and after the logs are replayed, and finishing it.
using System.Numerics;
using Pmem.Pool;

namespace Pmem.Heap;

internal sealed partial class PoolHeap
{
    /// <summary>Walks the chunk headers, validates them and rebuilds the volatile indexes, writing nothing.</summary>
    /// <exception cref="PoolCorruptedException">A chunk header or run is invalid.</exception>
    public void Load()
    {
        var i = 0;
        var reservedLarge = new List<int>();
        while (i < _chunkCount)
        {
            var chunkOffset = ChunkOffset(i);
            if (!ChunkHeader.TryDecode(_domain.Read<ulong>(chunkOffset), out var header))
            {
                throw Corrupt($"the chunk header at offset {chunkOffset} (chunk {i}) is invalid");
            }

            var (kind, sizeClass, span) = (header.Kind, (int)header.SizeClass, header.Span);

            if (span < 1 || span > _chunkCount - i)
            {
                throw Corrupt($"the chunk header at offset {chunkOffset} spans {span} chunks, past the heap's {_chunkCount}");
            }

            switch (kind)
            {
                case ChunkKind.Run:
                    if (span != 1 || sizeClass >= ClassCount)
                    {
                        throw Corrupt($"the run at offset {chunkOffset} has span {span} and size class {sizeClass} (this pool's format has {ClassCount} classes)");
                    }

                    ValidateRun(i, sizeClass);
                    _classes[sizeClass].Available.Add(new RunState(i));
                    break;
                case ChunkKind.Large:
                    var type = BlockGeneration.TypeOf(_domain.Read<uint>(chunkOffset + ChunkHeader.LargeTypeOffset));
                    if (type == 0)
                    {
                        reservedLarge.Add(i); // reserved by a transaction that never committed (unless a log sets it)
                    }

                    // Its type index is checked after the replay, when the type table (which logs change) is read.

                    break;
                case ChunkKind.Free:
                    _freeSpans[i] = span;
                    break;
            }

            _heads[i] = header;
            i += span;
        }

        _reservedLarge = reservedLarge;
    }

    /// <summary>
    /// The reading half of recovery after the redo logs are applied (in memory, not yet drained): every allocated run
    /// block carries a known type index; builds each run's free list. Writes nothing.
    /// </summary>
    /// <exception cref="PoolCorruptedException">An allocated block has an unknown type index.</exception>
    public void ValidateAfterReplay() => _emptyRuns = ValidateAllocationTypes();

    /// <summary>
    /// The writing half of recovery, run once everything is validated: frees large groups whose transaction never
    /// committed, turns runs with no allocated block into free chunks and merges free spans a crash left side by side.
    /// </summary>
    public void FinishRecovery()
    {
        lock (_heapLock)
        {
            // Runs a crash (or an older version) left without any allocated block become free chunks: every log is
            // retired by now, so none can be replayed into them.
            foreach (var run in _emptyRuns)
            {
                _classes[_heads[run.Chunk].SizeClass].Available.Remove(run);
                MakeFree(run.Chunk, 1);
            }

            _emptyRuns = [];
            foreach (var chunk in _reservedLarge)
            {
                if (BlockGeneration.TypeOf(_domain.Read<uint>(ChunkOffset(chunk) + ChunkHeader.LargeTypeOffset)) == 0)
                {
                    FreeLargeChunks(chunk);
                }
            }

            _reservedLarge = [];
            foreach (var start in _freeSpans.Keys.ToArray())
            {
                if (_freeSpans.TryGetValue(start, out var span))
                {
                    MergeFollowing(start, span);
                }
            }
        }
    }

    /// <summary>
    /// Every allocated run block must carry a known type index (its allocation header). Checked after the logs are
    /// replayed, since a committed log may set a block's bitmap bit and type together.
    /// </summary>
    /// <returns>The runs with no allocated block.</returns>
    private List<RunState> ValidateAllocationTypes()
    {
        var known = _context.KnownTypes;
        for (var i = 0; i < _chunkCount; i += Math.Max(1, _heads[i].Span))
        {
            var type = _heads[i].Kind == ChunkKind.Large ? BlockGeneration.TypeOf(_domain.Read<uint>(ChunkOffset(i) + ChunkHeader.LargeTypeOffset)) : 0;
            if (type != 0 && !known.Contains(type))
            {
                throw Corrupt($"the large object at offset {ChunkOffset(i) + ChunkHeader.Size} has unknown type index {type}");
            }
        }

        var empty = new List<RunState>();
        foreach (var state in _classes)
        {
            foreach (var run in state.Available)
            {
                var sizeClass = _heads[run.Chunk].SizeClass;
                var geometry = SizeClasses.Geometry[sizeClass];
                var chunkOffset = ChunkOffset(run.Chunk);
                var used = 0UL;
                for (var w = 0; w < geometry.BitmapWords; w++)
                {
                    var word = _domain.Read<ulong>(chunkOffset + geometry.WordOffsetAt(w));
                    used |= word;
                    while (word != 0)
                    {
                        var slot = w * RunGeometry.BitsPerWord + BitOperations.TrailingZeroCount(word);
                        word &= word - 1;
                        var type = BlockGeneration.TypeOf(_domain.Read<uint>(chunkOffset + geometry.TypeOffset(slot)));
                        if (!known.Contains(type))
                        {
                            throw Corrupt($"the allocation header of the block at offset {BlockOffset(run.Chunk, sizeClass, slot)} has unknown type index {type}");
                        }
                    }
                }

                if (used == 0)
                {
                    empty.Add(run);
                }

                // Now, after the replay and before any commit: a list built later could see a block whose free is
                // applied but not yet released as free, and hand it out twice (see RunState).
                run.LoadFreeList(_domain, chunkOffset, geometry);
            }
        }

        return empty;
    }

    private void ValidateRun(int chunk, int sizeClass)
    {
        var geometry = SizeClasses.Geometry[sizeClass];
        var chunkOffset = ChunkOffset(chunk);
        var lastWord = _domain.Read<ulong>(chunkOffset + geometry.WordOffsetAt(geometry.BitmapWords - 1));
        var usedBits = geometry.BlockCount - (geometry.BitmapWords - 1) * RunGeometry.BitsPerWord;
        if (usedBits < RunGeometry.BitsPerWord && (lastWord >> usedBits) != 0)
        {
            throw Corrupt($"the run at offset {chunkOffset} marks blocks past its {geometry.BlockCount} as allocated");
        }
    }
}
