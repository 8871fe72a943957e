// HashIndexTable -- a hashed index: a dictionary from each value to the object holding it, and a tree for values several objects hold.
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// The handle on a hashed index (<see cref="IndexedAttribute.Hashed"/>) keyed by <typeparamref name="TStored"/>: a
/// dictionary maps each value one object holds to that object, and each value several objects hold to
/// <see cref="IndexDirectory.SharedValueMark"/>, whose objects are then entries of the shared tree (an index tree
/// holding only such values). An equality lookup is one probe of the dictionary; ranges read every entry and sort them.
/// </summary>
/// <remarks>
/// Keys are normalized so that the dictionary's bytewise equality is the sorted index's equality: a decimal loses its
/// trailing zeros, a DateTime its kind, a DateTimeOffset its offset. Handles may be shared between threads: writers
/// hold the index lock, readers are readers of it.
/// </remarks>
internal sealed class HashIndexTable<TStored> : IndexTree, IIndexReader<TStored>, ICheckedIndexTree where TStored : notnull
{
    private const long Shared = IndexDirectory.SharedValueMark;

    private readonly PersistentPool _pool;
    private readonly IndexKeys<TStored> _keys;
    private readonly PersistentDictionary<TStored, long> _table;
    private readonly PersistentSortedDictionary<IndexEntry<TStored>, bool> _shared;

    public HashIndexTable(PersistentPool pool, LiveIndex index, IndexKeys<TStored> keys, ElementCodec<TStored> codec)
    {
        _pool = pool;
        _keys = keys;
        Index = index;
        _table = new(pool, index.Slot.TreeWord, codec, RawCodec<long>.Instance); // checks the headers once
        _shared = new(pool, index.Slot.SharedTreeWord, keys, NoValueCodec.Instance);
    }

    public LiveIndex Index { get; }

    /// <summary>Values held by one object, plus every entry of the shared tree.</summary>
    /// <exception cref="PoolCorruptedException">The counts are impossible (see <see cref="CheckedCount"/>).</exception>
    public int Count => (int)CheckedCount();

    private string Name => $"the hashed index of {_pool.StoredTypeAt(Index.Slot.TypeIndex)?.Name ?? "?"}.{Index.Property.Name}";

    public override void Add(long obj)
    {
        if (_keys.ReadProperty(_pool, obj, Index.Slot.PropertyOffset) is not { } held)
        {
            return;
        }

        var value = HashKey.Of(held);
        if (!_table.TryGetValue(value, out var holder))
        {
            _table.Add(value, obj);
            return;
        }

        if (holder == obj || (holder == Shared && _shared.ContainsKey(new(value, obj))))
        {
            return; // its entry is there already
        }

        if (Index.Slot.IsUnique && !_keys.IsDefault(held)) // equal to the default as the index compares: exempt, as in a sorted index
        {
            var existing = holder == Shared ? FirstShared(value) : holder;
            throw new PersistentUniqueConstraintException(_pool.Path, _pool.StoredTypeAt(Index.Slot.TypeIndex)?.Name ?? "?", Index.Property.Name,
                IndexTree<TStored>.Describe(_keys.ReadProperty(_pool, existing, Index.Slot.PropertyOffset)), existing); // what it holds, in its encoding
        }

        if (holder != Shared)
        {
            _table[value] = Shared;
            _shared.TryAdd(new(value, holder), true);
            _pool.WriteValue(Index.Slot.SharedValuesWord, _pool.ReadValue<long>(Index.Slot.SharedValuesWord) + 1);
        }

        _shared.TryAdd(new(value, obj), true);
    }

    public override void Remove(long obj)
    {
        if (ReadKey(obj) is not { } value || !_table.TryGetValue(value, out var holder))
        {
            return;
        }

        if (holder == obj)
        {
            _table.Remove(value);
        }
        else if (holder == Shared && _shared.Remove(new(value, obj)) && FirstShared(value) == 0)
        {
            // The value's last object left the shared tree: the value is gone.
            _table.Remove(value);
            _pool.WriteValue(Index.Slot.SharedValuesWord, _pool.ReadValue<long>(Index.Slot.SharedValuesWord) - 1);
        }
    }

    public bool Objects(Bound<TStored> lower, Bound<TStored> upper, bool descending, List<long>? into, out long first)
    {
        if (lower.IsSet && upper.IsSet && lower.Inclusive && upper.Inclusive && _keys.Compare(new(lower.Value!, 0), new(upper.Value!, 0)) == 0)
        {
            return Equal(HashKey.Of(lower.Value!), descending, into, out first);
        }

        var selected = IndexOperations<TStored>.Select(_keys, Entries(), lower, upper, descending);
        into?.AddRange(selected);
        first = selected.Count > 0 ? selected[0] : 0;
        return selected.Count > 0;
    }

    /// <summary>Every entry's object: an entry that names no object of the type, or one holding another value, or a value marked shared without shared entries, is a disagreement.</summary>
    public string? Disagreement(Func<long, bool> isIndexedObject, out long entries)
    {
        var name = Name;
        entries = 0;
        long sharedValues = 0;
        foreach (var (value, holder) in _table)
        {
            if (holder == Shared)
            {
                sharedValues++;
                if (FirstShared(value) == 0)
                {
                    return $"{name} marks a value as held by several objects, and its shared tree holds none of them";
                }

                continue;
            }

            entries++;
            if (Disagrees(value, holder, isIndexedObject) is { } problem)
            {
                return $"{name} {problem}";
            }
        }

        foreach (var (entry, _) in _shared)
        {
            entries++;
            if (!_table.TryGetValue(entry.Value, out var holder) || holder != Shared)
            {
                return $"{name} holds the object at {entry.Object} in its shared tree under a value its table does not mark as shared";
            }

            if (Disagrees(entry.Value, entry.Object, isIndexedObject) is { } problem)
            {
                return $"{name} {problem}";
            }
        }

        var counted = _pool.ReadValue<long>(Index.Slot.SharedValuesWord);
        return counted == sharedValues ? null : $"{name} counts {counted} shared values, and its table marks {sharedValues}";
    }

