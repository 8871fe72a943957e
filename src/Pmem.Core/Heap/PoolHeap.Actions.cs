// PoolHeap (actions) -- allocation actions: preparing and publishing blocks, and the redo entries that allocate or free.
using Pmem.Log;
using Pmem.Memory;

namespace Pmem.Heap;

internal sealed partial class PoolHeap
{
    /// <summary>
    /// Readies reserved run blocks for <see cref="PublishPrepared"/>: zeroes their first <paramref name="contentSize"/>
    /// bytes and stores <paramref name="typeIndex"/> as their allocation header, flushed, not drained. Their bitmap bits
    /// stay clear, so until published they are free blocks whatever part of this persists. The caller must have made
    /// the retirement watermark durably cover every log that mentions the blocks, and drains afterwards.
    /// </summary>
    public void Prepare(Span<BlockReservation> blocks, uint typeIndex, long contentSize)
    {
        // Blocks come out of a run in slot order, usually adjacent: zero each adjacent group with one fill (whole
        // blocks, so a large group takes the non-temporal path).
        for (var i = 0; i < blocks.Length;)
        {
            var end = i + 1;
            while (end < blocks.Length && blocks[end].Offset == blocks[end - 1].Offset + blocks[end - 1].Size)
            {
                end++;
            }

            var length = end - i == 1 ? contentSize : blocks[end - 1].Offset - blocks[i].Offset + contentSize;
            _domain.Fill(blocks[i].Offset, 0, length, PmemCopyFlags.NoDrain);
            i = end;
        }

        var pending = new LineMergingFlush<FlushNow>(new FlushNow(_domain));
        foreach (var block in blocks)
        {
            var typeOffset = ChunkOffset(block.Chunk) + SizeClasses.Geometry[block.SizeClass].TypeOffset(block.Slot);
            _domain.Write(typeOffset, BlockGeneration.Header(typeIndex, block.Generation));
            pending.Stored(typeOffset, sizeof(uint));
        }

        pending.Finish();

        for (var i = 0; i < blocks.Length; i++)
        {
            blocks[i] = blocks[i] with { Prepared = true };
        }
    }

    /// <summary>
    /// Makes a prepared block allocated outside the log: sets its bitmap bit with one atomic store and flushes it (the
    /// caller drains). Safe because the zeroes and type index were drained before this store, and a bitwise update of
    /// one bit commutes with any replayed Or/And on the other bits of the word.
    /// </summary>
    public void PublishPrepared(in BlockReservation block)
    {
        var word = ChunkOffset(block.Chunk) + SizeClasses.Geometry[block.SizeClass].WordOffset(block.Slot);
        Interlocked.Or(ref _domain.GetRef<ulong>(word), RunGeometry.BitOf(block.Slot));
        _domain.NotifyStore(word, 8);
        _domain.Flush(word, 8);
    }

    /// <summary>Redo entries that make a reserved block durably allocated with <paramref name="typeIndex"/>.</summary>
    public void LogAllocate(RedoBuilder redo, in BlockReservation block, uint typeIndex)
    {
        // The type index before the bit: a scan on another thread that sees the bit then finds the type (NextOfType).
        LogAllocationType(redo, block, typeIndex);
        LogAllocationBit(redo, block);
    }

    /// <summary>
    /// The first half of <see cref="LogAllocate"/>: the block's type index (a large block's whole allocation). A log
    /// may hold several blocks' types first and then their bits, which <see cref="RedoBuilder"/> merges per word.
    /// </summary>
    public void LogAllocationType(RedoBuilder redo, in BlockReservation block, uint typeIndex)
    {
        if (block.IsLarge)
        {
            redo.Set(ChunkOffset(block.Chunk) + ChunkHeader.LargeTypeOffset, BlockGeneration.Header(typeIndex, block.Generation));
        }
        else if (!block.Prepared)
        {
            // Blocks of one batch have adjacent header words: logged in one entry (the bit keeps them unread until applied).
            var geometry = SizeClasses.Geometry[block.SizeClass];
            redo.SetAdjacent(ChunkOffset(block.Chunk) + geometry.TypeOffset(block.Slot), BlockGeneration.Header(typeIndex, block.Generation));
        }
    }

    /// <summary>The second half of <see cref="LogAllocate"/>: a small block's bit in its run (nothing for a large block).</summary>
    public void LogAllocationBit(RedoBuilder redo, in BlockReservation block)
    {
        if (!block.IsLarge)
        {
            redo.Or(ChunkOffset(block.Chunk) + SizeClasses.Geometry[block.SizeClass].WordOffset(block.Slot), RunGeometry.BitOf(block.Slot));
        }
    }

    /// <summary>Redo entries that durably free an allocated block.</summary>
    public void LogFree(RedoBuilder redo, in BlockReservation block)
    {
        if (block.IsLarge)
        {
            redo.Set(ChunkOffset(block.Chunk) + ChunkHeader.LargeTypeOffset, 0u);
            return;
        }

        var geometry = SizeClasses.Geometry[block.SizeClass];
        redo.And(ChunkOffset(block.Chunk) + geometry.WordOffset(block.Slot), ~RunGeometry.BitOf(block.Slot));
    }
}
