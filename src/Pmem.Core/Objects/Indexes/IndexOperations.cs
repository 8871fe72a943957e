// IndexOperations -- one index tree's entries, typed by the stored property: add, remove and range reads of objects by value.
using System.Runtime.CompilerServices;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// The operations on an index tree whose key type follows from the indexed property's stored type (its
/// <see cref="PersistentPropertyInfo.StorageType"/>): one instance per key type, chosen without reflection.
/// </summary>
internal abstract class IndexOperations
{
    /// <summary>Adds the object's entry for its property's current value (none for a null string), checking a unique index first.</summary>
    /// <exception cref="PersistentUniqueConstraintException">Another object holds that value in a unique index.</exception>
    public abstract void Add(PersistentPool pool, LiveIndex index, long obj);

    /// <summary>Removes the object's entry for its property's current value, if there is one.</summary>
    public abstract void Remove(PersistentPool pool, LiveIndex index, long obj);

    /// <summary>The entry count of the index.</summary>
    public abstract int Count(PersistentPool pool, LiveIndex index);

    /// <summary>
    /// The objects whose value lies between the bounds (each bound optional), in value order then offset order, or
    /// its reverse. <typeparamref name="TKey"/> has the stored type's bytes (checked by <see cref="PersistentIndexes.Index{T, TKey}"/>).
    /// </summary>
    public abstract List<long> Objects<TKey>(PersistentPool pool, LiveIndex index, Bound<TKey> lower, Bound<TKey> upper, bool descending);

    /// <summary>
    /// What <see cref="Objects"/> answers, found without the index: every object of the stored type read and sorted
    /// (for read-only pools that have not built an index).
    /// </summary>
    public abstract List<long> Scan<TKey>(PersistentPool pool, string typeName, int propertyOffset, Bound<TKey> lower, Bound<TKey> upper, bool descending);

    /// <summary>The operations for a stored property type.</summary>
    /// <exception cref="NotSupportedException">The stored type cannot be indexed.</exception>
    public static IndexOperations For(string storageType) => (storageType.StartsWith("enum:", StringComparison.Ordinal) ? storageType[5..] : storageType) switch
    {
        "string" => StringIndexOperations.Instance,
        "System.SByte" => RawIndexOperations<sbyte>.Instance,
        "System.Byte" => RawIndexOperations<byte>.Instance,
        "System.Int16" => RawIndexOperations<short>.Instance,
        "System.UInt16" => RawIndexOperations<ushort>.Instance,
        "System.Int32" => RawIndexOperations<int>.Instance,
        "System.UInt32" => RawIndexOperations<uint>.Instance,
        "System.Int64" => RawIndexOperations<long>.Instance,
        "System.UInt64" => RawIndexOperations<ulong>.Instance,
        "System.Char" => RawIndexOperations<char>.Instance,
        "System.Boolean" => RawIndexOperations<bool>.Instance,
        "System.Guid" => RawIndexOperations<Guid>.Instance,
        "System.DateTime" => RawIndexOperations<DateTime>.Instance,
        "System.DateTimeOffset" => RawIndexOperations<DateTimeOffset>.Instance,
        "System.TimeSpan" => RawIndexOperations<TimeSpan>.Instance,
        "System.Decimal" => RawIndexOperations<decimal>.Instance,
        "System.Int128" => RawIndexOperations<Int128>.Instance,
        "System.UInt128" => RawIndexOperations<UInt128>.Instance,
        _ => throw new NotSupportedException($"A property stored as '{storageType}' cannot be indexed."),
    };
}

/// <summary>The operations on an index tree keyed by <typeparamref name="TStored"/> (the property's stored type).</summary>
internal abstract class IndexOperations<TStored> : IndexOperations where TStored : notnull
{
    protected abstract IndexKeys<TStored> Keys { get; }

    /// <summary>The smallest and largest object offsets in the keys' order (unsigned).</summary>
    private const long FirstObject = 0, LastObject = -1;

    // A handle per live index, made once: a new handle checks the tree's header (a heap lookup and a dozen reads).
    // Handles may be shared between threads (see CollectionHeader); a rebuilt index is a new LiveIndex.
    private readonly ConditionalWeakTable<LiveIndex, PersistentSortedDictionary<IndexEntry<TStored>, bool>> _trees = new();

    private PersistentSortedDictionary<IndexEntry<TStored>, bool> Tree(PersistentPool pool, LiveIndex index) =>
        _trees.TryGetValue(index, out var tree) ? tree : _trees.GetValue(index, index => new(pool, index.Slot.TreeWord, Keys, NoValueCodec.Instance));

