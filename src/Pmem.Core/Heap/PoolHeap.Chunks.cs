// PoolHeap (chunks) -- free spans, runs and large groups carved from them, empty runs returned, and growth.
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Heap;

internal sealed partial class PoolHeap
{
    /// <summary>
    /// Turns a run that no longer appears in any list (every block free, none reserved) into a free chunk: first the
    /// watermark durably covers every log that mentions its blocks (none can then be replayed into the chunk's next
    /// use), then one header word makes it free. Its bitmap and type words are ignored from then on, and rewritten
    /// when the chunk becomes a run again.
    /// </summary>
    private void ReturnEmptyRun(RunState run)
    {
        _context.RetireThrough(run.FreedThrough);
        lock (_heapLock)
        {
            MakeFree(run.Chunk, 1);
        }
    }

    /// <summary>
    /// Before the heap grows or gives up: returns runs that are empty but were kept, a class's current run (kept so
    /// one allocation and one free do not create and return a run each time) or one a finalizer released into. Classes
    /// whose lock another thread holds are skipped (waiting could deadlock against this thread's heap lock).
    /// </summary>
    private bool ReclaimEmptyRuns()
    {
        var any = false;
        for (var sizeClass = 0; sizeClass < _classes.Length; sizeClass++)
        {
            var state = _classes[sizeClass];
            if (!state.Lock.TryEnter())
            {
                continue;
            }

            List<RunState>? emptied = null;
            try
            {
                var blockCount = SizeClasses.Geometry[sizeClass].BlockCount;
                for (var arena = 0; arena < state.Current.Length; arena++)
                {
                    if (state.Current[arena] is { } current && current.IsEmpty(blockCount))
                    {
                        (emptied ??= []).Add(current);
                        state.Current[arena] = null;
                    }
                }

                for (var i = state.Available.Count - 1; i >= 0; i--)
                {
                    if (state.Available[i].IsEmpty(blockCount))
                    {
                        (emptied ??= []).Add(state.Available[i]);
                        state.Available.RemoveAt(i);
                    }
                }
            }
            finally
            {
                state.Lock.Exit();
            }

            foreach (var run in emptied ?? [])
            {
                ReturnEmptyRun(run);
                any = true;
            }
        }

        return any;
    }

    private void MakeFree(int start, int span)
    {
        _domain.Write(ChunkOffset(start), new ChunkHeader(ChunkKind.Free, 0, span).Encode());
        _domain.Persist(ChunkOffset(start), 8);
        _heads[start] = new ChunkHeader(ChunkKind.Free, 0, span);
        _freeSpans[start] = span;
        MergeFollowing(start, span);
        MergeWithPrevious(start);
    }

    /// <summary>Bytes in free spans plus free run blocks are not tracked durably; this counts whole free chunks.</summary>
    public long FreeChunkBytes()
    {
        lock (_heapLock)
        {
            return _freeSpans.Values.Sum(span => (long)span * ChunkSize);
        }
    }

    /// <summary>Adds chunks after the pool has grown to <paramref name="newPoolSize"/> (already durable in the header).</summary>
    public void AddChunks(long newPoolSize)
    {
        lock (_heapLock)
        {
            var newCount = (int)((newPoolSize - _heapStart) / ChunkSize);
            if (newCount <= _chunkCount)
            {
                return;
            }

            var heads = _heads;
            Array.Resize(ref heads, newCount);
            var start = _chunkCount;
            heads[start] = new ChunkHeader(ChunkKind.Free, 0, newCount - start);
            _heads = heads;
            _freeSpans[start] = newCount - start;
            Volatile.Write(ref _chunkCount, newCount);
            MergeWithPrevious(start);
        }
    }

    /// <summary>Writes the free header for chunks a growth adds, before the pool size makes them part of the heap.</summary>
    public void FormatGrowth(long newPoolSize)
    {
        var newCount = (int)((newPoolSize - _heapStart) / ChunkSize);
        var start = ChunkOffset(_chunkCount);
        _domain.Write(start, new ChunkHeader(ChunkKind.Free, 0, newCount - _chunkCount).Encode());
        _domain.Persist(start, 8);
    }

    private BlockReservation ReserveLarge(long size)
    {
        var chunks = LargeChunksFor(size);
        var start = TakeChunks(chunks, size, ChunkKind.Large, 0);
        return new BlockReservation(ChunkOffset(start) + ChunkHeader.Size, -1, start, 0, LargeBlockSize(chunks))
        {
            Generation = StampsGenerations ? BlockGeneration.FromCounter(ref _largeGenerations) : (ushort)0,
        };
    }

