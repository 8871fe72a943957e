// PersistentSortedDictionary -- an ordered map living in a pool (a B+-tree): its public API, lookups and node reads.
using System.Buffers.Binary;
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Pmem.Memory;
using Pmem.Pool;
using static Pmem.Pool.SortedLayout;

namespace Pmem.Objects;

/// <summary>
/// An ordered map living in a pool, held by a property of a persistent object: a B+-tree of 512-byte nodes with linked
/// leaves. Keys are integers, enums, <see cref="char"/>, <see cref="bool"/>, <see cref="Guid"/>,
/// <see cref="DateTime"/>, <see cref="DateTimeOffset"/>, <see cref="TimeSpan"/>, <see cref="decimal"/>,
/// <see cref="Int128"/>/<see cref="UInt128"/> (their own order) or strings (ordinal order); values are unmanaged values,
/// strings or references to persistent objects.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
/// <remarks>
/// <para>Every mutation is failure-atomic on its own and joins the running transaction on this thread: a node split or
/// merge allocates, rewrites and frees nodes in the same commit, so a crash leaves the tree before or after the
/// operation, never between, and nothing leaks. Reads see the running transaction's changes.</para>
/// <para>Enumeration (in key order), <see cref="Range"/>, <see cref="From"/>, <see cref="To"/> and
/// <see cref="Reversed"/> are lazy and throw <see cref="InvalidOperationException"/> if the dictionary changes
/// meanwhile. Handles are cheap; several handles to one dictionary see the same data.</para>
/// </remarks>
public sealed partial class PersistentSortedDictionary<TKey, TValue> : IDictionary<TKey, TValue>, IReadOnlyDictionary<TKey, TValue>
    where TKey : notnull
{
    private readonly PersistentPool _pool;
    private readonly PersistenceDomain _domain; // the pool's, fixed for its lifetime
    private readonly ElementCodec<TValue> _values;
    private readonly int _valueSize;
    private readonly SortedKeys<TKey> _givenKeys; // what new trees are made with
    private SortedKeys<TKey> _keys; // the given keys, or their former layout's when the header records that (Adopt)
    private int _keySize;
    private int _leafEntry;
    private int _innerEntry;
    private bool _prefetchKeys; // keys compared out of line: a node's keys are loaded together before its binary search
    private CollectionHeader _anchor;
    private int _nodeSize; // the header's once one is seen (Adopt); until then the size a new header gets
    private int _leafCapacity;
    private int _innerCapacity;

    internal PersistentSortedDictionary(PersistentPool pool, long fieldOffset, SortedKeys<TKey> keys, ElementCodec<TValue> values, PersistentObject? owner = null)
    {
        if (values.Kind != SlotKind.Raw && values.SlotSize != 8)
        {
            throw new NotSupportedException("Sorted dictionary values are unmanaged values, strings or references.");
        }

        _pool = pool;
        _domain = pool.Domain;
        _values = values;
        _valueSize = values.SlotSize;
        _givenKeys = keys;
        _keys = UseKeys(keys);
        SetNodeSize(keys.NodeSize(_keySize, _valueSize));
        _anchor = new CollectionHeader(fieldOffset, owner);
        FindHeader(); // checks a header that exists; none yet reads as empty (a read never creates one)
    }

    /// <summary>The header, or 0 while the dictionary has not been created (it is, at its first insert).</summary>
    private long Header => _anchor.Committed is var header && header != 0 ? header : FindHeader();

    private long FindHeader()
    {
        var header = _anchor.Find(_pool, out var isNew);
        if (isNew)
        {
            Adopt(header);
        }

        return header;
    }

    /// <summary>The header, created in the running transaction if there is none yet (the first insert).</summary>
    private long EnsureHeader() => Header is var header && header != 0 ? header : CreateHeader();

    // Apart from EnsureHeader: the closure below is made when its method starts, so only the first insert makes it.
    private long CreateHeader()
    {
        var keys = UseKeys(_givenKeys); // a new tree is made in the current layout, whatever an earlier one had
        var (pool, values, nodeSize) = (_pool, _values, keys.NodeSize(_keySize, _valueSize));
        var header = pool.CreateCollection(_anchor.FieldOffset, TypeTable.SortedDictionaryTypeIndex, CollectionLayout.HeaderSize, created =>
        {
            pool.WriteValue(created + CollectionLayout.KeySizeOffset, keys.Codec.SlotSize);
            pool.WriteValue(created + CollectionLayout.KeyKindOffset, (int)keys.Codec.Kind);
            pool.WriteValue(created + CollectionLayout.ValueSizeOffset, values.SlotSize);
            pool.WriteValue(created + CollectionLayout.ValueKindOffset, (int)values.Kind);
            pool.WriteValue(created + KeyOrderOffset, (int)keys.Order);
            pool.WriteValue(created + NodeSizeOffset, nodeSize);
            pool.WriteValue(created + KeyWidthOffset, keys.Width);
        });
        Adopt(header);
        return header;
    }

    private SortedKeys<TKey> UseKeys(SortedKeys<TKey> keys)
    {
        _keys = keys;
        _keySize = keys.Codec.SlotSize;
        _leafEntry = _keySize + _valueSize;
        _innerEntry = _keySize + 8;
        _prefetchKeys = keys.ComparesOutOfLine;
        return keys;
    }

    /// <summary>
    /// Checks a header first seen (its type, key and value types, key order, nodes), then keeps it. A tree whose keys
    /// are in their former layout (strings without prefixes) is read and written in it.
    /// </summary>
    private void Adopt(long header)
    {
        _pool.ResolveCollection(header, TypeTable.SortedDictionaryTypeIndex);
        // Handles sharing this one adopt the same header, so they set the same fields.
        UseKeys(_givenKeys.Former is { } former && _pool.ReadValue<int>(header + KeyOrderOffset) == (int)former.Order &&
            _pool.ReadValue<int>(header + CollectionLayout.KeySizeOffset) == former.Codec.SlotSize ? former : _givenKeys);
        if (_pool.ReadValue<int>(header + CollectionLayout.KeySizeOffset) != _keySize || _pool.ReadValue<int>(header + CollectionLayout.KeyKindOffset) != (int)_keys.Codec.Kind ||
            _pool.ReadValue<int>(header + CollectionLayout.ValueSizeOffset) != _valueSize || _pool.ReadValue<int>(header + CollectionLayout.ValueKindOffset) != (int)_values.Kind ||
            _pool.ReadValue<int>(header + KeyOrderOffset) != (int)_keys.Order || _pool.ReadValue<int>(header + KeyWidthOffset) != _keys.Width)
        {
            _pool.ThrowIfDisposed(); // a check racing with Dispose reads the closed pool's scratch memory
            throw new PersistentTypeMismatchException($"{_pool.Path}: the sorted collection at offset {header} holds other key or value types than {typeof(TKey).Name} → {typeof(TValue).Name}.");
        }

        if (Problem(_pool, header) is { } problem)
        {
            throw new PoolCorruptedException(_pool.Path, problem); // before any node is read
        }

        SetNodeSize(_pool.ReadValue<int>(header + NodeSizeOffset));
        _anchor.Remember(_pool, header);
    }

    private void SetNodeSize(int nodeSize)
    {
        _nodeSize = nodeSize;
        _leafCapacity = LeafCapacity(nodeSize, _keySize, _valueSize);
        _innerCapacity = InnerCapacity(nodeSize, _keySize);
    }

    /// <summary>A header field; 0 while the dictionary has no header.</summary>
    private long HeaderValue(long offset) => Header is var header && header != 0 ? _pool.ReadValue<long>(header + offset) : 0;

    /// <summary>The dictionary's offset in its pool.</summary>
    /// <remarks>0 while it has not been created: reads never create it, the first insert does.</remarks>
    public long Offset => Header;

    /// <inheritdoc cref="ICollection{T}.Count" />
    public int Count => (int)HeaderValue(CollectionLayout.CountOffset);

    bool ICollection<KeyValuePair<TKey, TValue>>.IsReadOnly => false;

    /// <summary>The keys in order (a copy).</summary>
    public ICollection<TKey> Keys => this.Select(pair => pair.Key).ToList().AsReadOnly();

    /// <summary>The values in key order (a copy).</summary>
    public ICollection<TValue> Values => this.Select(pair => pair.Value).ToList().AsReadOnly();

    IEnumerable<TKey> IReadOnlyDictionary<TKey, TValue>.Keys => Keys;

    IEnumerable<TValue> IReadOnlyDictionary<TKey, TValue>.Values => Values;

    private long Root => HeaderValue(RootOffset);

    private int Height => Header is var header && header != 0 ? _pool.ReadValue<int>(header + HeightOffset) : 0;

    private long Version => HeaderValue(CollectionLayout.VersionOffset);

    /// <inheritdoc />
    /// <exception cref="KeyNotFoundException">On get: the key is not in the dictionary.</exception>
    public TValue this[TKey key]
    {
        get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The key '{key}' is not in the dictionary.");
        set => Put(key, value, overwrite: true);
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The key is already in the dictionary.</exception>
    public void Add(TKey key, TValue value) => Put(key, value, overwrite: false);

    /// <inheritdoc />
    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        ArgumentNullException.ThrowIfNull(key);
        var node = Root;
        if (node == 0)
        {
            value = default;
            return false;
        }

        // Nodes read in place, or through the running transaction's writes into the thread's image (not returned
        // when a damaged node throws: the next operation makes a new one).
        var work = _pool.HasUncommittedWrites ? RentScratch(0) : null;
        var scratch = work?.Inner;
        var search = _keys.Prepare(key);
        for (var level = Height - 1; level > 0; level--)
        {
            var inner = ReadNode(node, scratch);
            node = ChildAt(inner, ChildIndex(inner, search));
        }

        var leaf = ReadNode(node, scratch);
        var position = LowerBound(leaf, search, out var found);
        value = found ? _values.Decode(_pool, leaf.Slice(EntriesOffset + position * _leafEntry + _keySize, _valueSize)) : default;
        if (work is not null)
        {
            ReturnScratch(work);
        }

        _domain.ThrowIfDisposedAfterAccess(); // nodes are read in place: no answer from a pool closed meanwhile
        return found;
    }

    /// <inheritdoc />
    public bool ContainsKey(TKey key) => TryGetValue(key, out _);

    /// <summary>The entry with the smallest key.</summary>
    /// <exception cref="InvalidOperationException">The dictionary is empty.</exception>
    public KeyValuePair<TKey, TValue> First() => TryGetFirst(out var entry) ? entry : throw Empty();

    /// <summary>The entry with the largest key.</summary>
    /// <exception cref="InvalidOperationException">The dictionary is empty.</exception>
    public KeyValuePair<TKey, TValue> Last() => TryGetLast(out var entry) ? entry : throw Empty();

    /// <summary>The entry with the smallest key, if any.</summary>
    public bool TryGetFirst(out KeyValuePair<TKey, TValue> entry) => FirstOf(Scan(default!, false, false, default!, false, false, descending: false), out entry);

    /// <summary>The entry with the largest key, if any.</summary>
    public bool TryGetLast(out KeyValuePair<TKey, TValue> entry) => FirstOf(Scan(default!, false, false, default!, false, false, descending: true), out entry);

    /// <summary>The entry with the largest key less than or equal to <paramref name="key"/>, if any.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    public bool TryGetFloor(TKey key, out KeyValuePair<TKey, TValue> entry)
    {
        ArgumentNullException.ThrowIfNull(key);
        return FirstOf(To(key, inclusive: true, descending: true), out entry);
    }

    /// <summary>The entry with the smallest key greater than or equal to <paramref name="key"/>, if any.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    public bool TryGetCeiling(TKey key, out KeyValuePair<TKey, TValue> entry)
    {
        ArgumentNullException.ThrowIfNull(key);
        return FirstOf(From(key, inclusive: true), out entry);
    }

    /// <summary>Enumerates the entries in key order; throws if the dictionary changes meanwhile.</summary>
    public IEnumerator<KeyValuePair<TKey, TValue>> GetEnumerator() => Scan(default!, false, false, default!, false, false, descending: false).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    void ICollection<KeyValuePair<TKey, TValue>>.Add(KeyValuePair<TKey, TValue> item) => Add(item.Key, item.Value);

    bool ICollection<KeyValuePair<TKey, TValue>>.Contains(KeyValuePair<TKey, TValue> item) =>
        TryGetValue(item.Key, out var value) && EqualityComparer<TValue>.Default.Equals(value, item.Value);

    bool ICollection<KeyValuePair<TKey, TValue>>.Remove(KeyValuePair<TKey, TValue> item) =>
        ((ICollection<KeyValuePair<TKey, TValue>>)this).Contains(item) && Remove(item.Key);

    void ICollection<KeyValuePair<TKey, TValue>>.CopyTo(KeyValuePair<TKey, TValue>[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        ArgumentOutOfRangeException.ThrowIfNegative(arrayIndex);
        if (array.Length - arrayIndex < Count)
        {
            throw new ArgumentException("The destination is too small.", nameof(array));
        }

        foreach (var pair in this)
        {
            array[arrayIndex++] = pair;
        }
    }

    /// <summary>The key order as a comparer (for sets' operations with other collections).</summary>
    internal IComparer<TKey> KeyComparer => Comparer<TKey>.Create(_keys.Compare);

    /// <summary>Runs <paramref name="body"/> as one failure-atomic step (joining the running transaction).</summary>
    internal void Atomically(Action body) => _pool.Atomically(body, static body => body());

    private static bool FirstOf(IEnumerable<KeyValuePair<TKey, TValue>> entries, out KeyValuePair<TKey, TValue> entry)
    {
        foreach (var found in entries)
        {
            entry = found;
            return true;
        }

        entry = default;
        return false;
    }

    private static InvalidOperationException Empty() => new("The dictionary is empty.");

    /// <summary>
    /// A node's bytes as this thread sees them: the live mapping when <paramref name="scratch"/> is null (no uncommitted
    /// writes on this pool), otherwise a copy with the running transaction's writes laid over it.
    /// </summary>
    private ReadOnlySpan<byte> ReadNode(long node, byte[]? scratch)
    {
        if (scratch is null)
        {
            CachePrefetch.Lines(_domain, node, _nodeSize); // its lines load while the node is checked (a hint: never faults)
        }

        ThrowIfNotNode(node);
        if (scratch is null)
        {
            return _domain.GetSpan(node, _nodeSize);
        }

        _pool.ReadBytes(node, scratch);
        return scratch;
    }

    /// <summary>
    /// Throws unless <paramref name="node"/> is an allocated node block of this tree's size: a damaged child or leaf
    /// link must not send a read, or a write, anywhere else.
    /// </summary>
    /// <exception cref="PoolCorruptedException">It is not.</exception>
    private void ThrowIfNotNode(long node)
    {
        if (_pool.AllocatedSizeOf(node, TypeTable.SortedNodeTypeIndex) < _nodeSize)
        {
            _domain.ThrowIfDisposed(); // a link read in place from a pool closed meanwhile is no damage
            throw new PoolCorruptedException(_pool.Path, $"the sorted collection at {Header} points to {node}, which is not one of its nodes");
        }
    }

    /// <summary>A node's entry count, bounded by what the node can hold (a damaged count never reads past it).</summary>
    private int EntryCount(ReadOnlySpan<byte> node) =>
        Math.Clamp(BinaryPrimitives.ReadInt32LittleEndian(node), 0, BinaryPrimitives.ReadInt32LittleEndian(node[NodeLevelOffset..]) == 0 ? _leafCapacity : _innerCapacity);

    private long ChildAt(ReadOnlySpan<byte> inner, int index) =>
        BinaryPrimitives.ReadInt64LittleEndian(inner[(EntriesOffset + index * _innerEntry + _keySize)..]);

    /// <summary>The child of an inner node whose keys include <paramref name="key"/>: the last whose separator is ≤ the key.</summary>
    private int ChildIndex(ReadOnlySpan<byte> inner, in SearchKey<TKey> key)
    {
        int low = 1, high = EntryCount(inner) - 1, result = 0;
        PrefetchKeys(inner, low, high, _innerEntry);
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            if (_keys.Compare(_pool, inner.Slice(EntriesOffset + middle * _innerEntry, _keySize), key) <= 0)
            {
                result = middle;
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return result;
    }

    /// <summary>
    /// Starts loading what comparing with the keys from <paramref name="first"/> to <paramref name="last"/> reads outside
    /// the node (string blocks): a binary search then waits for about one miss instead of one per step.
    /// </summary>
    private void PrefetchKeys(ReadOnlySpan<byte> node, int first, int last, int entrySize)
    {
        if (!_prefetchKeys)
        {
            return;
        }

        for (var i = first; i <= last; i++)
        {
            _keys.Prefetch(_pool, node.Slice(EntriesOffset + i * entrySize, _keySize));
        }
    }

    /// <summary>The first entry of a leaf whose key is ≥ <paramref name="key"/> (the entry count when none is).</summary>
    private int LowerBound(ReadOnlySpan<byte> leaf, in SearchKey<TKey> key, out bool found)
    {
        int low = 0, high = EntryCount(leaf) - 1;
        found = false;
        PrefetchKeys(leaf, low, high, _leafEntry);
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var c = _keys.Compare(_pool, leaf.Slice(EntriesOffset + middle * _leafEntry, _keySize), key);
            if (c < 0)
            {
                low = middle + 1;
            }
            else
            {
                found |= c == 0;
                high = middle - 1;
            }
        }

        return low;
    }
}
