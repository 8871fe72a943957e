// WriteSet -- a transaction's writes kept in ordinary memory: reads see them, commit turns them into redo entries.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Log;
using Pmem.Memory;

namespace Pmem.Transactions;

/// <summary>
/// The writes of a running transaction, in the order made (a later write wins where writes overlap). Up to
/// <see cref="ScanLimit"/> writes, lookups scan them; beyond it a per-line index takes over.
/// </summary>
/// <remarks>
/// A struct kept inline in the thread's <see cref="TransactionState"/> (as <see cref="TransactionState.Writes"/>,
/// by reference), so a write or read in a transaction reaches it with no extra indirection. Never copy it.
/// </remarks>
internal struct WriteSet
{
    /// <summary>Up to this many writes, lookups scan the write set; beyond it, a per-line index takes over.</summary>
    internal const int ScanLimit = 8;

    /// <summary>log2 of <see cref="PersistenceDomain.CacheLineSize"/>: the index keys writes by cache line.</summary>
    internal const int LineShift = 6;

    private WriteEntry[] _writes = new WriteEntry[16]; // in the order made; a later write wins where writes overlap
    private int _count;
    private byte[] _data = new byte[256];
    private int _dataLength;
    private long _recorded;

    // The per-line index, built once the write set outgrows a scan: each line's newest node, chained to older ones.
    private Dictionary<long, int>? _newestNodeByLine;
    private LineNode[] _nodes = [];
    private int _nodeCount;
    private bool _indexed;

    public WriteSet()
    {
    }

    /// <summary>True when the set holds a write.</summary>
    public readonly bool HasWrites => _count > 0;

    /// <summary>Writes recorded since the thread's first transaction, rewrites included: a scope that sees it unchanged wrote nothing.</summary>
    internal readonly long Recorded => _recorded;

    /// <summary>The writes held (tests: rewrites in place do not add one).</summary>
    internal readonly int Count => _count;

    /// <summary>About the bytes the writes take in a redo log (an entry header and the data each).</summary>
    internal readonly long LoggedBytes => 16L * _count + _dataLength;

    /// <summary>Records a field write (the hot path: stores the value without span copies).</summary>
    public unsafe void Record<T>(long offset, T value) where T : unmanaged
    {
        _recorded++;
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
        _recorded++;
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

        // The newest write overlapping the range, line by line: it must be one write, of exactly this range (a write
        // spanning lines is in every line's chain; collections rewrite a whole node area again and again).
        var candidate = -1;
        for (var line = offset >> LineShift; line <= (end - 1) >> LineShift; line++)
        {
            if (!_newestNodeByLine!.TryGetValue(line, out var node))
            {
                return -1;
            }

            var found = -1;
            for (; node >= 0 && found < 0; node = _nodes[node].Previous)
            {
                ref readonly var write = ref _writes[_nodes[node].Write];
                if (write.Offset < end && offset < write.Offset + write.Length)
                {
                    found = _nodes[node].Write;
                }
            }

            if (found < 0 || (candidate >= 0 && found != candidate))
            {
                return -1;
            }

            candidate = found;
        }

        return candidate >= 0 && _writes[candidate].Offset == offset && _writes[candidate].Length == length ? candidate : -1;
    }

    /// <summary>Whether a write of this transaction touches [<paramref name="offset"/>, +<paramref name="length"/>) (by line once indexed: it may answer yes for a write near the range).</summary>
    public readonly bool Touches(long offset, int length)
    {
        var end = offset + length;
        if (!_indexed)
        {
            for (var i = 0; i < _count; i++)
            {
                if (_writes[i].Offset < end && offset < _writes[i].Offset + _writes[i].Length)
                {
                    return true;
                }
            }

            return false;
        }

        for (var line = offset >> LineShift; line <= (end - 1) >> LineShift; line++)
        {
            if (_newestNodeByLine!.ContainsKey(line))
            {
                return true;
            }
        }

        return false;
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
        for (var line = offset >> LineShift; line <= (end - 1) >> LineShift; line++)
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

            var lineStart = Math.Max(offset, line << LineShift);
            var lineEnd = Math.Min(end, (line + 1) << LineShift);
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

    /// <summary>Appends a redo entry per write, in the order made.</summary>
    public readonly void AppendTo(RedoBuilder redo)
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
        var first = _writes[write].Offset >> LineShift;
        var last = (_writes[write].Offset + _writes[write].Length - 1) >> LineShift;
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

    /// <summary>Empties the set for the thread's next transaction, dropping what a huge one grew.</summary>
    public void Clear()
    {
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
    }

    private readonly record struct WriteEntry(long Offset, int Length, int DataStart);

    private readonly record struct LineNode(int Write, int Previous);
}