    private int CreateRun(int sizeClass, long requested) =>
        TakeChunks(1, requested, ChunkKind.Run, sizeClass);

    /// <summary>
    /// Carves <paramref name="chunks"/> chunks from a free span and durably marks them as a run or a reserved large
    /// group. Order: the remainder's free header, then the new group's contents, then its header — each step leaves a
    /// walkable heap.
    /// </summary>
    private int TakeChunks(int chunks, long requested, ChunkKind kind, int sizeClass)
    {
        _context.RetireBeforeReuse();
        lock (_heapLock)
        {
            var start = -1;
            var reclaimed = false;
            while (start < 0)
            {
                foreach (var (spanStart, span) in _freeSpans)
                {
                    if (span >= chunks)
                    {
                        start = spanStart;
                        break;
                    }
                }

                if (start >= 0)
                {
                    break;
                }

                if (!reclaimed)
                {
                    reclaimed = true;
                    if (ReclaimEmptyRuns())
                    {
                        continue;
                    }
                }

                var tail = _freeSpans.Count > 0 && _freeSpans.Last() is var last && last.Key + last.Value == _chunkCount ? last.Value : 0;
                var needed = (long)(chunks - tail) * ChunkSize;
                bool grew;
                try
                {
                    grew = _context.Grow(needed);
                }
                catch (Exception e) when (e is IOException and not PoolException or NotSupportedException)
                {
                    // The file kept its old size (the mapping gives back what it added): full, and the disk says why;
                    // or the open could not reserve the address space to grow into, and the growth says that.
                    throw new PoolOutOfSpaceException(_poolPath, requested, e);
                }

                if (!grew)
                {
                    throw new PoolOutOfSpaceException(_poolPath, requested);
                }
            }

            var total = _freeSpans[start];
            _freeSpans.Remove(start);
            if (total > chunks)
            {
                var rest = start + chunks;
                _domain.Write(ChunkOffset(rest), new ChunkHeader(ChunkKind.Free, 0, total - chunks).Encode());
                _domain.Persist(ChunkOffset(rest), 8);
                _freeSpans[rest] = total - chunks;
                _heads[rest] = new ChunkHeader(ChunkKind.Free, 0, total - chunks);
            }

            var chunkOffset = ChunkOffset(start);
            if (PrefaultNewChunks)
            {
                _domain.PrefaultForWrite(chunkOffset, (long)chunks * ChunkSize);
            }

            if (kind == ChunkKind.Run)
            {
                var geometry = SizeClasses.Geometry[sizeClass];
                _domain.Fill(chunkOffset + geometry.BitmapOffset, 0, geometry.BitmapWords * 8L, PmemCopyFlags.NoDrain);
            }
            else
            {
                _domain.Write(chunkOffset + ChunkHeader.LargeTypeOffset, 0UL);
                _domain.Flush(chunkOffset + ChunkHeader.LargeTypeOffset, 8);
            }

            _domain.Drain();
            var header = new ChunkHeader(kind, (byte)sizeClass, chunks);
            _domain.Write(chunkOffset, header.Encode());
            _domain.Persist(chunkOffset, 8);
            _heads[start] = header;
            return start;
        }
    }

    /// <summary>Durably turns a large group whose type index is already 0 back into free chunks, merging neighbours.</summary>
    private void FreeLargeChunks(int start)
    {
        lock (_heapLock)
        {
            MakeFree(start, _heads[start].Span);
        }
    }

    private void MergeFollowing(int start, int span)
    {
        while (_freeSpans.TryGetValue(start + span, out var next))
        {
            _freeSpans.Remove(start + span);
            span += next;
            _domain.Write(ChunkOffset(start), new ChunkHeader(ChunkKind.Free, 0, span).Encode());
            _domain.Persist(ChunkOffset(start), 8); // one word: the merge is atomic
            _freeSpans[start] = span;
            _heads[start] = new ChunkHeader(ChunkKind.Free, 0, span);
        }
    }

    private void MergeWithPrevious(int start)
    {
        foreach (var (spanStart, span) in _freeSpans)
        {
            if (spanStart + span == start)
            {
                MergeFollowing(spanStart, span);
                return;
            }

            if (spanStart >= start)
            {
                return;
            }
        }
    }
}
