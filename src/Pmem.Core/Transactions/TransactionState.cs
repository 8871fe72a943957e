using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Pool;

namespace Pmem.Transactions;

/// <summary>
/// The running transaction of one thread: a write set kept in ordinary memory (reads see it), the blocks it
/// allocated and the blocks it will free. Nothing reaches the pool's live data before commit, so rollback is just
/// forgetting; commit turns everything into one redo log (see <c>docs/transactions.md</c>).
/// </summary>
internal sealed class TransactionState
{
    /// <summary>Up to this many writes, lookups scan the write set; beyond it, a per-line index takes over.</summary>
    internal const int ScanLimit = 8;

    // One state per thread, made once and reused: Depth 0 means no transaction is running. A single thread-static
    // keeps begin, end and every property access in a transaction to one thread-local lookup each.
    [ThreadStatic]
    private static TransactionState? t_state;

    private WriteEntry[] _writes = new WriteEntry[16]; // in the order made; a later write wins where writes overlap
    private int _count;
    private byte[] _data = new byte[256];
    private int _dataLength;

    // The per-line index, built once the write set outgrows a scan: each line's newest node, chained to older ones.
    private Dictionary<long, int>? _newestNodeByLine;
    private LineNode[] _nodes = [];
    private int _nodeCount;
    private bool _indexed;

    private TransactionState()
    {
    }

