// IndexOperations -- what an index does by the stored property's type: the handle on a live index's tree, its reader for a key type, and the scan without a tree.
using System.Runtime.CompilerServices;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// The operations of indexes whose key type follows from the indexed property's stored type (its
/// <see cref="PersistentPropertyInfo.StorageType"/>): one instance per key type, chosen without reflection, once per
/// live index (its <see cref="IndexTree"/>) or index handle, not per call.
/// </summary>
internal abstract class IndexOperations
{
    // Lookups collect offsets here before making wrappers: one list per thread, taken while in use (so a lookup
    // running inside another's never shares it) and dropped when a large range has grown it.
    [ThreadStatic] private static List<long>? t_offsets;
    private const int KeptOffsetsCapacity = 4096;

    /// <summary>The handle on <paramref name="index"/>'s tree.</summary>
    public abstract IndexTree Open(PersistentPool pool, LiveIndex index);

    /// <summary>
    /// The reader of <paramref name="index"/>'s tree by keys of <typeparamref name="TKey"/>, which has the stored type's
    /// bytes (checked by <see cref="PersistentIndexes.Index{T, TKey}"/>): an enum reads its underlying type's tree.
    /// </summary>
    public abstract IIndexReader<TKey> ReaderOf<TKey>(PersistentPool pool, LiveIndex index) where TKey : notnull;

    /// <summary>
    /// What <see cref="IIndexReader{TKey}.Objects"/> answers, found without the index: every object of the stored type
    /// read and sorted (for read-only pools that have not built an index).
    /// </summary>
    public abstract List<long> Scan<TKey>(PersistentPool pool, string typeName, int propertyOffset, Bound<TKey> lower, Bound<TKey> upper, bool descending);

    /// <summary>See <see cref="IndexMaintenance.FirstDuplicate"/>.</summary>
    public abstract long FirstDuplicate(PersistentPool pool, int propertyOffset, IEnumerable<long> objects, out long holder, out string value);

    /// <summary>An empty list for a lookup's offsets; give it back with <see cref="ReturnOffsets"/>.</summary>
    public static List<long> RentOffsets()
    {
        var offsets = t_offsets ?? new List<long>();
        t_offsets = null;
        return offsets;
    }

    /// <summary>Keeps <paramref name="offsets"/> for this thread's next lookup (unless a large range grew it).</summary>
    public static void ReturnOffsets(List<long> offsets)
    {
        if (offsets.Capacity <= KeptOffsetsCapacity)
        {
            offsets.Clear();
            t_offsets = offsets;
        }
    }

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

/// <summary>The operations of indexes keyed by <typeparamref name="TStored"/> (the property's stored type).</summary>
internal abstract class IndexOperations<TStored> : IndexOperations where TStored : notnull
{
    protected abstract IndexKeys<TStored> Keys { get; }

    /// <summary>How a hashed index's dictionary stores the values as keys.</summary>
    protected abstract ElementCodec<TStored> HashedCodec { get; }

    public override IndexTree Open(PersistentPool pool, LiveIndex index) =>
        index.Slot.IsHashed ? new HashIndexTable<TStored>(pool, index, Keys, HashedCodec) : new IndexTree<TStored>(pool, index, Keys);

    public override IIndexReader<TKey> ReaderOf<TKey>(PersistentPool pool, LiveIndex index)
    {
        var tree = (IIndexReader<TStored>)index.Tree(pool);
        return typeof(TKey) == typeof(TStored) ? (IIndexReader<TKey>)tree : new ReaderAs<TKey>(tree);
    }

    public override List<long> Scan<TKey>(PersistentPool pool, string typeName, int propertyOffset, Bound<TKey> lower, Bound<TKey> upper, bool descending)
    {
        var entries = new List<IndexEntry<TStored>>();
        foreach (var obj in pool.AllOfType(typeName))
        {
            if (Keys.ReadProperty(pool, obj, propertyOffset) is { } value)
            {
                entries.Add(new(value, obj));
            }
        }

        return Select(Keys, entries, Stored(lower), Stored(upper), descending);
    }