    public override void Add(PersistentPool pool, LiveIndex index, long obj)
    {
        var value = Keys.ReadProperty(pool, obj, index.Slot.PropertyOffset);
        if (value is null)
        {
            return;
        }

        var tree = Tree(pool, index);
        if (index.Slot.IsUnique && !Keys.IsDefault(value))
        {
            foreach (var other in tree.Range(new(value, FirstObject), new(value, LastObject), upperInclusive: true))
            {
                if (other.Key.Object != obj)
                {
                    throw new PersistentUniqueConstraintException(pool.Path, pool.StoredTypeAt(index.Slot.TypeIndex)?.Name ?? "?", index.Property.Name, Describe(value), other.Key.Object);
                }
            }
        }

        tree.TryAdd(new(value, obj), true);
    }

    public override void Remove(PersistentPool pool, LiveIndex index, long obj)
    {
        var value = Keys.ReadProperty(pool, obj, index.Slot.PropertyOffset);
        if (value is not null)
        {
            Tree(pool, index).Remove(new(value, obj));
        }
    }

    public override int Count(PersistentPool pool, LiveIndex index) => Tree(pool, index).Count;

    public override List<long> Objects<TKey>(PersistentPool pool, LiveIndex index, Bound<TKey> lower, Bound<TKey> upper, bool descending)
    {
        var tree = Tree(pool, index);
        IEnumerable<KeyValuePair<IndexEntry<TStored>, bool>> entries;
        var (low, high) = (Entry(lower.Value, lower.Inclusive ? FirstObject : LastObject), Entry(upper.Value, upper.Inclusive ? LastObject : FirstObject));
        if (lower.IsSet && upper.IsSet)
        {
            if (Keys.Compare(low, high) > 0)
            {
                return [];
            }

            entries = tree.Range(low, high, lower.Inclusive, upper.Inclusive, descending);
        }
        else if (lower.IsSet)
        {
            entries = tree.From(low, lower.Inclusive, descending);
        }
        else if (upper.IsSet)
        {
            entries = tree.To(high, upper.Inclusive, descending);
        }
        else
        {
            entries = descending ? tree.Reversed() : tree;
        }

        return entries.Select(entry => entry.Key.Object).ToList();
    }

    public override List<long> Scan<TKey>(PersistentPool pool, string typeName, int propertyOffset, Bound<TKey> lower, Bound<TKey> upper, bool descending)
    {
        var (low, high) = (Entry(lower.Value, lower.Inclusive ? FirstObject : LastObject), Entry(upper.Value, upper.Inclusive ? LastObject : FirstObject));
        var entries = new List<IndexEntry<TStored>>();
        foreach (var obj in pool.AllOfType(typeName))
        {
            var value = Keys.ReadProperty(pool, obj, propertyOffset);
            if (value is null)
            {
                continue;
            }

            // No object lives at offset 0 or at the largest offset, so a bound entry never equals an object's.
            var entry = new IndexEntry<TStored>(value, obj);
            if ((!lower.IsSet || Keys.Compare(entry, low) > 0) && (!upper.IsSet || Keys.Compare(entry, high) < 0))
            {
                entries.Add(entry);
            }
        }

        entries.Sort(Keys.Compare);
        if (descending)
        {
            entries.Reverse();
        }

        return entries.ConvertAll(entry => entry.Object);
    }

    private static IndexEntry<TStored> Entry<TKey>(TKey? value, long obj) => value is null ? default : new(Unsafe.As<TKey, TStored>(ref value), obj);

    private static string Describe(TStored value) => value is string text ? $"\"{text}\"" : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}

/// <summary>One end of a range: unset (unbounded), or a value, inclusive or not.</summary>
internal readonly record struct Bound<TKey>(bool IsSet, TKey? Value, bool Inclusive);

/// <summary>An index over an unmanaged stored type.</summary>
internal sealed class RawIndexOperations<T> : IndexOperations<T> where T : unmanaged
{
    public static readonly RawIndexOperations<T> Instance = new();

    protected override IndexKeys<T> Keys => RawIndexKeys<T>.Instance;
}

/// <summary>An index over strings (ordinal order; null strings are not in it).</summary>
internal sealed class StringIndexOperations : IndexOperations<string>
{
    public static readonly StringIndexOperations Instance = new();

    protected override IndexKeys<string> Keys => StringIndexKeys.Instance;
}