    /// <summary>The calling thread's state, running a transaction or not (null before its first transaction or batch).</summary>
    public static TransactionState? OfThread
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_state;
    }

    /// <summary>The calling thread's state, made on first use.</summary>
    public static TransactionState ForThread
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_state ?? MakeForThread();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static TransactionState MakeForThread() => t_state = new TransactionState();

    /// <summary>
    /// The <see cref="PersistentPool.InstanceId"/> of the pool of the thread's running batch (0 when none), its nesting
    /// depth, and a generation that tells a scope of an ended batch from one of the running batch. Kept here, not in a
    /// thread-static of its own, so that a write learns whether it is in a transaction or in a batch from one
    /// thread-static read (see <see cref="Batch"/>). An id, not a reference: beginning a batch then stores no
    /// reference, which would cost a GC write barrier.
    /// </summary>
    public long BatchPoolId;
    public int BatchDepth;
    public long BatchGeneration;

    /// <summary>The thread's commit bookkeeping (see <see cref="CommitPipeline"/>); null until it first commits or retires.</summary>
    public CommitPipeline.ThreadCommits? Commits;

    /// <summary>The calling thread's running transaction, if any.</summary>
    public static TransactionState? Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_state is { Depth: > 0 } state ? state : null;
    }

    /// <summary>The pool of the running transaction (null between transactions).</summary>
    public PersistentPool Pool { get; private set; } = null!;

    /// <summary>
    /// The pool whose open-transaction count includes this thread (its <see cref="PersistentPool.InstanceId"/>; 0 for
    /// none). It stays counted between transactions, so back to back transactions on one pool cost no locked
    /// instruction to begin and end; the count is given back when the thread begins one on another pool, when it
    /// reads the pool outside a transaction, or when it disposes the pool. A count too high only makes the pool's
    /// readers look at their thread-static (see PersistentPool.OwnTransaction). The pool itself is held weakly, so an
    /// idle thread keeps no pool alive.
    /// </summary>
    private long _countedPoolId;
    private WeakReference<PersistentPool>? _countedPool;

    public int Depth { get; private set; }

    public bool RolledBack { get; private set; }

    public bool HasWrites => _count > 0;

    /// <summary>
    /// The thread's redo builder, emptied: every commit the thread makes (a transaction's, or a single change's outside
    /// one) is built and committed at once, so one builder per thread serves them all.
    /// </summary>
    public RedoBuilder RentRedo()
    {
        var redo = _redo ??= new RedoBuilder();
        redo.Clear();
        return redo;
    }

    private RedoBuilder? _redo;

    public List<AllocationRecord> Allocations { get; } = [];

    public List<BlockReservation> Frees { get; } = [];

    public static TransactionState Begin(PersistentPool pool)
    {
        var state = ForThread;
        if (state.Depth > 0)
        {
            if (!ReferenceEquals(state.Pool, pool))
            {
                throw new InvalidOperationException("This thread already runs a transaction on another pool; a thread runs one transaction at a time.");
            }

            state.Depth++;
            return state;
        }

        state.Pool = pool;
        state.Depth = 1;
        state.RolledBack = false;
        if (state._countedPoolId != pool.InstanceId)
        {
            state.CountOn(pool);
        }

        return state;
    }

    /// <summary>
    /// The calling thread's transaction on <paramref name="pool"/>, if any. A thread found idle but still counted on
    /// the pool gives the count back, so that reads outside transactions go back to skipping the thread-static.
    /// </summary>
    public static TransactionState? OnPool(PersistentPool pool)
    {
        var state = t_state;
        if (state is null)
        {
            return null;
        }

        if (state.Depth > 0)
        {
            return ReferenceEquals(state.Pool, pool) ? state : null;
        }

        state.StopCounting(pool);
        return null;
    }

    /// <summary>Gives back the calling thread's count on <paramref name="pool"/>, if it holds one and is idle.</summary>
    public static void StopCountingOnThisThread(PersistentPool pool)
    {
        if (t_state is { Depth: 0 } state)
        {
            state.StopCounting(pool);
        }
    }

    private void StopCounting(PersistentPool pool)
    {
        if (_countedPoolId == pool.InstanceId)
        {
            (_countedPoolId, _countedPool) = (0, null);
            pool.TransactionClosed();
        }
    }

    private void CountOn(PersistentPool pool)
    {
        if (_countedPool is { } previous && previous.TryGetTarget(out var counted))
        {
            counted.TransactionClosed(); // (a collected pool has no readers left to mislead)
        }

        pool.TransactionOpened();
        (_countedPoolId, _countedPool) = (pool.InstanceId, pool.WeakSelf);
    }

    /// <summary>Ends the innermost level; the outermost level's end clears the thread's transaction.</summary>
    public void EndLevel()
    {
        Depth--;
        if (Depth == 0)
        {
            Reset(); // the pool stays counted: see _countedPoolId
        }
    }

    /// <summary>Forgets every change; outer levels can then only roll back too.</summary>
    public void RollBack()
    {
        if (!RolledBack)
        {
            RolledBack = true;
            Pool.ReleaseReservations(this);
        }
    }

    /// <summary>Records a field write (the hot path: stores the value without span copies).</summary>
    public unsafe void Record<T>(long offset, T value) where T : unmanaged
    {
        var existing = FindRewritable(offset, sizeof(T));
        if (existing >= 0)
        {
            Unsafe.WriteUnaligned(ref _data[_writes[existing].DataStart], value);
            return;
        }

        var start = Append(offset, sizeof(T)); // before reading _data: appending may replace the array
        Unsafe.WriteUnaligned(ref _data[start], value);
    }

    public void Record(long offset, ReadOnlySpan<byte> bytes)
    {
        var length = bytes.Length;
        if (length == 0)
        {
            return;
        }

        var existing = FindRewritable(offset, length);
        if (existing >= 0)
        {
            // No later write overlaps it, so overwriting its bytes is the same as appending a new write.
            bytes.CopyTo(_data.AsSpan(_writes[existing].DataStart, length));
            return;
        }

        var start = Append(offset, length); // before reading _data: appending may replace the array
        bytes.CopyTo(_data.AsSpan(start, length));
    }

    /// <summary>Adds a write of <paramref name="length"/> bytes at <paramref name="offset"/>; returns where its data goes in <see cref="_data"/>.</summary>
    private int Append(long offset, int length)
    {
        var dataStart = _dataLength;
        if (dataStart + length > _data.Length)
        {
            Array.Resize(ref _data, Math.Max(_data.Length * 2, dataStart + length));
        }

        if (_count == _writes.Length)
        {
            Array.Resize(ref _writes, _writes.Length * 2);
        }

        _writes[_count] = new WriteEntry(offset, length, dataStart);
        _dataLength = dataStart + length;
        _count++;
        if (_indexed)
        {
            Index(_count - 1);
        }
        else if (_count > ScanLimit)
        {
            BuildIndex();
        }

        return dataStart;
    }

    /// <summary>
    /// The write to update in place for a write of <paramref name="length"/> bytes at <paramref name="offset"/>: one
    /// with the same offset and length that no later write overlaps; -1 when there is none.
    /// </summary>
    private int FindRewritable(long offset, int length)
    {
        var end = offset + length;
        if (!_indexed)
        {
            for (var i = _count - 1; i >= 0; i--)
            {
                ref readonly var write = ref _writes[i];
                if (write.Offset < end && offset < write.Offset + write.Length)
                {
                    return write.Offset == offset && write.Length == length ? i : -1;
                }
            }

            return -1;
        }

        if ((end - 1) >> 6 != offset >> 6 || !_newestNodeByLine!.TryGetValue(offset >> 6, out var node))
        {
            return -1; // a write spanning lines is simply appended (rare: fields never straddle a line)
        }

        for (; node >= 0; node = _nodes[node].Previous)
        {
            ref readonly var write = ref _writes[_nodes[node].Write];
            if (write.Offset < end && offset < write.Offset + write.Length)
            {
                return write.Offset == offset && write.Length == length ? _nodes[node].Write : -1;
            }
        }

        return -1;
    }

    /// <summary>
    /// The value at <paramref name="offset"/> as this transaction sees it, given the <paramref name="live"/> value in
    /// the pool. The common case (the newest write there is exactly this field) reads it without copying spans.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe T Read<T>(long offset, T live) where T : unmanaged
    {
        if (!_indexed)
        {
            var end = offset + sizeof(T);
            for (var i = _count - 1; i >= 0; i--)
            {
                ref readonly var write = ref _writes[i];
                if (write.Offset < end && offset < write.Offset + write.Length)
                {
                    if (write.Offset == offset && write.Length == sizeof(T))
                    {
                        return Unsafe.ReadUnaligned<T>(ref _data[write.DataStart]);
                    }

                    Overlay(offset, new Span<byte>(&live, sizeof(T)));
                    return live;
                }
            }

            return live;
        }

        Overlay(offset, new Span<byte>(&live, sizeof(T)));
        return live;
    }

    /// <summary>Lays the write set over <paramref name="destination"/>, which holds the live bytes at <paramref name="offset"/>.</summary>
    public void Overlay(long offset, Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }

        var end = offset + destination.Length;
        if (!_indexed)
        {
            for (var i = 0; i < _count; i++)
            {
                CopyOverlap(in _writes[i], offset, end, destination);
            }

            return;
        }

        Span<int> chain = stackalloc int[32];
        for (var line = offset >> 6; line <= (end - 1) >> 6; line++)
        {
            if (!_newestNodeByLine!.TryGetValue(line, out var node))
            {
                continue;
            }

            // The chain runs newest first; apply oldest first so later writes win. Each line takes only its own
            // bytes: a write spanning lines must not reach into a line where a later write overrides it.
            var count = 0;
            for (; node >= 0; node = _nodes[node].Previous)
            {
                if (count == chain.Length)
                {
                    var larger = new int[chain.Length * 2];
                    chain.CopyTo(larger);
                    chain = larger;
                }

                chain[count++] = _nodes[node].Write;
            }

            var lineStart = Math.Max(offset, line << 6);
            var lineEnd = Math.Min(end, (line + 1) << 6);
            for (var i = count - 1; i >= 0; i--)
            {
                CopyOverlap(in _writes[chain[i]], lineStart, lineEnd, destination[(int)(lineStart - offset)..]);
            }
        }
    }

    /// <summary>Copies the part of <paramref name="write"/> inside [from, to) into <paramref name="destination"/>, which starts at from.</summary>
    private void CopyOverlap(in WriteEntry write, long from, long to, Span<byte> destination)
    {
        var start = Math.Max(from, write.Offset);
        var stop = Math.Min(to, write.Offset + write.Length);
        if (start < stop)
        {
            _data.AsSpan(write.DataStart + (int)(start - write.Offset), (int)(stop - start)).CopyTo(destination[(int)(start - from)..]);
        }
    }

    public void AppendWrites(RedoBuilder redo)
    {
        for (var i = 0; i < _count; i++)
        {
            ref readonly var write = ref _writes[i];
            if (write.Length == 8)
            {
                redo.SetWord(write.Offset, Unsafe.ReadUnaligned<long>(ref _data[write.DataStart]));
            }
            else
            {
                redo.Set(write.Offset, _data.AsSpan(write.DataStart, write.Length));
            }
        }
    }

    /// <summary>True when <paramref name="offset"/> lies in a block this transaction allocated (not yet visible to anyone).</summary>
    public bool IsInOwnAllocation(long offset, long length)
    {
        // Newest first: a write usually goes to the object just made.
        var allocations = CollectionsMarshal.AsSpan(Allocations);
        for (var i = allocations.Length - 1; i >= 0; i--)
        {
            var block = allocations[i].Block;
            if (offset >= block.Offset && offset + length <= block.Offset + block.Size)
            {
                return true;
            }
        }

        return false;
    }

    public bool TryFindAllocation(long offset, out AllocationRecord record)
    {
        foreach (var allocation in Allocations)
        {
            if (allocation.Block.Offset == offset)
            {
                record = allocation;
                return true;
            }
        }

        record = default;
        return false;
    }

    private void BuildIndex()
    {
        _newestNodeByLine ??= [];
        _indexed = true;
        for (var i = 0; i < _count; i++)
        {
            Index(i);
        }
    }

    private void Index(int write)
    {
        var index = _newestNodeByLine!;
        var first = _writes[write].Offset >> 6;
        var last = (_writes[write].Offset + _writes[write].Length - 1) >> 6;
        for (var line = first; line <= last; line++)
        {
            if (_nodeCount == _nodes.Length)
            {
                Array.Resize(ref _nodes, Math.Max(64, _nodes.Length * 2));
            }

            ref var newest = ref CollectionsMarshal.GetValueRefOrAddDefault(index, line, out var seen);
            _nodes[_nodeCount] = new LineNode(write, seen ? newest : -1);
            newest = _nodeCount++;
        }
    }

    private void Reset()
    {
        Pool = null!;
        _count = 0;
        _dataLength = 0;
        if (_indexed)
        {
            _indexed = false;
            _nodeCount = 0;
            _newestNodeByLine?.Clear();
        }

        // Drop what a huge transaction grew rather than keep it for the life of the thread.
        if (_writes.Length > 4096)
        {
            (_writes, _nodes, _newestNodeByLine) = (new WriteEntry[16], [], null);
        }

        if (_data.Length > 1 << 16)
        {
            _data = new byte[256];
        }

        Allocations.Clear();
        Frees.Clear();
    }

    private readonly record struct WriteEntry(long Offset, int Length, int DataStart);

    private readonly record struct LineNode(int Write, int Previous);
}

/// <summary>A block a transaction allocated, the type index it will carry and how many of its bytes hold content.</summary>
internal readonly record struct AllocationRecord(BlockReservation Block, uint TypeIndex, int ContentLength);
