using System.Numerics;
using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>Kind of a chunk group, stored in its chunk header.</summary>
internal enum ChunkKind : byte
{
    Free = 1,
    Run = 2,
    Large = 3,
}

/// <summary>A block reserved by the allocator but not yet durably allocated (its bitmap bit is set at commit).</summary>
internal readonly record struct BlockReservation(long Offset, int SizeClass, int Chunk, int Slot, long Size)
{
    public bool IsLarge => SizeClass < 0;

    /// <summary>Zeroed and stamped with its type index durably (<see cref="Heap.Prepare"/>): only its bit is left to set.</summary>
    public bool Prepared { get; init; }
}

/// <summary>
/// The heap: 256 KiB chunks, grouped into free spans, runs of equal-size blocks (size classes from 64 bytes to
/// 32 KiB) and large objects spanning whole chunks. Durable state is the chunk headers, the run bitmaps and the
/// per-block type indexes; everything else (free lists, free spans) is rebuilt on open.
/// </summary>
/// <remarks>
/// <para>Chunk header word: bits 0–3 kind, 4–11 size class, 12–43 span in chunks, 44–63 a check of the rest, so a
/// corrupted header is detected on open rather than trusted.</para>
/// <para>Run chunk: header line, bitmap (one bit per block), type indexes (u32 per block), then 64-byte-aligned
/// blocks. Large group: header line (type index at +8, 0 = reserved but not yet published), object at +64.</para>
/// <para>Bitmap bits change only through atomic Or/And: redo entries, or one Or outside the log for a prepared block
/// (<see cref="PublishPrepared"/>), so concurrent commits and allocations on different threads commute.
/// Chunk headers change only under the heap lock, each change ordered so every crash point leaves a walkable heap; a
/// run whose blocks are all free becomes a free chunk again (<see cref="Release"/>).</para>
/// </remarks>
internal sealed class Heap
{
    public const int ChunkSize = PoolLayout.ChunkSize;
    public const int HeaderLine = PoolLayout.ChunkHeaderSize;
    public const int LargeTypeOffset = 8;

    private static readonly int[] s_classSizes = BuildClassSizes();
    private static readonly RunGeometry[] s_geometry = s_classSizes.Select(RunGeometry.For).ToArray();

    private readonly PersistenceDomain _domain;
    private readonly string _poolPath;
    private readonly long _heapStart;
    private readonly Lock _heapLock = new();
    private readonly SortedDictionary<int, int> _freeSpans = new();
    private readonly ClassState[] _classes;
    private ChunkHead[] _heads;
    private List<int> _reservedLarge = [];
    private List<RunState> _emptyRuns = [];
    private int _chunkCount;

    private readonly Action _beforeReuse;
    private readonly Action<long> _retireThrough;

