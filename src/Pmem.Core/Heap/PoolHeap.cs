// PoolHeap -- the heap: chunks, runs of size classes and large groups; reserving, releasing and finding blocks.
using System.Numerics;
using System.Runtime.CompilerServices;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Heap;

/// <summary>
/// The heap: 256 KiB chunks, grouped into free spans, runs of equal-size blocks (size classes from 64 bytes to
/// 32 KiB) and large objects spanning whole chunks. Durable state is the chunk headers, the run bitmaps and the
/// per-block type indexes; everything else (free lists, free spans) is rebuilt on open.
/// </summary>
/// <remarks>
/// <para>Chunk header: <see cref="ChunkHeader"/>.</para>
/// <para>Run chunk: header line, bitmap (one bit per block), type indexes (u32 per block), then 64-byte-aligned
/// blocks. Large group: header line (type index at +8, 0 = reserved but not yet published), object at +64.</para>
/// <para>Bitmap bits change only through atomic Or/And: redo entries, or one Or outside the log for a prepared block
/// (<see cref="PublishPrepared"/>), so concurrent commits and allocations on different threads commute.
/// Chunk headers change only under the heap lock, each change ordered so every crash point leaves a walkable heap; a
/// run whose blocks are all free becomes a free chunk again (<see cref="Release"/>).</para>
/// <para>The heap's files follow libpmemobj's division: this one reserves, releases and finds blocks (heap.c and
/// palloc.c's reservation); <c>PoolHeap.Chunks.cs</c> carves and returns chunks, <c>PoolHeap.Actions.cs</c> holds the
/// allocation actions, <c>PoolHeap.Recovery.cs</c> validation at open; <see cref="SizeClasses"/>, <see cref="RunState"/>,
/// <see cref="Arenas"/> and <see cref="ChunkHeader"/> are alloc_class.c, the run part of memblock.c, the arenas and
/// heap_layout.h.</para>
/// </remarks>
internal sealed partial class PoolHeap
{
    /// <summary>Bytes of a chunk, the heap's unit.</summary>
    public const int ChunkSize = 256 * 1024;

    private readonly PersistenceDomain _domain;
    private readonly string _poolPath;
    private readonly long _heapStart;
    private readonly Lock _heapLock = new();
    private int _largeGenerations = Random.Shared.Next(); // see BlockGeneration

    /// <summary>
    /// The lock over the chunks' headers and the free spans. The pool grows under it, and a backup holds it while it
    /// copies, so no chunk changes outside the log meanwhile.
    /// </summary>
    internal Lock ChunkLock => _heapLock;
    private readonly SortedDictionary<int, int> _freeSpans = new();
    private readonly ClassState[] _classes;
    private ChunkHeader[] _heads;
    private List<int> _reservedLarge = [];
    private List<RunState> _emptyRuns = [];
    private int _chunkCount;

    private readonly IHeapContext _context;

