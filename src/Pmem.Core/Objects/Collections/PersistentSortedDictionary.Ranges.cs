// PersistentSortedDictionary (ranges) -- ordered scans along the leaf chain, forward and backward, with inclusive or exclusive bounds.
using System.Buffers.Binary;
using System.Collections;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Pool;
using static Pmem.Pool.SortedLayout;

namespace Pmem.Objects;

public sealed partial class PersistentSortedDictionary<TKey, TValue>
{
    /// <summary>
    /// The entries with keys between <paramref name="lower"/> and <paramref name="upper"/>, in ascending key order (or
    /// descending), lazily; throws if the dictionary changes meanwhile. An empty range (lower above upper) yields nothing.
    /// </summary>
    /// <param name="lower">The lower bound.</param>
    /// <param name="upper">The upper bound.</param>
    /// <param name="lowerInclusive">Whether a key equal to <paramref name="lower"/> is included (default: yes).</param>
    /// <param name="upperInclusive">Whether a key equal to <paramref name="upper"/> is included (default: no).</param>
    /// <param name="descending">From the upper bound down instead of from the lower bound up.</param>
    public Entries Range(TKey lower, TKey upper, bool lowerInclusive = true, bool upperInclusive = false, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(lower);
        ArgumentNullException.ThrowIfNull(upper);
        return Scan(lower, true, lowerInclusive, upper, true, upperInclusive, descending);
    }

    /// <summary>The entries with keys at or above (or, not <paramref name="inclusive"/>, above) <paramref name="lower"/>.</summary>
    public Entries From(TKey lower, bool inclusive = true, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(lower);
        return Scan(lower, true, inclusive, default!, false, false, descending);
    }

    /// <summary>The entries with keys below (or, <paramref name="inclusive"/>, at or below) <paramref name="upper"/>.</summary>
    public Entries To(TKey upper, bool inclusive = false, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(upper);
        return Scan(default!, false, false, upper, true, inclusive, descending);
    }

    /// <summary>Every entry in descending key order.</summary>
    public Entries Reversed() => Scan(default!, false, false, default!, false, false, descending: true);

    private Entries Scan(TKey lower, bool hasLower, bool lowerInclusive, TKey upper, bool hasUpper, bool upperInclusive, bool descending) =>
        new(this, new(hasLower, lower, lowerInclusive), new(hasUpper, upper, upperInclusive), descending);