    public override long FirstDuplicate(PersistentPool pool, int propertyOffset, IEnumerable<long> objects, out long holder, out string value)
    {
        var seen = new Dictionary<TStored, long>(); // the stored type's equality, as the index compares values (1.0m is 1.00m)
        foreach (var obj in objects)
        {
            if (Keys.ReadProperty(pool, obj, propertyOffset) is { } held && !Keys.IsDefault(held) && !seen.TryAdd(held, obj))
            {
                (holder, value) = (seen[held], IndexTree<TStored>.Describe(held));
                return obj;
            }
        }

        (holder, value) = (0, "");
        return 0;
    }

    /// <summary>The objects of the <paramref name="entries"/> that lie between the bounds, in the keys' order or its reverse (sorts <paramref name="entries"/>).</summary>
    public static List<long> Select(IndexKeys<TStored> keys, List<IndexEntry<TStored>> entries, Bound<TStored> lower, Bound<TStored> upper, bool descending)
    {
        // No object lives at offset 0 or at the largest offset, so a bound entry never equals an object's.
        var low = new IndexEntry<TStored>(lower.Value!, lower.Inclusive ? IndexTree<TStored>.FirstObject : IndexTree<TStored>.LastObject);
        var high = new IndexEntry<TStored>(upper.Value!, upper.Inclusive ? IndexTree<TStored>.LastObject : IndexTree<TStored>.FirstObject);
        entries.RemoveAll(entry => (lower.IsSet && keys.Compare(entry, low) < 0) || (upper.IsSet && keys.Compare(entry, high) > 0));
        entries.Sort(keys.Compare);
        if (descending)
        {
            entries.Reverse();
        }

        return entries.ConvertAll(entry => entry.Object);
    }

    private static Bound<TStored> Stored<TKey>(Bound<TKey> bound)
    {
        var value = bound.Value;
        return new(bound.IsSet, bound.IsSet ? Unsafe.As<TKey?, TStored>(ref value) : default, bound.Inclusive);
    }

    /// <summary>A tree read by keys of another type with the stored type's bytes (an enum and its underlying integer).</summary>
    private sealed class ReaderAs<TKey>(IIndexReader<TStored> tree) : IIndexReader<TKey> where TKey : notnull
    {
        public LiveIndex Index => tree.Index;

        public int Count => tree.Count;

        public bool Objects(Bound<TKey> lower, Bound<TKey> upper, bool descending, List<long>? into, out long first) =>
            tree.Objects(Stored(lower), Stored(upper), descending, into, out first);
    }
}

/// <summary>One end of a range: unset (unbounded), or a value, inclusive or not.</summary>
internal readonly record struct Bound<TKey>(bool IsSet, TKey? Value, bool Inclusive);

/// <summary>An index over an unmanaged stored type.</summary>
internal sealed class RawIndexOperations<T> : IndexOperations<T> where T : unmanaged
{
    public static readonly RawIndexOperations<T> Instance = new();

    protected override IndexKeys<T> Keys => RawIndexKeys<T>.Instance;

    protected override ElementCodec<T> HashedCodec => typeof(T) == typeof(DateTimeOffset) ? (ElementCodec<T>)(object)UtcTicksCodec.Instance : RawCodec<T>.Instance;
}

/// <summary>An index over strings (ordinal order; null strings are not in it).</summary>
internal sealed class StringIndexOperations : IndexOperations<string>
{
    public static readonly StringIndexOperations Instance = new();

    // Per thread: a test that builds trees in the former layout must not change the trees other tests, running beside
    // it in the process, build or check (they would refuse their own prefixed trees as another key type).
    [ThreadStatic] private static bool t_buildsUnprefixedTrees;

    /// <summary>Tests set this on their thread to build trees in the former layout, as older pools hold them.</summary>
    internal static bool BuildsUnprefixedTrees { get => t_buildsUnprefixedTrees; set => t_buildsUnprefixedTrees = value; }

    protected override IndexKeys<string> Keys => BuildsUnprefixedTrees ? StringIndexKeys.Instance : PrefixedStringIndexKeys.Instance;

    protected override ElementCodec<string> HashedCodec => StringCodec.Instance!;
}
