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
    [ThreadStatic]
    private static TransactionState? t_current;

    [ThreadStatic]
    private static TransactionState? t_spare;

    private readonly List<WriteEntry> _writes = [];
    private readonly Dictionary<long, int> _writeByOffset = [];
    private readonly Dictionary<long, int> _lastWriteByLine = []; // chained through WriteEntry.PreviousInLine
    private byte[] _data = new byte[256];
    private int _dataLength;

    private TransactionState(PersistentPool pool) => Pool = pool;

    /// <summary>The calling thread's running transaction, if any.</summary>
    public static TransactionState? Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_current;
    }

    public PersistentPool Pool { get; private set; }

    public int Depth { get; private set; }

    public bool RolledBack { get; private set; }

    public bool HasWrites => _writes.Count > 0;

    public List<AllocationRecord> Allocations { get; } = [];

    public List<BlockReservation> Frees { get; } = [];

    public static TransactionState Begin(PersistentPool pool)
    {
        var current = t_current;
        if (current is not null)
        {
            if (!ReferenceEquals(current.Pool, pool))
            {
                throw new InvalidOperationException("This thread already runs a transaction on another pool; a thread runs one transaction at a time.");
            }

            current.Depth++;
            return current;
        }

        var state = t_spare ?? new TransactionState(pool);
        t_spare = null;
        state.Pool = pool;
        state.Depth = 1;
        state.RolledBack = false;
        t_current = state;
        pool.TransactionOpened();
        return state;
    }

    /// <summary>Ends the innermost level; the outermost level's end clears the thread's transaction.</summary>
    public void EndLevel()
    {
        Depth--;
        if (Depth == 0)
        {
            Reset();
            t_current = null;
            t_spare = this;
            Pool.TransactionClosed();
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

    public void Record<T>(long offset, T value) where T : unmanaged =>
        Record(offset, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    public void Record(long offset, ReadOnlySpan<byte> bytes)
    {
        if (_writeByOffset.TryGetValue(offset, out var existing) && _writes[existing].Length == bytes.Length &&
            _lastWriteByLine.GetValueOrDefault(offset >> 6) == existing && (offset + bytes.Length - 1) >> 6 == offset >> 6)
        {
            // Rewriting the newest write of its line: update it in place (no later write could be overridden).
            bytes.CopyTo(_data.AsSpan(_writes[existing].DataStart, bytes.Length));
            return;
        }

        if (_dataLength + bytes.Length > _data.Length)
        {
            Array.Resize(ref _data, Math.Max(_data.Length * 2, _dataLength + bytes.Length));
        }

        bytes.CopyTo(_data.AsSpan(_dataLength));
        var index = _writes.Count;
        var firstLine = offset >> 6;
        var lastLine = (offset + bytes.Length - 1) >> 6;
        _writes.Add(new WriteEntry(offset, bytes.Length, _dataLength, _lastWriteByLine.GetValueOrDefault(firstLine, -1)));
        _dataLength += bytes.Length;
        _writeByOffset[offset] = index;
        _lastWriteByLine[firstLine] = index;
        if (lastLine != firstLine)
        {
            // A write spanning lines (rare: fields never straddle, raw spans may) is found through a copy per extra line.
            for (var line = firstLine + 1; line <= lastLine; line++)
            {
                _writes.Add(new WriteEntry(offset, bytes.Length, _writes[index].DataStart, _lastWriteByLine.GetValueOrDefault(line, -1), IsAlias: true));
                _lastWriteByLine[line] = _writes.Count - 1;
            }
        }
    }

    /// <summary>Lays the write set over <paramref name="destination"/>, which holds the live bytes at <paramref name="offset"/>.</summary>
    public void Overlay(long offset, Span<byte> destination)
    {
        var end = offset + destination.Length;
        Span<int> chain = stackalloc int[32];
        for (var line = offset >> 6; line <= (end - 1) >> 6; line++)
        {
            if (!_lastWriteByLine.TryGetValue(line, out var index))
            {
                continue;
            }

            // The chain runs newest first; apply oldest first so later writes win.
            var count = 0;
            for (; index >= 0; index = _writes[index].PreviousInLine)
            {
                if (count == chain.Length)
                {
                    var larger = new int[chain.Length * 2];
                    chain.CopyTo(larger);
                    chain = larger;
                }

                chain[count++] = index;
            }

            for (var i = count - 1; i >= 0; i--)
            {
                var write = _writes[chain[i]];
                var from = Math.Max(offset, write.Offset);
                var to = Math.Min(end, write.Offset + write.Length);
                if (from < to)
                {
                    _data.AsSpan(write.DataStart + (int)(from - write.Offset), (int)(to - from))
                        .CopyTo(destination[(int)(from - offset)..]);
                }
            }
        }
    }

    public void AppendWrites(RedoBuilder redo)
    {
        foreach (var write in _writes)
        {
            if (!write.IsAlias)
            {
                redo.Set(write.Offset, _data.AsSpan(write.DataStart, write.Length));
            }
        }
    }

    /// <summary>True when <paramref name="offset"/> lies in a block this transaction allocated (not yet visible to anyone).</summary>
    public bool IsInOwnAllocation(long offset, long length)
    {
        foreach (var allocation in Allocations)
        {
            if (offset >= allocation.Block.Offset && offset + length <= allocation.Block.Offset + allocation.Block.Size)
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

    private void Reset()
    {
        _writes.Clear();
        _writeByOffset.Clear();
        _lastWriteByLine.Clear();
        _dataLength = 0;
        Allocations.Clear();
        Frees.Clear();
    }

    private readonly record struct WriteEntry(long Offset, int Length, int DataStart, int PreviousInLine, bool IsAlias = false);
}

/// <summary>A block a transaction allocated, the type index it will carry and how many of its bytes hold content.</summary>
internal readonly record struct AllocationRecord(BlockReservation Block, uint TypeIndex, int ContentLength);
