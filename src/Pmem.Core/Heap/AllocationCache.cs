// AllocationCache -- one thread's prepared blocks for one pool, per type index, and the blocks its commits freed, per size class.
using System.Runtime.InteropServices;

namespace Pmem.Heap;

/// <summary>
/// One thread's prepared blocks for one pool, per type index: reserved from the heap a batch at a time (one lock),
/// zeroed and stamped with their type index, and drained once per batch. Allocating outside a transaction then only
/// sets the block's bitmap bit: one flushed line and one drain, no lock, no log (see <c>docs/transactions.md</c>).
/// A batch prepared inside a transaction is not drained: the commit that publishes its blocks drains or checks their
/// content as it does any new block's (<see cref="HoldsUndrained"/>).
/// </summary>
/// <remarks>
/// <para>
/// The blocks are reserved in volatile state only: their bits are clear, so a crash frees them. A cache whose thread
/// ends returns its blocks to the heap from its finalizer; a thread that moves to another pool returns them at once;
/// an allocation that finds the pool full takes them back from every other thread not allocating at that moment.
/// </para>
/// <para>
/// Blocks the thread's commits free are kept here too, per size class, up to <see cref="FreedCapacity"/>, and go first
/// into its next batch of that class: a thread that frees as much as it allocates then takes no lock, where every
/// free took the size class's lock, a line every allocating thread wrote (docs/transactions.md, "What every commit
/// still shares"). A full class gives its older half back to the heap under one lock.
/// </para>
/// <para>
/// A kept block is taken only once the retirement watermark durably covers the commit that freed it (each block keeps
/// that commit's bound): making R cover a commit just freed took an extra drain, and on a power-failure pool it waited
/// for every older commit on other lanes, which a descheduled thread holds back for a whole time slice. A block R does
/// not cover yet stays kept for a later batch, and the batch is filled from the heap instead.
/// </para>
/// </remarks>
internal sealed class AllocationCache
{
    /// <summary>Most blocks prepared per batch (32 blocks of 64 bytes: two lines of type indexes, 2 KiB zeroed).</summary>
    public const int MaxBatch = 32;

    private readonly PoolHeap _heap;
    private readonly BlockReservation[]?[] _blocks;
    private readonly int[] _counts; // per type index: the pool's whole range of indexes
    private readonly FreedBlocks?[] _freed = new FreedBlocks?[SizeClasses.Count];

    /// <summary>Most freed blocks kept per size class: two of the largest batches.</summary>
    public const int FreedCapacity = 2 * MaxBatch;

    /// <summary>
    /// Whether some prepared blocks were prepared inside a transaction without a drain of their own (the owner's next
    /// drain makes them durable): an allocation outside a transaction drains before it sets a bit. Owner only.
    /// </summary>
    public bool HoldsUndrained { get; set; }

    // Who uses the cache: its owner, inside one of its operations; another thread, giving its blocks back (the pool ran
    // out of room, or the owner ended); nobody. An owner's operation takes it with one uncontended compare-exchange on a
    // line of its own (a collection may move two threads' caches next to each other); a give-back takes it only from
    // nobody, never waits for the owner, and ends after returning blocks to the heap, which needs nothing the owner holds.
    private const int Idle = 0, InUse = 1, Returning = 2, GivenBackState = 3;
    private readonly Thread _owner = Thread.CurrentThread; // a cache is made by the thread that uses it
    private UseWord _use;

    public AllocationCache(PoolHeap heap, int typeIndexCount)
    {
        _heap = heap;
        _blocks = new BlockReservation[]?[typeIndexCount];
        _counts = new int[typeIndexCount];
    }

    // The finalizer changes only volatile state (the pool may be closing): an emptied run stays a run until reused.
    ~AllocationCache() => GiveBack(mayReturnRuns: false);

    /// <summary>True once every block went back for good (<see cref="GiveBack"/> or the finalizer).</summary>
    public bool GivenBack => Volatile.Read(ref _use.Value) == GivenBackState;

    /// <summary>True once the thread that used this cache has ended: nothing will take from it or add to it again.</summary>
    public bool OwnerEnded => !_owner.IsAlive;

