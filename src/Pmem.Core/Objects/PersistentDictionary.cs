using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Pmem.Pool;

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
public sealed class PersistentDictionary<TKey, TValue> : IDictionary<TKey, TValue>, IReadOnlyDictionary<TKey, TValue>
{
    private const long CountOffset = 0;
    private const long CapacityOffset = 8;
    private const long TableOffset = 16;
    private const long VersionOffset = 24;
    private const long KeySizeOffset = 32;
    private const long KeyKindOffset = 36;
    private const long ValueSizeOffset = 40;
    private const long ValueKindOffset = 44;
    private const long UsedOffset = 48;
    private const ulong Empty = 0;
    private const ulong Tombstone = 1;

    private readonly PersistentPool _pool;
    private readonly ElementCodec<TKey> _keys;
    private readonly ElementCodec<TValue> _values;
    private readonly long _header;
    private readonly int _entrySize;

    internal PersistentDictionary(PersistentPool pool, long fieldOffset, ElementCodec<TKey> keys, ElementCodec<TValue> values)
    {
        if (keys.Kind == SlotKind.Reference)
        {
            throw new NotSupportedException("Dictionary keys are unmanaged values or strings.");
        }

        _pool = pool;
        _keys = keys;
        _values = values;
        _entrySize = 8 + keys.SlotSize + values.SlotSize;
        _header = pool.GetOrCreateCollection(fieldOffset, TypeTable.DictionaryTypeIndex, CollectionLayout.HeaderSize, header =>
        {
            pool.WriteValue(header + KeySizeOffset, keys.SlotSize);
            pool.WriteValue(header + KeyKindOffset, (int)keys.Kind);
            pool.WriteValue(header + ValueSizeOffset, values.SlotSize);
            pool.WriteValue(header + ValueKindOffset, (int)values.Kind);
        });

        if (pool.ReadValue<int>(_header + KeySizeOffset) != keys.SlotSize || pool.ReadValue<int>(_header + KeyKindOffset) != (int)keys.Kind ||
            pool.ReadValue<int>(_header + ValueSizeOffset) != values.SlotSize || pool.ReadValue<int>(_header + ValueKindOffset) != (int)values.Kind)
        {
            throw new PersistentTypeMismatchException($"{pool.Path}: the dictionary at offset {_header} holds other key or value types than {typeof(TKey).Name} → {typeof(TValue).Name}.");
        }
    }

    /// <summary>The dictionary's offset in its pool.</summary>
    public long Offset => _header;

    /// <inheritdoc cref="ICollection{T}.Count" />
    public int Count => (int)_pool.ReadValue<long>(_header + CountOffset);

    bool ICollection<KeyValuePair<TKey, TValue>>.IsReadOnly => false;

    /// <inheritdoc cref="IDictionary{TKey, TValue}.Keys" />
    public ICollection<TKey> Keys => this.Select(pair => pair.Key).ToList();

    /// <inheritdoc cref="IDictionary{TKey, TValue}.Values" />
    public ICollection<TValue> Values => this.Select(pair => pair.Value).ToList();

    IEnumerable<TKey> IReadOnlyDictionary<TKey, TValue>.Keys => Keys;

    IEnumerable<TValue> IReadOnlyDictionary<TKey, TValue>.Values => Values;

    private long Capacity => _pool.ReadValue<long>(_header + CapacityOffset);

    private long Table => _pool.ReadValue<long>(_header + TableOffset);

    private long Version => _pool.ReadValue<long>(_header + VersionOffset);

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
        var entry = Find(key, _keys.Hash(key) | 2);
        if (entry < 0)
        {
            value = default;
            return false;
        }