    private string? Disagrees(TStored value, long obj, Func<long, bool> isIndexedObject) =>
        !isIndexedObject(obj) ? $"holds an entry for {obj}, which is not an allocated object of its type"
        : ReadKey(obj) is not { } held || _keys.Compare(new(held, 0), new(value, 0)) != 0 ? $"files the object at {obj} under another value than the one it holds"
        : null;

    private bool Equal(TStored value, bool descending, List<long>? into, out long first)
    {
        if (!_table.TryGetValue(value, out var holder))
        {
            first = 0;
            return false;
        }

        if (holder != Shared)
        {
            into?.Add(holder);
            first = holder;
            return true;
        }

        var (low, high) = IndexTree<TStored>.AllOf(value);
        return _shared.CollectObjects(low, high, descending, into, out first);
    }

    /// <summary>The first object (by offset) of a shared value in the shared tree, or 0.</summary>
    private long FirstShared(TStored value)
    {
        var (low, high) = IndexTree<TStored>.AllOf(value);
        return _shared.CollectObjects(low, high, descending: false, into: null, out var first) ? first : 0;
    }

    /// <summary>
    /// The number of entries the counts give: the table's values (its header check bounds them by its capacity), less
    /// those it marks shared, plus the shared tree's entries. Damage makes them sizes no index has (a negative list
    /// capacity, or gigabytes): the shared values must be some of the table's, and the shared entries at least as many
    /// and no more than 8-byte keys the pool could hold.
    /// </summary>
    /// <exception cref="PoolCorruptedException">The counts are impossible.</exception>
    private long CheckedCount()
    {
        long values = _table.Count;
        var sharedValues = _pool.ReadValue<long>(Index.Slot.SharedValuesWord);
        var sharedEntries = _shared.Offset is var shared and not 0 ? _pool.ReadValue<long>(shared + CollectionLayout.CountOffset) : 0;
        var count = values - sharedValues + sharedEntries;
        if (sharedValues < 0 || sharedValues > values || sharedEntries < sharedValues || sharedEntries > _pool.Size / 8 || count > int.MaxValue)
        {
            throw new PoolCorruptedException(_pool.Path,
                $"{Name} counts {values} values, {sharedValues} of them held by several objects, and {sharedEntries} entries for those: counts its table and shared tree cannot hold");
        }

        return count;
    }

    /// <summary>Every (value, object) entry: the table's single holders and the shared tree's entries.</summary>
    /// <exception cref="PoolCorruptedException">The counts are impossible (see <see cref="CheckedCount"/>).</exception>
    private List<IndexEntry<TStored>> Entries()
    {
        // Sized by the checked counts, but never beyond the table's, which its storage backs: the list grows past it.
        var entries = new List<IndexEntry<TStored>>((int)Math.Min(CheckedCount(), _table.Count));
        foreach (var (value, holder) in _table)
        {
            if (holder != Shared)
            {
                entries.Add(new(value, holder));
            }
        }

        foreach (var (entry, _) in _shared)
        {
            entries.Add(entry);
        }

        return entries;
    }

    /// <summary>The object's value as a normalized key, or null (a null string is not indexed).</summary>
    private TStored? ReadKey(long obj) => _keys.ReadProperty(_pool, obj, Index.Slot.PropertyOffset) is { } value ? HashKey.Of(value) : default;

    /// <summary>Keys whose bytes are equal exactly when the sorted index's comparer calls them equal (see <see cref="UtcTicksCodec"/> for a DateTimeOffset's).</summary>
    private static class HashKey
    {
        public static TStored Of(TStored value) => value switch
        {
            decimal number => (TStored)(object)(number == 0m ? 0m : number / 1.000000000000000000000000000000000m), // strips trailing zeros and the sign of zero
            DateTime time => (TStored)(object)new DateTime(time.Ticks, DateTimeKind.Unspecified),
            DateTimeOffset time => (TStored)(object)new DateTimeOffset(time.UtcTicks, TimeSpan.Zero),
            _ => value,
        };
    }
}

/// <summary>
/// A hashed index's DateTimeOffset keys, stored as their UTC ticks: the struct's padding bytes hold whatever a copy
/// left there, so its bytes cannot be hashed or compared (keys are at offset 0, so the ticks are the whole key).
/// </summary>
internal sealed class UtcTicksCodec : ElementCodec<DateTimeOffset>
{
    public static readonly UtcTicksCodec Instance = new();

    public override int SlotSize => 8;

    public override SlotKind Kind => SlotKind.Raw;

    public override DateTimeOffset Read(PersistentPool pool, long slot) => new(pool.ReadValue<long>(slot), TimeSpan.Zero);

    public override void Write(PersistentPool pool, long slot, DateTimeOffset value) => pool.WriteValue(slot, value.UtcTicks);

    public override ulong Hash(DateTimeOffset value) => StableHash.OfBytes(value.UtcTicks);

    public override bool SlotEquals(PersistentPool pool, long slot, DateTimeOffset value) => pool.ReadValue<long>(slot) == value.UtcTicks;

    public override DateTimeOffset Decode(PersistentPool pool, ReadOnlySpan<byte> slot) => new(System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(slot), TimeSpan.Zero);

    public override void Encode(PersistentPool pool, Span<byte> slot, DateTimeOffset value) =>
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(slot, value.UtcTicks);
}
