// PersistentDictionary -- a hash map living in a pool: its public API, failure-atomic and transaction-aware.
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Memory;
using Pmem.Pool;
using static Pmem.Pool.CollectionLayout;

namespace Pmem.Objects;

/// <summary>
/// A hash map living in a pool, held by a property of a persistent object: open addressing with linear probing in
/// one table block. Keys are unmanaged values or strings (hashed with a stable hash, never the randomized
/// <see cref="object.GetHashCode"/>); values are unmanaged values, strings or references to persistent objects.
/// Every mutation is failure-atomic on its own and joins the running transaction; a resize builds the new table in a
/// block only the transaction sees and frees the old one in the same commit.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed partial class PersistentDictionary<TKey, TValue> : IDictionary<TKey, TValue>, IReadOnlyDictionary<TKey, TValue>
{
    private const ulong Empty = 0;
    private const ulong Tombstone = 1;

    private readonly PersistentPool _pool;
    private readonly PersistenceDomain _domain; // the pool's, fixed for its lifetime
    private readonly ElementCodec<TKey> _keys;
    private readonly ElementCodec<TValue> _values;
    private CollectionHeader _anchor;
    private readonly int _entrySize;
    private readonly int _keySlotSize;
    private readonly long _liveCapacityLimit; // tables up to this many entries fit one span (the live lookup path)
    private readonly bool _rawKeys; // keys are stored as their own bytes: the live lookup path compares them directly
    private readonly bool _rawValues; // likewise values: the live lookup path reads them directly

    internal PersistentDictionary(PersistentPool pool, long fieldOffset, ElementCodec<TKey> keys, ElementCodec<TValue> values, PersistentObject? owner = null)
    {
        if (keys.Kind == SlotKind.Reference)
        {
            throw new NotSupportedException("Dictionary keys are unmanaged values or strings.");
        }

        _pool = pool;
        _domain = pool.Domain;
        _keys = keys;
        _values = values;
        _keySlotSize = keys.SlotSize;
        _entrySize = EntryHashSize + keys.SlotSize + values.SlotSize;
        _liveCapacityLimit = int.MaxValue / _entrySize;
        // The live path walks entries with the compile-time size below; it equals the durable one whenever keys are raw
        // (string and reference slots are 8 bytes, as references are), and a mismatch just leaves the live path off.
        _rawKeys = keys.Kind == SlotKind.Raw && !RuntimeHelpers.IsReferenceOrContainsReferences<TKey>() && _entrySize == LiveEntrySize;
        _rawValues = values.Kind == SlotKind.Raw && !RuntimeHelpers.IsReferenceOrContainsReferences<TValue>();
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
        var (pool, keys, values) = (_pool, _keys, _values);
        var header = pool.CreateCollection(_anchor.FieldOffset, TypeTable.DictionaryTypeIndex, HeaderSize, created =>
        {
            pool.WriteValue(created + KeySizeOffset, keys.SlotSize);
            pool.WriteValue(created + KeyKindOffset, (int)keys.Kind);
            pool.WriteValue(created + ValueSizeOffset, values.SlotSize);
            pool.WriteValue(created + ValueKindOffset, (int)values.Kind);
        });
        Adopt(header);
        return header;
    }

    /// <summary>Checks a header first seen (its type, key and value types, table), then keeps it.</summary>
    private void Adopt(long header)
    {
        _pool.ResolveCollection(header, TypeTable.DictionaryTypeIndex);
        if (_pool.ReadValue<int>(header + KeySizeOffset) != _keys.SlotSize || _pool.ReadValue<int>(header + KeyKindOffset) != (int)_keys.Kind ||
            _pool.ReadValue<int>(header + ValueSizeOffset) != _values.SlotSize || _pool.ReadValue<int>(header + ValueKindOffset) != (int)_values.Kind)
        {
            _pool.ThrowIfDisposed(); // a check racing with Dispose reads the closed pool's scratch memory
            throw new PersistentTypeMismatchException($"{_pool.Path}: the dictionary at offset {header} holds other key or value types than {typeof(TKey).Name} → {typeof(TValue).Name}.");
        }

        if (Problem(_pool, header, TypeTable.DictionaryTypeIndex) is { } problem)
        {
            throw new PoolCorruptedException(_pool.Path, problem); // before any entry is read past its table
        }

        _anchor.Remember(_pool, header);
    }

    /// <summary>A header field; 0 while the dictionary has no header.</summary>
    private long HeaderValue(long offset) => Header is var header && header != 0 ? _pool.ReadValue<long>(header + offset) : 0;

    /// <summary>The dictionary's offset in its pool; 0 while it has not been created (reads never create it, the first insert does).</summary>
    public long Offset => Header;

    /// <inheritdoc cref="ICollection{T}.Count" />
    public int Count => (int)HeaderValue(CountOffset);

    bool ICollection<KeyValuePair<TKey, TValue>>.IsReadOnly => false;

    /// <inheritdoc cref="IDictionary{TKey, TValue}.Keys" />
    public ICollection<TKey> Keys => this.Select(pair => pair.Key).ToList().AsReadOnly();

    /// <inheritdoc cref="IDictionary{TKey, TValue}.Values" />
    public ICollection<TValue> Values => this.Select(pair => pair.Value).ToList().AsReadOnly();

    IEnumerable<TKey> IReadOnlyDictionary<TKey, TValue>.Keys => Keys;

    IEnumerable<TValue> IReadOnlyDictionary<TKey, TValue>.Values => Values;

    /// <summary>The entry size for raw keys, a constant per instantiation: 8 (hash) + key and value slots rounded to 8.</summary>
    private static int LiveEntrySize => EntryHashSize + ((Unsafe.SizeOf<TKey>() + 7) & ~7) + ((Unsafe.SizeOf<TValue>() + 7) & ~7);

    private static int LiveValueSlot => EntryHashSize + ((Unsafe.SizeOf<TKey>() + 7) & ~7);

    private long Capacity => HeaderValue(CapacityOffset);

    private long Table => HeaderValue(StorageOffset);

    private long Version => HeaderValue(VersionOffset);

    /// <inheritdoc />
    public TValue this[TKey key]
    {
        get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The key '{key}' is not in the dictionary.");
        set => Put(key, value, overwrite: true);
    }

    /// <inheritdoc />
    public void Add(TKey key, TValue value) => Put(key, value, overwrite: false);

    /// <inheritdoc />
    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        if (_rawKeys && _rawValues && !_pool.HasUncommittedWrites)
        {
            // The live mapping is what this thread sees: no write set to overlay, no codec calls.
            ref var live = ref FindLiveEntry(key, HashOf(key), out var found);
            if (!Unsafe.IsNullRef(ref live))
            {
                value = Unsafe.ReadUnaligned<TValue>(ref Unsafe.Add(ref live, LiveValueSlot));
                _domain.ThrowIfDisposedAfterAccess(); // neither the value nor "not there" from a pool closed meanwhile
                return true;
            }

            _domain.ThrowIfDisposedAfterAccess();

            return ReadFound(found, out value); // not found, or found in a table too large for the live path
        }

        return ReadFound(Find(key, HashOf(key)), out value);
    }

    private bool ReadFound(long entry, [MaybeNullWhen(false)] out TValue value)
    {
        if (entry < 0)
        {
            value = default;
            return false;
        }

        value = _values.Read(_pool, entry + EntryHashSize + _keySlotSize);
        return true;
    }

    /// <inheritdoc />
    public bool ContainsKey(TKey key) => Find(key, HashOf(key)) >= 0;

    /// <inheritdoc />
    public bool Remove(TKey key)
    {
        var removed = false;
        _pool.Atomically((this, key), s =>
        {
            var (map, key) = s;
            var entry = map.Find(key, map.HashOf(key));
            if (entry < 0)
            {
                return;
            }

            map.ReleaseOwned(entry);
            map.EmptyEntry(entry);
            map.SetCount(map.Count - 1);
            removed = true;
        });
        return removed;
    }

    /// <summary>Removes every entry (freeing owned strings) and the table.</summary>
    public void Clear() => _pool.Atomically(this, static map =>
    {
        var table = map.Table;
        if (table == 0)
        {
            return;
        }

        for (long i = 0, capacity = map.Capacity; i < capacity; i++)
        {
            var entry = table + i * map._entrySize;
            if (map._pool.ReadValue<ulong>(entry) > Tombstone)
            {
                map.ReleaseOwned(entry);
            }
        }

        map._pool.FreeInTransaction(table);
        map._pool.WriteValue(map.Header + StorageOffset, 0L);
        map._pool.WriteValue(map.Header + CapacityOffset, 0L);
        map._pool.WriteValue(map.Header + UsedOffset, 0L);
        map.SetCount(0);
    });

    /// <summary>Enumerates the entries in table order; throws if the dictionary changes meanwhile.</summary>
    public IEnumerator<KeyValuePair<TKey, TValue>> GetEnumerator()
    {
        var version = Version;
        var table = Table;
        var capacity = Capacity;
        for (long i = 0; i < capacity; i++)
        {
            if (Version != version)
            {
                throw new InvalidOperationException("The dictionary was modified during enumeration.");
            }

            var entry = table + i * _entrySize;
            if (_pool.ReadValue<ulong>(entry) > Tombstone)
            {
                yield return new(_keys.Read(_pool, entry + EntryHashSize), _values.Read(_pool, entry + EntryHashSize + _keys.SlotSize));
            }
        }

        if (Version != version)
        {
            throw new InvalidOperationException("The dictionary was modified during enumeration.");
        }
    }

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
        ArgumentOutOfRangeException.ThrowIfGreaterThan(arrayIndex, array.Length); // as Dictionary<TKey, TValue> says it
        if (array.Length - arrayIndex < Count)
        {
            throw new ArgumentException("The destination is too small.", nameof(array)); // before anything is copied, as the BCL does
        }

        foreach (var pair in this)
        {
            array[arrayIndex++] = pair;
        }
    }
}