        value = _values.Read(_pool, entry + 8 + _keys.SlotSize);
        return true;
    }

    /// <inheritdoc />
    public bool ContainsKey(TKey key) => Find(key, _keys.Hash(key) | 2) >= 0;

    /// <inheritdoc />
    public bool Remove(TKey key)
    {
        var removed = false;
        _pool.Atomically((this, key), s =>
        {
            var (map, key) = s;
            var entry = map.Find(key, map._keys.Hash(key) | 2);
            if (entry < 0)
            {
                return;
            }

            map.ReleaseOwned(entry);
            // Removed entries hold zero slots, so a later insert into the tombstone frees nothing twice.
            map._pool.WriteBytesInTransaction(entry + 8, new byte[map._entrySize - 8]);
            map._pool.WriteValue(entry, Tombstone);
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
        map._pool.WriteValue(map._header + TableOffset, 0L);
        map._pool.WriteValue(map._header + CapacityOffset, 0L);
        map._pool.WriteValue(map._header + UsedOffset, 0L);
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
                yield return new(_keys.Read(_pool, entry + 8), _values.Read(_pool, entry + 8 + _keys.SlotSize));
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
        foreach (var pair in this)
        {
            array[arrayIndex++] = pair;
        }
    }

    /// <summary>The entry holding <paramref name="key"/>, or -1.</summary>
    private long Find(TKey key, ulong hash)
    {
        var table = Table;
        if (table == 0)
        {
            return -1;
        }

        var mask = Capacity - 1;
        for (long probe = (long)(hash & (ulong)mask), step = 0; step <= mask; probe = (probe + 1) & mask, step++)
        {
            var entry = table + probe * _entrySize;
            var stored = _pool.ReadValue<ulong>(entry);
            if (stored == Empty)
            {
                return -1;
            }

            if (stored == hash && _keys.SlotEquals(_pool, entry + 8, key))
            {
                return entry;
            }
        }

        return -1;
    }

    private void Put(TKey key, TValue value, bool overwrite) => _pool.Atomically((this, key, value, overwrite), static s =>
    {
        var (map, key, value, overwrite) = s;
        var hash = map._keys.Hash(key) | 2; // 0 and 1 mark empty and removed slots
        var existing = map.Find(key, hash);
        if (existing >= 0)
        {
            if (!overwrite)
            {
                throw new ArgumentException($"The key '{key}' is already in the dictionary.", nameof(key));
            }

            map._values.Write(map._pool, existing + 8 + map._keys.SlotSize, value);
            map.Touch();
            return;
        }

        var used = map._pool.ReadValue<long>(map._header + UsedOffset);
        if ((used + 1) * 4 > map.Capacity * 3)
        {
            map.Resize(Math.Max(8, map.Count * 4 > map.Capacity * 2 ? map.Capacity * 2 : map.Capacity));
            used = map._pool.ReadValue<long>(map._header + UsedOffset);
        }

        var entry = map.FreeSlot(hash, out var reusesTombstone);
        map._keys.Write(map._pool, entry + 8, key);
        map._values.Write(map._pool, entry + 8 + map._keys.SlotSize, value);
        map._pool.WriteValue(entry, hash);
        if (!reusesTombstone)
        {
            map._pool.WriteValue(map._header + UsedOffset, used + 1);
        }

        map.SetCount(map.Count + 1);
    });

    private long FreeSlot(ulong hash, out bool tombstone)
    {
        var table = Table;
        var mask = Capacity - 1;
        for (var probe = (long)(hash & (ulong)mask); ; probe = (probe + 1) & mask)
        {
            var entry = table + probe * _entrySize;
            var stored = _pool.ReadValue<ulong>(entry);
            if (stored <= Tombstone)
            {
                tombstone = stored == Tombstone;
                return entry;
            }
        }
    }

    /// <summary>Rebuilds the table at <paramref name="capacity"/> slots (a power of two), dropping tombstones.</summary>
    private void Resize(long capacity)
    {
        var oldTable = Table;
        var oldCapacity = Capacity;
        var table = _pool.AllocateInTransaction(capacity * _entrySize, TypeTable.BlobTypeIndex);
        var entry = new byte[_entrySize];
        var mask = capacity - 1;
        long used = 0;
        for (long i = 0; i < oldCapacity; i++)
        {
            _pool.ReadBytes(oldTable + i * _entrySize, entry);
            var hash = BitConverter.ToUInt64(entry);
            if (hash <= Tombstone)
            {
                continue;
            }

            // Slot bytes move as they are: an owned string's offset moves with its entry.
            var probe = (long)(hash & (ulong)mask);
            while (_pool.ReadValue<ulong>(table + probe * _entrySize) != Empty)
            {
                probe = (probe + 1) & mask;
            }

            _pool.WriteBytesInTransaction(table + probe * _entrySize, entry);
            used++;
        }

        if (oldTable != 0)
        {
            _pool.FreeInTransaction(oldTable);
        }

        _pool.WriteValue(_header + TableOffset, table);
        _pool.WriteValue(_header + CapacityOffset, capacity);
        _pool.WriteValue(_header + UsedOffset, used);
    }

    private void ReleaseOwned(long entry)
    {
        foreach (var (slot, kind) in new[] { (entry + 8, _keys.Kind), (entry + 8 + _keys.SlotSize, _values.Kind) })
        {
            if (kind == SlotKind.String)
            {
                var owned = _pool.ReadValue<long>(slot);
                if (owned != 0)
                {
                    _pool.FreeInTransaction(owned);
                }
            }
        }
    }

    private void SetCount(long count)
    {
        _pool.WriteValue(_header + CountOffset, count);
        Touch();
    }

    private void Touch() => _pool.WriteValue(_header + VersionOffset, Version + 1);
}
