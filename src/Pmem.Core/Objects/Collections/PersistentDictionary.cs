// PersistentDictionary -- an open-addressing hash table living in a pool, failure-atomic and transaction-aware.
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
public sealed class PersistentDictionary<TKey, TValue> : IDictionary<TKey, TValue>, IReadOnlyDictionary<TKey, TValue>
{
    private const ulong Empty = 0;
    private const ulong Tombstone = 1;

    private readonly PersistentPool _pool;
    private readonly PersistenceDomain _domain; // the pool's, fixed for its lifetime
    private readonly ElementCodec<TKey> _keys;
    private readonly ElementCodec<TValue> _values;
    private readonly long _header;
    private readonly int _entrySize;
    private readonly int _keySlotSize;
    private readonly long _liveCapacityLimit; // tables up to this many entries fit one span (the live lookup path)
    private readonly bool _rawKeys; // keys are stored as their own bytes: the live lookup path compares them directly
    private readonly bool _rawValues; // likewise values: the live lookup path reads them directly

    internal PersistentDictionary(PersistentPool pool, long fieldOffset, ElementCodec<TKey> keys, ElementCodec<TValue> values)
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
        _header = pool.GetOrCreateCollection(fieldOffset, TypeTable.DictionaryTypeIndex, HeaderSize, header =>
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

        if (Problem(pool, _header, TypeTable.DictionaryTypeIndex) is { } problem)
        {
            throw new PoolCorruptedException(pool.Path, problem); // before any entry is read past its table
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

    /// <summary>The entry size for raw keys, a constant per instantiation: 8 (hash) + key and value slots rounded to 8.</summary>
    private static int LiveEntrySize => EntryHashSize + ((Unsafe.SizeOf<TKey>() + 7) & ~7) + ((Unsafe.SizeOf<TValue>() + 7) & ~7);

    private static int LiveValueSlot => EntryHashSize + ((Unsafe.SizeOf<TKey>() + 7) & ~7);

    private long Capacity => _pool.ReadValue<long>(_header + CapacityOffset);

    private long Table => _pool.ReadValue<long>(_header + StorageOffset);

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
        if (_rawKeys && _rawValues && !_pool.HasUncommittedWrites)
        {
            // The live mapping is what this thread sees: no write set to overlay, no codec calls.
            ref var live = ref FindLiveEntry(key, HashOf(key), out var found);
            if (!Unsafe.IsNullRef(ref live))
            {
                value = Unsafe.ReadUnaligned<TValue>(ref Unsafe.Add(ref live, LiveValueSlot));
                return true;
            }

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
            // Removed entries hold zero slots, so a later insert into the tombstone frees nothing twice.
            map._pool.WriteBytesInTransaction(entry + EntryHashSize, new byte[map._entrySize - EntryHashSize]);
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
        map._pool.WriteValue(map._header + StorageOffset, 0L);
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
        foreach (var pair in this)
        {
            array[arrayIndex++] = pair;
        }
    }

    /// <summary>The stored hash of <paramref name="key"/>: never 0 or 1, which mark empty and removed slots.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong HashOf(TKey key) => (_rawKeys ? StableHash.OfBytes(in key) : _keys.Hash(key)) | 2;

    /// <summary>The entry holding <paramref name="key"/>, or -1.</summary>
    private long Find(TKey key, ulong hash) =>
        _rawKeys && !_pool.HasUncommittedWrites ? FindLive(key, hash) : FindThroughTransaction(key, hash);

    /// <summary>
    /// <see cref="Find"/> reading the live mapping directly; only when keys are raw and the calling thread has no
    /// uncommitted writes on this pool (then the mapping is exactly what it sees, header included).
    /// </summary>
    private long FindLive(TKey key, ulong hash)
    {
        FindLiveEntry(key, hash, out var entry);
        return entry;
    }

    /// <summary>
    /// The entry holding <paramref name="key"/> in the live mapping (its offset in <paramref name="entry"/>), or a null
    /// reference and -1. The whole table's range is checked once; every probe stays inside it (probe &lt;= mask &lt; capacity).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte FindLiveEntry(TKey key, ulong hash, out long entry)
    {
        ref var header = ref MemoryMarshal.GetReference(_domain.GetSpan(_header, (int)VersionOffset)); // count, capacity, table
        var table = Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref header, (int)StorageOffset));
        var capacity = Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref header, (int)CapacityOffset));
        if (table != 0 && (ulong)(capacity - 1) < (ulong)_liveCapacityLimit) // 1..limit: a zero or wild capacity never reaches the unchecked probes
        {
            ref var entries = ref MemoryMarshal.GetReference(_domain.GetSpan(table, (int)capacity * LiveEntrySize));
            var mask = capacity - 1;
            var probe = (long)(hash & (ulong)mask);
            ref var slot = ref Unsafe.Add(ref entries, (nint)(probe * LiveEntrySize));
            var stored = Unsafe.ReadUnaligned<ulong>(ref slot);
            if (stored == hash && RawKeyEquals(ref Unsafe.Add(ref slot, 8), key))
            {
                // The home slot, where most lookups end (tables are kept at most half full): peeled off the loop so
                // the branch predictor sees this test apart from the probing below.
                entry = table + probe * LiveEntrySize;
                return ref slot;
            }

            for (var step = 1L; stored != Empty && step <= mask; step++)
            {
                probe = (probe + 1) & mask;
                slot = ref Unsafe.Add(ref entries, (nint)(probe * LiveEntrySize));
                stored = Unsafe.ReadUnaligned<ulong>(ref slot);
                if (stored == hash && RawKeyEquals(ref Unsafe.Add(ref slot, 8), key))
                {
                    entry = table + probe * LiveEntrySize;
                    return ref slot;
                }
            }
        }
        else if (table != 0)
        {
            entry = FindThroughTransaction(key, hash); // a table over 2 GiB (no single span covers it) or a damaged header
            return ref Unsafe.NullRef<byte>();
        }

        entry = -1;
        return ref Unsafe.NullRef<byte>();
    }

    /// <summary>Compares a raw key slot with <paramref name="key"/> byte for byte, as <see cref="RawCodec{T}"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RawKeyEquals(ref byte slot, TKey key)
    {
        if (Unsafe.SizeOf<TKey>() == 8)
        {
            return Unsafe.ReadUnaligned<ulong>(ref slot) == Unsafe.As<TKey, ulong>(ref key);
        }

        if (Unsafe.SizeOf<TKey>() == 4)
        {
            return Unsafe.ReadUnaligned<uint>(ref slot) == Unsafe.As<TKey, uint>(ref key);
        }

        return MemoryMarshal.CreateReadOnlySpan(ref slot, Unsafe.SizeOf<TKey>())
            .SequenceEqual(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<TKey, byte>(ref key), Unsafe.SizeOf<TKey>()));
    }

    /// <summary><see cref="Find"/> through the pool's transaction-aware reads (the running transaction's writes overlaid).</summary>
    private long FindThroughTransaction(TKey key, ulong hash)
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

            if (stored == hash && _keys.SlotEquals(_pool, entry + EntryHashSize, key))
            {
                return entry;
            }
        }

        return -1;
    }

    private void Put(TKey key, TValue value, bool overwrite) => _pool.Atomically((this, key, value, overwrite), static s =>
    {
        var (map, key, value, overwrite) = s;
        var hash = map.HashOf(key);
        var existing = map.Find(key, hash);
        if (existing >= 0)
        {
            if (!overwrite)
            {
                throw new ArgumentException($"The key '{key}' is already in the dictionary.", nameof(key));
            }

            map._values.Write(map._pool, existing + EntryHashSize + map._keys.SlotSize, value);
            map.Touch();
            return;
        }

        // At most half the slots in use (live or removed): lookups then mostly end at the first slot, which keeps the
        // probe loop's branches predictable (at 3/4 a lookup of 10,000 keys took twice as long). Not a format change:
        // a table filled further by an older version is still searched correctly and grows on its next insert.
        var used = map._pool.ReadValue<long>(map._header + UsedOffset);
        if ((used + 1) * 2 > map.Capacity)
        {
            map.Resize(Math.Max(8, map.Count * 4 > map.Capacity ? map.Capacity * 2 : map.Capacity));
            used = map._pool.ReadValue<long>(map._header + UsedOffset);
        }

        var entry = map.FreeSlot(hash, out var reusesTombstone);
        map._keys.Write(map._pool, entry + EntryHashSize, key);
        map._values.Write(map._pool, entry + EntryHashSize + map._keys.SlotSize, value);
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

        _pool.WriteValue(_header + StorageOffset, table);
        _pool.WriteValue(_header + CapacityOffset, capacity);
        _pool.WriteValue(_header + UsedOffset, used);
    }

    private void ReleaseOwned(long entry)
    {
        foreach (var (slot, kind) in new[] { (entry + EntryHashSize, _keys.Kind), (entry + EntryHashSize + _keys.SlotSize, _values.Kind) })
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