    /// <summary>
    /// Gives every block back to the heap for good: when the owner moves to another pool, when the pool runs out of room
    /// after the owner has ended, or from the finalizer. Only the first call gives them back; one that comes while
    /// blocks go back waits until they are back.
    /// </summary>
    /// <returns>True when this call gave blocks back, or waited for another call giving some back.</returns>
    public bool GiveBack(bool mayReturnRuns)
    {
        var waited = false;
        var spins = new SpinWait();
        while (Interlocked.CompareExchange(ref _use.Value, Returning, Idle) is var state && state != Idle)
        {
            if (state == GivenBackState)
            {
                return waited;
            }

            waited |= state == Returning; // the finalizer, say, is putting them back: they are worth trying again for
            spins.SpinOnce();
        }

        var held = HoldsBlocks;
        try
        {
            ReturnAll(0, mayReturnRuns);
        }
        finally
        {
            Volatile.Write(ref _use.Value, GivenBackState);
            GC.SuppressFinalize(this);
        }

        return held | waited;
    }

    /// <summary>
    /// Gives every block back to the heap while the owner lives on (the pool ran out of room on another thread), unless
    /// the owner is inside an operation on the cache now: then it keeps them, and nobody waits.
    /// </summary>
    /// <returns>True when blocks went back.</returns>
    public bool TakeBack()
    {
        if (Interlocked.CompareExchange(ref _use.Value, Returning, Idle) != Idle)
        {
            return false;
        }

        try
        {
            var held = HoldsBlocks;
            ReturnAll(0, mayReturnRuns: true);
            return held;
        }
        finally
        {
            Volatile.Write(ref _use.Value, Idle);
        }
    }

    /// <summary>The owner starts an operation: waits while another thread gives the blocks back.</summary>
    private void Enter()
    {
        if (Interlocked.CompareExchange(ref _use.Value, InUse, Idle) != Idle)
        {
            WaitToEnter();
        }
    }

    private void WaitToEnter()
    {
        var spins = new SpinWait();
        while (Interlocked.CompareExchange(ref _use.Value, InUse, Idle) is var state && state != Idle)
        {
            if (state != Returning)
            {
                // Given back for good (only once no thread can use it) or entered twice: a bug, never a wait without end.
                throw new InvalidOperationException($"An allocation cache was used in state {state}.");
            }

            spins.SpinOnce();
        }
    }

    private void Exit() => Volatile.Write(ref _use.Value, Idle);

    public PoolHeap Heap => _heap;

    /// <summary>Blocks to prepare at once for blocks of <paramref name="blockSize"/> bytes: 2 KiB worth, 2 to 32.</summary>
    public static int BatchFor(int blockSize) => Math.Clamp(2048 / blockSize, 2, MaxBatch);

    /// <summary>True when any type's cache, or any size class's freed blocks, hold a block.</summary>
    public bool HoldsBlocks => _counts.AsSpan().ContainsAnyExcept(0) || Array.Exists(_freed, freed => freed is { Count: > 0 });