    // beforeReuse runs before chunks get new contents outside the log: it retires applied logs so none is replayed over them.
    // retireThrough(s) makes the watermark durably cover every commit up to s (before an emptied run becomes a free chunk).
    public Heap(PersistenceDomain domain, string poolPath, long heapStart, long poolSize, Action beforeReuse, Action<long> retireThrough)
    {
        _beforeReuse = beforeReuse;
        _retireThrough = retireThrough;
        _domain = domain;
        _poolPath = poolPath;
        _heapStart = heapStart;
        _chunkCount = (int)((poolSize - heapStart) / ChunkSize);
        _heads = new ChunkHead[_chunkCount];
        _classes = new ClassState[s_classSizes.Length];
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = new ClassState();
        }
    }

    public static int MaxRunBlockSize => s_classSizes[^1];

    public int ChunkCount => _chunkCount;

    public long HeapStart => _heapStart;

    public static int ClassCount => s_classSizes.Length;

    public static int BlockSizeOf(int sizeClass) => s_classSizes[sizeClass];

    /// <summary>Writes the heap of a new pool: one free span over every chunk.</summary>
    public static void Format(PersistenceDomain domain, long heapStart, long poolSize)
    {
        var chunks = (int)((poolSize - heapStart) / ChunkSize);
        domain.Write(heapStart, EncodeHeader(ChunkKind.Free, 0, chunks));
        domain.Flush(heapStart, 8);
    }

    /// <summary>Walks the chunk headers, validates them and rebuilds the volatile indexes, writing nothing.</summary>
    /// <exception cref="PoolCorruptedException">A chunk header or run is invalid.</exception>
    public void Load(Func<uint, bool> isKnownType)
    {
        var i = 0;
        var reservedLarge = new List<int>();
        while (i < _chunkCount)
        {
            var chunkOffset = ChunkOffset(i);
            if (!TryDecodeHeader(_domain.Read<ulong>(chunkOffset), out var kind, out var sizeClass, out var span))
            {
                throw Corrupt($"the chunk header at offset {chunkOffset} (chunk {i}) is invalid");
            }

            if (span < 1 || span > _chunkCount - i)
            {
                throw Corrupt($"the chunk header at offset {chunkOffset} spans {span} chunks, past the heap's {_chunkCount}");
            }

            switch (kind)
            {
                case ChunkKind.Run:
                    if (span != 1 || sizeClass >= s_classSizes.Length)
                    {
                        throw Corrupt($"the run at offset {chunkOffset} has span {span} and size class {sizeClass}");
                    }

                    ValidateRun(i, sizeClass);
                    _classes[sizeClass].Available.Add(new RunState(i));
                    break;
                case ChunkKind.Large:
                    var type = _domain.Read<uint>(chunkOffset + LargeTypeOffset);
                    if (type == 0)
                    {
                        reservedLarge.Add(i); // reserved by a transaction that never committed (unless a log sets it)
                    }
                    else if (!isKnownType(type))
                    {
                        throw Corrupt($"the large object at offset {chunkOffset + HeaderLine} has unknown type index {type}");
                    }

                    break;
                case ChunkKind.Free:
                    _freeSpans[i] = span;
                    break;
            }

            _heads[i] = new ChunkHead(kind, (byte)sizeClass, span);
            i += span;
        }

        _reservedLarge = reservedLarge;
    }

    /// <summary>
    /// The reading half of recovery after the redo logs are applied (in memory, not yet drained): every allocated run
    /// block carries a known type index; builds each run's free list. Writes nothing.
    /// </summary>
    /// <exception cref="PoolCorruptedException">An allocated block has an unknown type index.</exception>
    public void ValidateAfterReplay(Func<uint, bool> isKnownType) => _emptyRuns = ValidateAllocationTypes(isKnownType);

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
                if (_domain.Read<uint>(ChunkOffset(chunk) + LargeTypeOffset) == 0)
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
    private List<RunState> ValidateAllocationTypes(Func<uint, bool> isKnownType)
    {
        var empty = new List<RunState>();
        foreach (var state in _classes)
        {
            foreach (var run in state.Available)
            {
                var sizeClass = _heads[run.Chunk].SizeClass;
                var geometry = s_geometry[sizeClass];
                var chunkOffset = ChunkOffset(run.Chunk);
                var used = 0UL;
                for (var w = 0; w < geometry.BitmapWords; w++)
                {
                    var word = _domain.Read<ulong>(chunkOffset + geometry.BitmapOffset + w * 8L);
                    used |= word;
                    while (word != 0)
                    {
                        var slot = w * 64 + BitOperations.TrailingZeroCount(word);
                        word &= word - 1;
                        var type = _domain.Read<uint>(chunkOffset + geometry.TypesOffset + slot * 4L);
                        if (!isKnownType(type))
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
        var geometry = s_geometry[sizeClass];
        var chunkOffset = ChunkOffset(chunk);
        var lastWord = _domain.Read<ulong>(chunkOffset + geometry.BitmapOffset + (geometry.BitmapWords - 1) * 8L);
        var usedBits = geometry.BlockCount - (geometry.BitmapWords - 1) * 64;
        if (usedBits < 64 && (lastWord >> usedBits) != 0)
        {
            throw Corrupt($"the run at offset {chunkOffset} marks blocks past its {geometry.BlockCount} as allocated");
        }
    }

    /// <summary>Chooses the size class for <paramref name="size"/> bytes, or -1 when it needs whole chunks.</summary>
    public static int ClassFor(long size)
    {
        if (size > MaxRunBlockSize)
        {
            return -1;
        }

        var index = Array.BinarySearch(s_classSizes, (int)Math.Max(size, 1));
        return index >= 0 ? index : ~index;
    }

    /// <summary>Reserves a block (volatile only) of at least <paramref name="size"/> bytes.</summary>
    /// <exception cref="PoolOutOfSpaceException">No room, even after growing.</exception>
    public BlockReservation Reserve(long size, Func<long, bool> grow)
    {
        var sizeClass = ClassFor(size);
        if (sizeClass < 0)
        {
            return ReserveLarge(size, grow);
        }

        // No retirement is needed here, unlike prepared blocks: a block reserved here is published by a log, which
        // recovery replays after any older log that freed it.
        Span<BlockReservation> one = stackalloc BlockReservation[1];
        ReserveMany(size, one, grow, out _);
        return one[0];
    }

    /// <summary>Returns a reserved or freed block to the volatile free lists.</summary>
    /// <param name="block">The block.</param>
    /// <param name="freedThrough">
    /// A commit sequence number at or above every commit whose log mentions the block (the pipeline's last sequence
    /// once the freeing commit has returned). The block is written outside the log again only once the retirement
    /// watermark durably covers it (see <see cref="ReserveMany"/>).
    /// </param>
    /// <param name="mayReturnRun">False from a finalizer: only volatile state may change, never the media.</param>
    public void Release(in BlockReservation block, long freedThrough, bool mayReturnRun = true)
    {
        if (block.IsLarge)
        {
            FreeLargeChunks(block.Chunk);
            return;
        }

        var state = _classes[block.SizeClass];
        RunState? emptied = null;
        lock (state.Lock)
        {
            var run = state.CurrentFor(block.Chunk) ?? FindRun(state, block.Chunk);
            run.Return(block.Slot);
            run.FreedThrough = Math.Max(run.FreedThrough, freedThrough);
            if (mayReturnRun && run.IsEmpty(s_geometry[block.SizeClass].BlockCount) && state.CurrentFor(run.Chunk) is null)
            {
                // Every block is free and none is reserved: the chunk goes back to the free spans, so a pool that
                // moves from one size class to another does not keep runs it no longer uses. The class keeps its
                // current run, so alternating one allocation and one free does not create and return a run each time.
                state.Available.Remove(run);
                emptied = run;
            }
        }

        if (emptied is not null)
        {
            ReturnEmptyRun(emptied);
        }
    }

    /// <summary>
    /// Turns a run that no longer appears in any list (every block free, none reserved) into a free chunk: first the
    /// watermark durably covers every log that mentions its blocks (none can then be replayed into the chunk's next
    /// use), then one header word makes it free. Its bitmap and type words are ignored from then on, and rewritten
    /// when the chunk becomes a run again.
    /// </summary>
    private void ReturnEmptyRun(RunState run)
    {
        _retireThrough(run.FreedThrough);
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
                var blockCount = s_geometry[sizeClass].BlockCount;
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
        _domain.Write(ChunkOffset(start), EncodeHeader(ChunkKind.Free, 0, span));
        _domain.Persist(ChunkOffset(start), 8);
        _heads[start] = new ChunkHead(ChunkKind.Free, 0, span);
        _freeSpans[start] = span;
        MergeFollowing(start, span);
        MergeWithPrevious(start);
    }

    /// <summary>
    /// Reserves up to <paramref name="into"/>.Length blocks of <paramref name="size"/>'s size class under one lock
    /// (volatile only), for a thread's allocation cache. Takes a new chunk only when it has found no block at all.
    /// </summary>
    /// <param name="size">Bytes per block, at most <see cref="MaxRunBlockSize"/>.</param>
    /// <param name="into">Receives the reservations.</param>
    /// <param name="grow">Grows the pool when no chunk is free.</param>
    /// <param name="freedThrough">The newest commit whose log may mention one of the blocks (0: none since open).</param>
    /// <returns>How many blocks were reserved (at least one).</returns>
    /// <exception cref="PoolOutOfSpaceException">No room, even after growing.</exception>
    public int ReserveMany(long size, Span<BlockReservation> into, Func<long, bool> grow, out long freedThrough)
    {
        var sizeClass = ClassFor(size);
        var state = _classes[sizeClass];
        var arena = ArenaOfThisThread();
        var taken = 0;
        freedThrough = 0;
        lock (state.Lock)
        {
            while (taken < into.Length)
            {
                var run = state.Current[arena];
                if (run is not null)
                {
                    TakeFrom(run, sizeClass, into, ref taken, ref freedThrough);
                    if (taken == into.Length)
                    {
                        break;
                    }

                    state.Current[arena] = null;
                }

                if (state.Available.Count > 0)
                {
                    state.Current[arena] = state.Available[^1];
                    state.Available.RemoveAt(state.Available.Count - 1);
                    continue;
                }

                if (taken > 0)
                {
                    break; // a short batch rather than a new chunk
                }

                int chunk;
                try
                {
                    chunk = CreateRun(sizeClass, size, grow);
                }
                catch (PoolOutOfSpaceException)
                {
                    // No chunk left: the other arenas' current runs are the last place a free block can be.
                    TakeFromOtherArenas(state, sizeClass, arena, into, ref taken, ref freedThrough);
                    if (taken == 0)
                    {
                        throw;
                    }

                    break;
                }

                var created = new RunState(chunk);
                created.LoadFreeList(_domain, ChunkOffset(chunk), s_geometry[sizeClass]); // all free: just zeroed
                state.Current[arena] = created;
            }
        }

        return taken;
    }

    private void TakeFromOtherArenas(ClassState state, int sizeClass, int arena, Span<BlockReservation> into, ref int taken, ref long freedThrough)
    {
        for (var other = 0; other < state.Current.Length && taken < into.Length; other++)
        {
            if (other != arena && state.Current[other] is { } run)
            {
                TakeFrom(run, sizeClass, into, ref taken, ref freedThrough);
            }
        }
    }

    /// <summary>
    /// Reserves free blocks of <paramref name="run"/> into the rest of <paramref name="into"/> (with the class lock
    /// held), and raises <paramref name="freedThrough"/> to cover every commit that freed a block of the run.
    /// </summary>
    private void TakeFrom(RunState run, int sizeClass, Span<BlockReservation> into, ref int taken, ref long freedThrough)
    {
        while (taken < into.Length && run.TryTake(out var slot))
        {
            into[taken++] = new BlockReservation(BlockOffset(run.Chunk, sizeClass, slot), sizeClass, run.Chunk, slot, s_classSizes[sizeClass]);
        }

        freedThrough = Math.Max(freedThrough, run.FreedThrough);
    }

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

        var pending = new RedoLog.LineMergingFlush<RedoLog.FlushNow>(new RedoLog.FlushNow(_domain));
        foreach (var block in blocks)
        {
            var typeOffset = ChunkOffset(block.Chunk) + s_geometry[block.SizeClass].TypesOffset + block.Slot * 4L;
            _domain.Write(typeOffset, typeIndex);
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
        var word = ChunkOffset(block.Chunk) + s_geometry[block.SizeClass].BitmapOffset + (block.Slot >> 6) * 8L;
        Interlocked.Or(ref _domain.GetRef<ulong>(word), 1UL << (block.Slot & 63));
        _domain.NotifyStore(word, 8);
        _domain.Flush(word, 8);
    }

    private RunState FindRun(ClassState state, int chunk)
    {
        foreach (var run in state.Available)
        {
            if (run.Chunk == chunk)
            {
                return run;
            }
        }

        // The run left the lists when its last free slot was taken, so every other slot is allocated or reserved.
        var created = new RunState(chunk);
        created.StartEmpty(s_geometry[_heads[chunk].SizeClass].BitmapWords);
        state.Available.Add(created);
        return created;
    }

    /// <summary>Redo entries that make a reserved block durably allocated with <paramref name="typeIndex"/>.</summary>
    public void LogAllocate(RedoBuilder redo, in BlockReservation block, uint typeIndex)
    {
        if (block.IsLarge)
        {
            redo.Set(ChunkOffset(block.Chunk) + LargeTypeOffset, typeIndex);
            return;
        }

        var geometry = s_geometry[block.SizeClass];
        var chunkOffset = ChunkOffset(block.Chunk);
        redo.Or(chunkOffset + geometry.BitmapOffset + (block.Slot >> 6) * 8L, 1UL << (block.Slot & 63));
        if (!block.Prepared)
        {
            redo.Set(chunkOffset + geometry.TypesOffset + block.Slot * 4L, typeIndex);
        }
    }

    /// <summary>Redo entries that durably free an allocated block.</summary>
    public void LogFree(RedoBuilder redo, in BlockReservation block)
    {
        if (block.IsLarge)
        {
            redo.Set(ChunkOffset(block.Chunk) + LargeTypeOffset, 0u);
            return;
        }

        var geometry = s_geometry[block.SizeClass];
        redo.And(ChunkOffset(block.Chunk) + geometry.BitmapOffset + (block.Slot >> 6) * 8L, ~(1UL << (block.Slot & 63)));
    }

    /// <summary>Finds the allocated block that starts at <paramref name="offset"/>.</summary>
    public bool TryGetAllocated(long offset, out BlockReservation block, out uint typeIndex)
    {
        block = default;
        typeIndex = 0;
        if (offset < _heapStart + HeaderLine || (offset & 63) != 0)
        {
            return false;
        }

        var chunkIndex = (offset - _heapStart) / ChunkSize; // a long: a damaged offset may be far past the heap
        if (chunkIndex >= Volatile.Read(ref _chunkCount))
        {
            return false;
        }

        var chunk = (int)chunkIndex;
        var head = _heads[chunk];
        var chunkOffset = ChunkOffset(chunk);
        if (head.Kind == ChunkKind.Large && offset == chunkOffset + HeaderLine)
        {
            typeIndex = _domain.Read<uint>(chunkOffset + LargeTypeOffset);
            block = new BlockReservation(offset, -1, chunk, 0, (long)head.Span * ChunkSize - HeaderLine);
            return typeIndex != 0;
        }

        if (head.Kind != ChunkKind.Run)
        {
            return false;
        }

        var geometry = s_geometry[head.SizeClass];
        var relative = offset - chunkOffset - geometry.DataOffset;
        var blockSize = s_classSizes[head.SizeClass];
        if (relative < 0 || relative % blockSize != 0 || relative / blockSize >= geometry.BlockCount)
        {
            return false;
        }

        var slot = (int)(relative / blockSize);
        var word = _domain.Read<ulong>(chunkOffset + geometry.BitmapOffset + (slot >> 6) * 8L);
        if ((word & (1UL << (slot & 63))) == 0)
        {
            return false;
        }

        typeIndex = _domain.Read<uint>(chunkOffset + geometry.TypesOffset + slot * 4L);
        block = new BlockReservation(offset, head.SizeClass, chunk, slot, blockSize);
        return true;
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
                var type = _domain.Read<uint>(chunkOffset + LargeTypeOffset);
                if (type != 0)
                {
                    visit(new BlockReservation(chunkOffset + HeaderLine, -1, i, 0, (long)head.Span * ChunkSize - HeaderLine), type);
                }
            }
            else if (head.Kind == ChunkKind.Run)
            {
                var geometry = s_geometry[head.SizeClass];
                for (var w = 0; w < geometry.BitmapWords; w++)
                {
                    var word = _domain.Read<ulong>(chunkOffset + geometry.BitmapOffset + w * 8L);
                    while (word != 0)
                    {
                        var slot = w * 64 + BitOperations.TrailingZeroCount(word);
                        word &= word - 1;
                        var type = _domain.Read<uint>(chunkOffset + geometry.TypesOffset + slot * 4L);
                        visit(new BlockReservation(BlockOffset(i, head.SizeClass, slot), head.SizeClass, i, slot, s_classSizes[head.SizeClass]), type);
                    }
                }
            }

            i += Math.Max(1, head.Span);
        }
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
            heads[start] = new ChunkHead(ChunkKind.Free, 0, newCount - start);
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
        _domain.Write(start, EncodeHeader(ChunkKind.Free, 0, newCount - _chunkCount));
        _domain.Persist(start, 8);
    }

    private BlockReservation ReserveLarge(long size, Func<long, bool> grow)
    {
        var chunks = (int)((size + HeaderLine + ChunkSize - 1) / ChunkSize);
        var start = TakeChunks(chunks, size, grow, ChunkKind.Large, 0);
        return new BlockReservation(ChunkOffset(start) + HeaderLine, -1, start, 0, (long)chunks * ChunkSize - HeaderLine);
    }

    private int CreateRun(int sizeClass, long requested, Func<long, bool> grow) =>
        TakeChunks(1, requested, grow, ChunkKind.Run, sizeClass);

    /// <summary>
    /// Carves <paramref name="chunks"/> chunks from a free span and durably marks them as a run or a reserved large
    /// group. Order: the remainder's free header, then the new group's contents, then its header — each step leaves a
    /// walkable heap.
    /// </summary>
    private int TakeChunks(int chunks, long requested, Func<long, bool> grow, ChunkKind kind, int sizeClass)
    {
        _beforeReuse();
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
                if (!grow(needed))
                {
                    throw new PoolOutOfSpaceException(_poolPath, requested);
                }
            }

            var total = _freeSpans[start];
            _freeSpans.Remove(start);
            if (total > chunks)
            {
                var rest = start + chunks;
                _domain.Write(ChunkOffset(rest), EncodeHeader(ChunkKind.Free, 0, total - chunks));
                _domain.Persist(ChunkOffset(rest), 8);
                _freeSpans[rest] = total - chunks;
                _heads[rest] = new ChunkHead(ChunkKind.Free, 0, total - chunks);
            }

            var chunkOffset = ChunkOffset(start);
            if (kind == ChunkKind.Run)
            {
                var geometry = s_geometry[sizeClass];
                _domain.Fill(chunkOffset + geometry.BitmapOffset, 0, geometry.BitmapWords * 8L, PmemCopyFlags.NoDrain);
            }
            else
            {
                _domain.Write(chunkOffset + LargeTypeOffset, 0UL);
                _domain.Flush(chunkOffset + LargeTypeOffset, 8);
            }

            _domain.Drain();
            _domain.Write(chunkOffset, EncodeHeader(kind, sizeClass, chunks));
            _domain.Persist(chunkOffset, 8);
            _heads[start] = new ChunkHead(kind, (byte)sizeClass, chunks);
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
            _domain.Write(ChunkOffset(start), EncodeHeader(ChunkKind.Free, 0, span));
            _domain.Persist(ChunkOffset(start), 8); // one word: the merge is atomic
            _freeSpans[start] = span;
            _heads[start] = new ChunkHead(ChunkKind.Free, 0, span);
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

    private long ChunkOffset(int chunk) => _heapStart + (long)chunk * ChunkSize;

    private long BlockOffset(int chunk, int sizeClass, int slot) =>
        ChunkOffset(chunk) + s_geometry[sizeClass].DataOffset + (long)slot * s_classSizes[sizeClass];

    private PoolCorruptedException Corrupt(string what) => new(_poolPath, $"heap metadata is corrupted: {what}");

    public static ulong EncodeHeader(ChunkKind kind, int sizeClass, int span)
    {
        var body = (ulong)kind | ((ulong)(byte)sizeClass << 4) | ((ulong)(uint)span << 12);
        return body | (Check(body) << 44);
    }

    public static bool TryDecodeHeader(ulong header, out ChunkKind kind, out int sizeClass, out int span)
    {
        var body = header & ((1UL << 44) - 1);
        kind = (ChunkKind)(body & 0xF);
        sizeClass = (int)((body >> 4) & 0xFF);
        span = (int)(body >> 12);
        return header >> 44 == Check(body) && kind is ChunkKind.Free or ChunkKind.Run or ChunkKind.Large;
    }

    private static ulong Check(ulong body)
    {
        var mixed = (body ^ 0x5EED_C0DE_1234_5678UL) * 0x9E37_79B9_7F4A_7C15UL;
        return (mixed >> 40) & 0xFFFFF;
    }

    private static int[] BuildClassSizes()
    {
        var sizes = new List<int>();
        for (var size = 64; size <= 1024; size += 64)
        {
            sizes.Add(size);
        }

        for (var step = 256; step <= 4096; step *= 2)
        {
            for (var i = 1; i <= 4; i++)
            {
                sizes.Add(step * 4 + step * i);
            }
        }

        return [.. sizes]; // 64 … 1024 by 64, then four classes per doubling up to 32 KiB
    }

    private readonly record struct ChunkHead(ChunkKind Kind, byte SizeClass, int Span);

    /// <summary>
    /// Runs a class allocates from: one current run per arena (threads are spread over the arenas, so threads on
    /// different cores set bits in different runs' bitmap lines instead of sharing one), then the others.
    /// </summary>
    private sealed class ClassState
    {
        public readonly Lock Lock = new();
        public readonly List<RunState> Available = [];
        public readonly RunState?[] Current = new RunState?[ArenaCount];

        public RunState? CurrentFor(int chunk)
        {
            foreach (var run in Current)
            {
                if (run is not null && run.Chunk == chunk)
                {
                    return run;
                }
            }

            return null;
        }
    }

    /// <summary>One arena per processor (up to 8), as libpmemobj spreads threads over its arenas.</summary>
    private static readonly int ArenaCount = Math.Clamp(Environment.ProcessorCount, 1, 8);

    private static int s_nextArena;

    [ThreadStatic]
    private static int t_arenaPlusOne;

    /// <summary>The calling thread's arena, given round-robin on its first allocation.</summary>
    private static int ArenaOfThisThread()
    {
        var plusOne = t_arenaPlusOne;
        if (plusOne == 0)
        {
            plusOne = t_arenaPlusOne = (int)((uint)Interlocked.Increment(ref s_nextArena) % (uint)ArenaCount) + 1;
        }

        return plusOne - 1;
    }

    /// <summary>Where a run's bitmap, type indexes and blocks lie for one size class.</summary>
    private readonly record struct RunGeometry(int BlockCount, int BitmapWords, int BitmapOffset, int TypesOffset, int DataOffset)
    {
        public static RunGeometry For(int blockSize)
        {
            var count = (ChunkSize - HeaderLine) / blockSize;
            while (true)
            {
                var words = (count + 63) / 64;
                var typesOffset = HeaderLine + words * 8;
                var dataOffset = (typesOffset + count * 4 + 63) & ~63;
                if (dataOffset + (long)count * blockSize <= ChunkSize)
                {
                    return new RunGeometry(count, words, HeaderLine, typesOffset, dataOffset);
                }

                count--;
            }
        }
    }

    /// <summary>
    /// Volatile free slots of one run, one bit per block. Built from the durable bitmap only when no commit can run:
    /// at open after the replay, or for a run just carved (all free). A list built while commits run would count a
    /// block whose free is applied but not yet released as free; handed out, then released, it would have two owners.
    /// Returning a slot is idempotent all the same, so a release can never count a free slot twice.
    /// </summary>
    private sealed class RunState(int chunk)
    {
        private ulong[]? _free;
        private int _freeCount;
        private int _cursor; // no free slot below word _cursor

        public int Chunk { get; } = chunk;

        /// <summary>The newest commit whose log may mention a block returned here this session (0: none).</summary>
        public long FreedThrough { get; set; }

        public void LoadFreeList(PersistenceDomain domain, long chunkOffset, RunGeometry geometry)
        {
            _freeCount = 0;
            var free = new ulong[geometry.BitmapWords];
            for (var w = 0; w < free.Length; w++)
            {
                var valid = Math.Min(64, geometry.BlockCount - w * 64);
                var mask = valid == 64 ? ulong.MaxValue : (1UL << valid) - 1;
                free[w] = ~domain.Read<ulong>(chunkOffset + geometry.BitmapOffset + w * 8L) & mask;
                _freeCount += BitOperations.PopCount(free[w]);
            }

            _free = free;
        }

        public bool TryTake(out int slot)
        {
            var free = _free!;
            for (var w = _cursor; w < free.Length && _freeCount > 0; w++)
            {
                if (free[w] != 0)
                {
                    var bit = BitOperations.TrailingZeroCount(free[w]);
                    free[w] &= free[w] - 1;
                    _freeCount--;
                    _cursor = w;
                    slot = w * 64 + bit;
                    return true;
                }
            }

            _cursor = free.Length;
            slot = -1;
            return false;
        }

        public void Return(int slot)
        {
            var w = slot >> 6;
            var mask = 1UL << (slot & 63);
            if ((_free![w] & mask) == 0)
            {
                _free[w] |= mask;
                _freeCount++;
                _cursor = Math.Min(_cursor, w);
            }
        }

        /// <summary>For a run that left the lists: every block is allocated or reserved.</summary>
        public void StartEmpty(int bitmapWords) => _free = new ulong[bitmapWords];

        /// <summary>Every block is in the free list: none allocated, none reserved.</summary>
        public bool IsEmpty(int blockCount) => _free is not null && _freeCount == blockCount;
    }
}