    /// <summary>The heap of a pool whose heap starts at <paramref name="heapStart"/>, in volatile state only until <see cref="Load"/>.</summary>
    /// <param name="domain">The pool's memory.</param>
    /// <param name="poolPath">Names the pool in exceptions.</param>
    /// <param name="heapStart">The first chunk's offset.</param>
    /// <param name="poolSize">The pool's size: the heap runs to it.</param>
    /// <param name="context">What the heap needs of the layers around it: retirement of logs, growth, type checks.</param>
    public PoolHeap(PersistenceDomain domain, string poolPath, long heapStart, long poolSize, IHeapContext context)
    {
        _context = context;
        _domain = domain;
        _poolPath = poolPath;
        _heapStart = heapStart;
        _chunkCount = (int)((poolSize - heapStart) / ChunkSize);
        _heads = new ChunkHeader[_chunkCount];
        _classes = new ClassState[SizeClasses.Count];
        var arenas = Arenas.CountFor(_chunkCount);
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = new ClassState(arenas);
        }
    }

    public long HeapStart => _heapStart;

    /// <summary>
    /// Whether reservations get a new generation (<see cref="BlockGeneration"/>): set by the pool once its format
    /// records generations; older formats keep 0 in every header, which their releases read as part of the type.
    /// </summary>
    public bool StampsGenerations { get; set; }

    /// <summary>
    /// How many size classes runs may have (<see cref="SizeClasses"/>): set by the pool from its format; older formats
    /// know only the legacy classes, and their releases would refuse a run of another.
    /// </summary>
    public int ClassCount { get; set; } = SizeClasses.LegacyCount;

    /// <summary>The size class of a block of <paramref name="size"/> bytes in this heap, or -1 when it takes whole chunks.</summary>
    public int ClassFor(long size) => SizeClasses.ClassFor(size, ClassCount);

    /// <summary>The size of the block a reservation of <paramref name="size"/> bytes gets: its class's, or whole chunks less the header line.</summary>
    public long BlockSizeFor(long size) =>
        ClassFor(size) is var sizeClass and >= 0 ? SizeClasses.Sizes[sizeClass] : LargeBlockSize(LargeChunksFor(size));

    /// <summary>The largest block this heap hands out that holds at most <paramref name="size"/> bytes (0: none).</summary>
    public long LargestBlockAtMost(long size)
    {
        if (size >= LargeBlockSize(1))
        {
            return LargeBlockSize((size + ChunkHeader.Size) / ChunkSize);
        }

        var index = Array.BinarySearch(SizeClasses.Sizes, 0, ClassCount, (int)Math.Max(size, 0));
        index = index >= 0 ? index : ~index - 1;
        return index >= 0 ? SizeClasses.Sizes[index] : 0;
    }

    private static long LargeBlockSize(long chunks) => chunks * ChunkSize - ChunkHeader.Size;

    // The chunks a large block of size bytes spans: its header line comes first.
    private static int LargeChunksFor(long size) => (int)((size + ChunkHeader.Size + ChunkSize - 1) / ChunkSize);

    /// <summary>
    /// Whether chunks taken from now on get their pages mapped writable at once (<see cref="PersistenceDomain.PrefaultForWrite"/>):
    /// set while a migration fills new blocks one after another, which would otherwise fault on every page.
    /// </summary>
    public bool PrefaultNewChunks { get; set; }

    /// <summary>Writes the heap of a new pool: one free span over every chunk.</summary>
    public static void Format(PersistenceDomain domain, long heapStart, long poolSize)
    {
        var chunks = (int)((poolSize - heapStart) / ChunkSize);
        domain.Write(heapStart, new ChunkHeader(ChunkKind.Free, 0, chunks).Encode());
        domain.Flush(heapStart, 8);
    }

    /// <summary>
    /// Reserves a block (volatile only) of at least <paramref name="size"/> bytes: one the calling thread's commits
    /// freed and <paramref name="kept"/> holds, if it holds one of the size class, else one from the free lists.
    /// </summary>
    /// <exception cref="PoolOutOfSpaceException">No room, even after growing.</exception>
    public BlockReservation Reserve(long size, AllocationCache? kept = null)
    {
        var sizeClass = ClassFor(size);
        if (sizeClass < 0)
        {
            return ReserveLarge(size);
        }

        // The caller writes the block's content in place before its commit (zeroes, a string's characters, a list's
        // copied elements, a large log), as for prepared blocks: first no log that wrote into the block when it was
        // someone else's may stay replayable, or recovery would replay it over that content. (Its bit alone would be
        // safe: the log that freed it replays before the one that publishes it.)
        Span<BlockReservation> one = stackalloc BlockReservation[1];
        long freedThrough;
        if (kept is null || kept.TakeFreed(sizeClass, one, out freedThrough) == 0)
        {
            ReserveMany(size, one, out freedThrough);
        }

        try
        {
            _context.RetireThrough(freedThrough);
        }
        catch
        {
            Release(one[0], freedThrough);
            throw;
        }

        return one[0];
    }

    /// <summary>The retirement watermark known durable: a block freed at or below it may be written again at once.</summary>
    public long RetiredDurable => _context.RetiredDurable;

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

        ReleaseMany(new ReadOnlySpan<BlockReservation>(in block), freedThrough, mayReturnRun);
    }

    /// <summary>
    /// Returns run blocks of one size class (a thread's kept freed blocks) to the volatile free lists under one lock;
    /// as <see cref="Release"/> otherwise.
    /// </summary>
    public void ReleaseMany(ReadOnlySpan<BlockReservation> blocks, long freedThrough, bool mayReturnRun = true)
    {
        if (blocks.IsEmpty)
        {
            return;
        }

        var sizeClass = blocks[0].SizeClass;
        var state = _classes[sizeClass];
        List<RunState>? emptied = null;
        lock (state.Lock)
        {
            foreach (var block in blocks)
            {
                var run = state.CurrentFor(block.Chunk) ?? FindRun(state, block.Chunk);
                run.Return(block.Slot);
                run.FreedThrough = Math.Max(run.FreedThrough, freedThrough);
                if (mayReturnRun && run.IsEmpty(SizeClasses.Geometry[sizeClass].BlockCount) && state.CurrentFor(run.Chunk) is null)
                {
                    // Every block is free and none is reserved: the chunk goes back to the free spans, so a pool that
                    // moves from one size class to another does not keep runs it no longer uses. The class keeps its
                    // current run, so alternating one allocation and one free does not create and return a run each time.
                    state.Available.Remove(run);
                    (emptied ??= []).Add(run);
                }
            }
        }

        if (emptied is not null)
        {
            foreach (var run in emptied)
            {
                ReturnEmptyRun(run);
            }
        }
    }

    /// <summary>A run block freed this session, reserved again by the thread that kept it: its next generation, not prepared.</summary>
    public BlockReservation Reuse(in BlockReservation freed) =>
        freed with { Prepared = false, Generation = NextGeneration(freed.Chunk, freed.SizeClass, freed.Slot) };

    // A free slot reserved by one thread alone: its header word still holds the generation of its last allocation.
    private ushort NextGeneration(int chunk, int sizeClass, int slot) =>
        StampsGenerations ? BlockGeneration.After(_domain.Read<uint>(ChunkOffset(chunk) + SizeClasses.Geometry[sizeClass].TypeOffset(slot))) : (ushort)0;

    /// <summary>
    /// Reserves up to <paramref name="into"/>.Length blocks of <paramref name="size"/>'s size class under one lock
    /// (volatile only), for a thread's allocation cache. Takes a new chunk only when it has found no block at all.
    /// </summary>
    /// <param name="size">Bytes per block, at most the largest class's (<see cref="ClassCount"/>).</param>
    /// <param name="into">Receives the reservations.</param>
    /// <param name="freedThrough">The newest commit whose log may mention one of the blocks (0: none since open).</param>
    /// <returns>How many blocks were reserved (at least one).</returns>
    /// <exception cref="PoolOutOfSpaceException">No room, even after growing.</exception>
    public int ReserveMany(long size, Span<BlockReservation> into, out long freedThrough)
    {
        var sizeClass = ClassFor(size);
        var state = _classes[sizeClass];
        var arena = Arenas.OfThisThread(state.Current.Length);
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
                    chunk = CreateRun(sizeClass, size);
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
                created.LoadFreeList(_domain, ChunkOffset(chunk), SizeClasses.Geometry[sizeClass]); // all free: just zeroed
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
            into[taken++] = new BlockReservation(BlockOffset(run.Chunk, sizeClass, slot), sizeClass, run.Chunk, slot, SizeClasses.Sizes[sizeClass])
            {
                Generation = NextGeneration(run.Chunk, sizeClass, slot),
            };
        }

        freedThrough = Math.Max(freedThrough, run.FreedThrough);
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
        created.StartEmpty(SizeClasses.Geometry[_heads[chunk].SizeClass].BitmapWords);
        state.Available.Add(created);
        return created;
    }

    private long ChunkOffset(int chunk) => _heapStart + (long)chunk * ChunkSize;

    private long BlockOffset(int chunk, int sizeClass, int slot) =>
        ChunkOffset(chunk) + SizeClasses.Geometry[sizeClass].DataOffset + (long)slot * SizeClasses.Sizes[sizeClass];

    private PoolCorruptedException Corrupt(string what) => new(_poolPath, $"heap metadata is corrupted: {what}");
}