    public bool TryTake(uint typeIndex, out BlockReservation block)
    {
        Enter();
        try
        {
            ref var count = ref _counts[typeIndex];
            var taken = count != 0;
            block = taken ? _blocks[typeIndex]![--count] : default;
            return taken;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Adds prepared blocks (the cache for <paramref name="typeIndex"/> is empty).</summary>
    public void Add(uint typeIndex, ReadOnlySpan<BlockReservation> blocks)
    {
        Enter();
        try
        {
            // Reversed, so that they are taken in the order prepared: in slot order, where a commit logs adjacent blocks' types as one entry.
            var store = _blocks[typeIndex] ??= new BlockReservation[MaxBatch];
            for (var i = 0; i < blocks.Length; i++)
            {
                store[blocks.Length - 1 - i] = blocks[i];
            }

            _counts[typeIndex] = blocks.Length;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Keeps a block a commit of this thread has just freed, for this thread's next batch of its size class (a large
    /// or mid-size block goes back to the heap at once: a thread keeping dozens of them would hold chunks).
    /// <paramref name="freedThrough"/> is as for <see cref="PoolHeap.Release"/>.
    /// </summary>
    public void KeepFreed(in BlockReservation block, long freedThrough)
    {
        if (block.IsLarge || block.SizeClass >= SizeClasses.LegacyCount)
        {
            _heap.Release(block, freedThrough);
            return;
        }

        Enter();
        try
        {
            Keep(block, freedThrough);
        }
        finally
        {
            Exit();
        }
    }

    private void Keep(in BlockReservation block, long freedThrough)
    {
        var freed = _freed[block.SizeClass] ??= new FreedBlocks();
        if (freed.Offsets.AsSpan(0, freed.Count).Contains(block.Offset))
        {
            return; // kept already: a block kept twice would be handed to two owners
        }

        if (freed.Count == FreedCapacity)
        {
            // The older half goes back in one lock; the newer half, likelier in cache, stays.
            _heap.ReleaseMany(freed.Blocks.AsSpan(0, FreedCapacity / 2), Max(freed.FreedThrough.AsSpan(0, FreedCapacity / 2)));
            freed.Remove(0, FreedCapacity / 2);
        }

        freed.Blocks[freed.Count] = block;
        freed.Offsets[freed.Count] = block.Offset;
        freed.FreedThrough[freed.Count++] = freedThrough;
    }

    /// <summary>
    /// Takes up to <paramref name="into"/>.Length kept freed blocks of <paramref name="sizeClass"/> whose freeing
    /// commits the durable retirement watermark covers, the newest of them first, reserved again with their next
    /// generation; the others stay kept. <paramref name="freedThrough"/> covers every commit whose log may mention the
    /// blocks taken (0: none taken).
    /// </summary>
    public int TakeFreed(int sizeClass, Span<BlockReservation> into, out long freedThrough)
    {
        Enter();
        try
        {
            return TakeCoveredFreed(sizeClass, into, out freedThrough);
        }
        finally
        {
            Exit();
        }
    }

    private int TakeCoveredFreed(int sizeClass, Span<BlockReservation> into, out long freedThrough)
    {
        freedThrough = 0;
        if (_freed[sizeClass] is not { Count: > 0 } freed)
        {
            return 0;
        }

        // Read only when a block is kept: it may read every lane's record. A thread's frees are kept in commit order,
        // so the blocks R covers come first: up to the first it does not.
        var retired = _heap.RetiredDurable;
        var covered = freed.FreedThrough.AsSpan(0, freed.Count).IndexOfAnyInRange(retired + 1, long.MaxValue) is >= 0 and var uncovered
            ? uncovered
            : freed.Count;

        var taken = Math.Min(into.Length, covered);
        var first = covered - taken;
        for (var i = 0; i < taken; i++)
        {
            into[i] = _heap.Reuse(freed.Blocks[first + i]);
        }

        freedThrough = taken == 0 ? 0 : Max(freed.FreedThrough.AsSpan(first, taken));
        freed.Remove(first, taken);
        return taken;
    }

    /// <summary>Freed blocks kept for <paramref name="sizeClass"/> (for tests).</summary>
    internal int FreedCount(int sizeClass) => _freed[sizeClass]?.Count ?? 0;

    private static long Max(ReadOnlySpan<long> values)
    {
        var max = 0L;
        foreach (var value in values)
        {
            max = Math.Max(max, value);
        }

        return max;
    }

    /// <summary>Gives every cached block back to the heap's free lists (the owner, out of room itself).</summary>
    public void ReturnAll()
    {
        Enter();
        try
        {
            ReturnAll(0, mayReturnRuns: true);
        }
        finally
        {
            Exit();
        }
    }

    private void ReturnAll(long freedThrough, bool mayReturnRuns)
    {
        for (var type = 0; type < _counts.Length; type++)
        {
            for (var i = 0; i < _counts[type]; i++)
            {
                _heap.Release(_blocks[type]![i], freedThrough, mayReturnRuns);
            }

            _counts[type] = 0;
        }

        foreach (var freed in _freed)
        {
            if (freed is { Count: > 0 })
            {
                _heap.ReleaseMany(freed.Blocks.AsSpan(0, freed.Count), Math.Max(Max(freed.FreedThrough.AsSpan(0, freed.Count)), freedThrough), mayReturnRuns);
                freed.Count = 0;
            }
        }
    }

    /// <summary>Who uses the cache, with the rest of its line and the line before it padding.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 2 * 64)]
    private struct UseWord
    {
        [FieldOffset(64)]
        public int Value;
    }

    /// <summary>
    /// One size class's kept freed blocks in the order their commits freed them, each with the bound of its freeing
    /// commit (offsets apart, so the duplicate check is one vector search).
    /// </summary>
    private sealed class FreedBlocks
    {
        public readonly BlockReservation[] Blocks = new BlockReservation[FreedCapacity];
        public readonly long[] Offsets = new long[FreedCapacity];
        public readonly long[] FreedThrough = new long[FreedCapacity];
        public int Count;

        /// <summary>Removes <paramref name="count"/> blocks from <paramref name="start"/> on, keeping the others' order.</summary>
        public void Remove(int start, int count)
        {
            var after = start + count;
            Blocks.AsSpan(after, Count - after).CopyTo(Blocks.AsSpan(start));
            Offsets.AsSpan(after, Count - after).CopyTo(Offsets.AsSpan(start));
            FreedThrough.AsSpan(after, Count - after).CopyTo(FreedThrough.AsSpan(start));
            Count -= count;
        }
    }
}