    /// <summary>
    /// Entries of the dictionary between two optional bounds, in ascending or descending key order, read lazily along
    /// the leaf chain each time they are enumerated (what <see cref="Range"/>, <see cref="From"/>, <see cref="To"/> and
    /// <see cref="Reversed"/> return). <c>foreach</c> uses its <see cref="Enumerator"/> without interface calls; LINQ
    /// sees an <see cref="IEnumerable{T}"/>.
    /// </summary>
    public readonly struct Entries : IEnumerable<KeyValuePair<TKey, TValue>>
    {
        private readonly PersistentSortedDictionary<TKey, TValue> _map;
        private readonly Bound<TKey> _lower;
        private readonly Bound<TKey> _upper;
        private readonly bool _descending;

        internal Entries(PersistentSortedDictionary<TKey, TValue> map, Bound<TKey> lower, Bound<TKey> upper, bool descending) =>
            (_map, _lower, _upper, _descending) = (map, lower, upper, descending);

        /// <summary>Starts an enumeration (nothing is read before its first <see cref="Enumerator.MoveNext"/>).</summary>
        public Enumerator GetEnumerator() => new(_map ?? throw new InvalidOperationException("A default Entries enumerates no dictionary."), _lower, _upper, _descending);

        IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>
    /// Enumerates <see cref="Entries"/>: holds a copy of one leaf at a time and decodes an entry per step; throws
    /// <see cref="InvalidOperationException"/> from <see cref="MoveNext"/> once the dictionary has changed.
    /// </summary>
    public sealed class Enumerator : IEnumerator<KeyValuePair<TKey, TValue>>
    {
        private readonly PersistentSortedDictionary<TKey, TValue> _map;
        private readonly PersistentPool _pool;
        private readonly Bound<TKey> _lower, _upper;
        private readonly bool _descending;
        private readonly int _step;
        private readonly int _entrySize;
        private readonly int _keySize;
        private readonly bool _plain; // keys and values are their bytes: the step within a leaf decodes in line
        private byte[]? _buffer; // the current leaf, as this thread saw it when it was loaded
        private long _versionAt; // the header's version word
        private long _version;
        private long _leavesLeft;
        private int _position; // the entry last returned (or, before it, where the leaf's first is)
        private int _stop; // the first position in the step's direction this leaf does not return
        private bool _stopIsFarBound; // _stop is where the far bound falls, not the leaf's end
        private SearchKey<TKey> _far; // the far bound, prepared once (when set)
        private State _state;

        internal Enumerator(PersistentSortedDictionary<TKey, TValue> map, Bound<TKey> lower, Bound<TKey> upper, bool descending)
        {
            (_map, _pool, _lower, _upper, _descending) = (map, map._pool, lower, upper, descending);
            (_step, _entrySize, _keySize) = (descending ? -1 : 1, map._leafEntry, map._keySize);
            _plain = !RuntimeHelpers.IsReferenceOrContainsReferences<TKey>() && !RuntimeHelpers.IsReferenceOrContainsReferences<TValue>() &&
                map._keys.Codec.IsPlainBytes && map._values.IsPlainBytes;
        }

        private enum State
        {
            NotStarted,
            Running,
            Done,
        }

        /// <inheritdoc />
        public KeyValuePair<TKey, TValue> Current { get; private set; }

        object IEnumerator.Current => Current;

        /// <inheritdoc />
        /// <exception cref="InvalidOperationException">The dictionary changed since the enumeration started.</exception>
        /// <exception cref="PoolCorruptedException">A leaf link or the leaf chain is damaged.</exception>
        public bool MoveNext()
        {
            // The common step, small enough to be inlined into a foreach: the next entry of the same leaf, of plain bytes.
            var next = _position + _step;
            if (!RuntimeHelpers.IsReferenceOrContainsReferences<TKey>() && !RuntimeHelpers.IsReferenceOrContainsReferences<TValue>() &&
                _plain && next != _stop && _state == State.Running && _pool.ReadValue<long>(_versionAt) == _version)
            {
                _position = next;
                ref var entry = ref _buffer![EntriesOffset + (next * _entrySize)];
                Current = new(Unsafe.ReadUnaligned<TKey>(ref entry), Unsafe.ReadUnaligned<TValue>(ref Unsafe.Add(ref entry, _keySize)));
                return true;
            }

            return MoveNextSlowly();
        }

        private bool MoveNextSlowly()
        {
            if (_state == State.Done)
            {
                return false;
            }

            if (_state == State.NotStarted)
            {
                _state = State.Running;
                if (!Start())
                {
                    return Finish();
                }
            }
            else
            {
                if (_pool.ReadValue<long>(_versionAt) != _version)
                {
                    throw new InvalidOperationException("The sorted dictionary was modified during enumeration.");
                }

                _position += _step;
            }

            while (_position == _stop)
            {
                if (_stopIsFarBound || !NextLeaf())
                {
                    return Finish();
                }
            }

            var entry = _buffer.AsSpan(EntriesOffset + _position * _entrySize, _entrySize);
            Current = new(_map._keys.Codec.Decode(_pool, entry[.._keySize]), _map._values.Decode(_pool, entry[_keySize..]));
            return true;
        }

        /// <summary>Finds the first leaf and entry; false when the range is empty.</summary>
        private bool Start()
        {
            var header = _map.Header;
            if (header == 0)
            {
                return false;
            }

            _versionAt = header + CollectionLayout.VersionOffset;
            _version = _pool.ReadValue<long>(_versionAt);
            if (_map.Root == 0 || _map.IsEmptyRange(_lower, _upper))
            {
                return false;
            }

            _buffer = new byte[_map._nodeSize];
            var far = _descending ? _lower : _upper;
            _far = far.IsSet ? _map._keys.Prepare(far.Value!) : default;
            _position = _descending
                ? _map.StartBackward(_upper.Value!, _upper.IsSet, _upper.Inclusive, _buffer)
                : _map.StartForward(_lower.Value!, _lower.IsSet, _lower.Inclusive, _buffer);
            _leavesLeft = _map.HeaderValue(NodeCountOffset); // a damaged leaf chain that loops ends here
            Entered();
            return true;
        }

        /// <summary>
        /// For a leaf just loaded into the buffer: counts it against the chain's bound and finds where its entries stop,
        /// at its end or, in the leaf where the far bound falls, at the bound (compared there only: in the other leaves
        /// the last entry in the scan's direction is inside it, so every entry is).
        /// </summary>
        private void Entered()
        {
            if (_leavesLeft-- <= 0)
            {
                throw new PoolCorruptedException(_pool.Path, $"the sorted collection at {_map.Header} has a leaf chain longer than its {_map.HeaderValue(NodeCountOffset)} nodes");
            }

            var count = _map.EntryCount(_buffer);
            var far = _descending ? _lower : _upper;
            (_stop, _stopIsFarBound) = (_descending ? -1 : count, false);
            if (count == 0 || !far.IsSet || _map.InsideFarBound(KeyAt(_descending ? 0 : count - 1), _descending, true, _far, far.Inclusive))
            {
                return;
            }

            var stop = _position;
            while (stop != _stop && _map.InsideFarBound(KeyAt(stop), _descending, true, _far, far.Inclusive))
            {
                stop += _step;
            }

            (_stop, _stopIsFarBound) = (stop, true);
        }

        private ReadOnlySpan<byte> KeyAt(int position) => _buffer.AsSpan(EntriesOffset + position * _entrySize, _keySize);

        /// <summary>Loads the next leaf in the scan's direction; false at the chain's end.</summary>
        private bool NextLeaf()
        {
            var leaf = BinaryPrimitives.ReadInt64LittleEndian(_buffer.AsSpan(_descending ? NodePreviousOffset : NodeNextOffset));
            if (leaf == 0)
            {
                return false;
            }

            _map.LoadLeaf(leaf, _buffer!);
            _position = _descending ? _map.EntryCount(_buffer) - 1 : 0;
            Entered();
            return true;
        }

        private bool Finish()
        {
            (_state, _buffer, Current) = (State.Done, null, default);
            return false;
        }

        /// <summary>Not supported: enumerate the <see cref="Entries"/> again instead.</summary>
        /// <exception cref="NotSupportedException">Always.</exception>
        public void Reset() => throw new NotSupportedException();

        /// <inheritdoc />
        public void Dispose() => _state = State.Done;
    }

    /// <summary>Whether no key can lie between the bounds: both set, and the lower above the upper (or equal, either excluded).</summary>
    private bool IsEmptyRange(Bound<TKey> lower, Bound<TKey> upper) =>
        lower.IsSet && upper.IsSet && _keys.Compare(lower.Value!, upper.Value!) is var c && (c > 0 || (c == 0 && !(lower.Inclusive && upper.Inclusive)));

    /// <summary>Whether a key slot lies inside the bound a scan ends at (the upper one ascending, the lower one descending).</summary>
    private bool InsideFarBound(ReadOnlySpan<byte> slot, bool descending, bool hasBound, in SearchKey<TKey> bound, bool inclusive)
    {
        if (!hasBound)
        {
            return true;
        }

        var c = _keys.Compare(_pool, slot, bound);
        return descending ? c > 0 || (c == 0 && inclusive) : c < 0 || (c == 0 && inclusive);
    }

    /// <summary>Copies a leaf into <paramref name="buffer"/> as this thread sees it (an enumeration holds no span across yields).</summary>
    private void LoadLeaf(long leaf, byte[] buffer)
    {
        ThrowIfNotNode(leaf);
        if (_pool.HasUncommittedWrites)
        {
            _pool.ReadBytes(leaf, buffer);
        }
        else
        {
            _domain.GetSpan(leaf, _nodeSize).CopyTo(buffer);
            _domain.ThrowIfDisposedAfterAccess();
        }
    }

    /// <summary>Loads the leaf where an ascending scan from the bound starts into <paramref name="buffer"/>; returns the entry.</summary>
    private int StartForward(TKey lower, bool hasLower, bool inclusive, byte[] buffer)
    {
        var search = hasLower ? _keys.Prepare(lower) : default;
        LoadLeafOf(hasLower, search, buffer);
        if (!hasLower)
        {
            return 0;
        }

        var position = LowerBound(buffer, search, out var found);
        return found && !inclusive ? position + 1 : position; // past the leaf's end: the scan moves to the next
    }

    /// <summary>Loads the leaf where a descending scan from the bound starts into <paramref name="buffer"/>; returns the entry.</summary>
    private int StartBackward(TKey upper, bool hasUpper, bool inclusive, byte[] buffer)
    {
        var search = hasUpper ? _keys.Prepare(upper) : default;
        LoadLeafOf(hasUpper, search, buffer, rightmost: !hasUpper);
        if (!hasUpper)
        {
            return EntryCount(buffer) - 1;
        }

        var position = LowerBound(buffer, search, out var found);
        return found && inclusive ? position : position - 1; // before the leaf's start: the scan moves to the previous
    }

    /// <summary>Descends to the leaf that holds <paramref name="key"/> (or the first or last leaf without one) and loads it.</summary>
    private void LoadLeafOf(bool hasKey, in SearchKey<TKey> key, byte[] buffer, bool rightmost = false)
    {
        // Inner nodes are read in place (copied only to lay a transaction's writes over them); only the leaf, which
        // the scan keeps across yields, is copied.
        var node = Root;
        var scratch = _pool.HasUncommittedWrites ? buffer : null;
        for (var level = Height - 1; level > 0; level--)
        {
            var inner = ReadNode(node, scratch);
            var index = hasKey ? ChildIndex(inner, key) : rightmost ? EntryCount(inner) - 1 : 0;
            node = ChildAt(inner, index);
        }

        LoadLeaf(node, buffer);
    }
}
