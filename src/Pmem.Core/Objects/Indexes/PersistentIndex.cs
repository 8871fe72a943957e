// PersistentIndex -- looking objects up by an indexed property: by value, by range, in order; and pool.Index<T, TKey>() that makes one.
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// The index of an indexed property (<see cref="IndexedAttribute"/>) of <typeparamref name="T"/>: finds objects by
/// value or by a range of values, and enumerates them in value order (equal values by offset). Made by
/// <see cref="PersistentIndexes.Index{T, TKey}"/>.
/// </summary>
/// <typeparam name="T">The persistent class.</typeparam>
/// <typeparam name="TKey">The property's type (for an enum, also its underlying integer type).</typeparam>
/// <remarks>
/// <para>Each lookup collects its objects while no transaction on another thread is changing the index, and sees the
/// calling thread's running transaction (its own changes included). Results are lists, unaffected by later changes.
/// Objects whose indexed string is null are not in the index. Strings order ordinally. A read-only pool that has not
/// built an index (it was added to the class since the pool was last open for writing) answers by reading every object.</para>
/// <para>LINQ over the index (it is an <see cref="IEnumerable{T}"/> in value order) filters what it enumerates; only
/// <see cref="Find"/>, <see cref="TryFind"/>, <see cref="Range"/>, <see cref="From"/> and <see cref="To"/> use the
/// tree to skip to their values.</para>
/// <para>A hashed index (<see cref="IndexedAttribute.Hashed"/>, <see cref="IsHashed"/>) answers <see cref="Find"/> and
/// <see cref="TryFind"/> with one probe of its hash table; every other lookup gives the same answer as a sorted index
/// would, from all of its entries, sorted.</para>
/// </remarks>
public sealed class PersistentIndex<T, TKey> : IEnumerable<T>
    where T : PersistentObject, IPersistentObject<T>
    where TKey : notnull
{
    private readonly PersistentPool _pool;
    private readonly PersistentPropertyInfo _property;
    private IndexOperations? _operations;
    private IIndexReader<TKey>? _reader; // the reader of the live index last seen (one field: a thread sees a reader with its index)

    internal PersistentIndex(PersistentPool pool, PersistentPropertyInfo property)
    {
        _pool = pool;
        _property = property;
    }

    /// <summary>The indexed property's name.</summary>
    public string PropertyName => _property.Name;

    /// <summary>Whether the index is unique (<see cref="IndexedAttribute.Unique"/>).</summary>
    public bool IsUnique => _property.HasUniqueIndex;

    /// <summary>Whether the index is a hash table (<see cref="IndexedAttribute.Hashed"/>): equality lookups probe it, ranges read it whole.</summary>
    public bool IsHashed => _property.HasHashedIndex;

    /// <summary>How many objects the index holds (all of the type, less those whose indexed string is null).</summary>
    public int Count => Live() is { } index
        ? _pool.ReadIndexes((self: this, index), static s => s.self.ReaderOf(s.index).Count)
        : Objects(default, default, descending: false).Count;

    /// <summary>The objects whose property equals <paramref name="value"/>, by offset.</summary>
    public IReadOnlyList<T> Find(TKey value) => Objects(new(true, value, true), new(true, value, true), descending: false);

    /// <summary>The object (the first by offset) whose property equals <paramref name="value"/>, if any: for unique indexes.</summary>
    public bool TryFind(TKey value, [MaybeNullWhen(false)] out T obj)
    {
        var bound = new Bound<TKey>(true, value, true);
        ThrowIfNull(bound, bound);
        if (Live() is not { } index)
        {
            var found = Operations.Scan(_pool, T.PersistentType.Name, _property.Offset, bound, bound, descending: false);
            obj = found.Count > 0 ? T.Attach(new ObjectHandle(_pool, found[0])) : null;
            return obj is not null;
        }

        // Only the first is read: no list, and the walk stops at it.
        var first = _pool.ReadIndexes((self: this, index, bound), static s => s.self.ReaderOf(s.index).Objects(s.bound, s.bound, false, null, out var first) ? first : 0);
        obj = first != 0 ? T.Attach(new ObjectHandle(_pool, first)) : null; // no object lives at offset 0
        return obj is not null;
    }

    /// <summary>The objects whose property lies between <paramref name="lower"/> and <paramref name="upper"/>, in value order or its reverse.</summary>
    public IReadOnlyList<T> Range(TKey lower, TKey upper, bool lowerInclusive = true, bool upperInclusive = false, bool descending = false) =>
        Objects(new(true, lower, lowerInclusive), new(true, upper, upperInclusive), descending);

    /// <summary>The objects whose property is at least (or above) <paramref name="lower"/>.</summary>
    public IReadOnlyList<T> From(TKey lower, bool inclusive = true, bool descending = false) => Objects(new(true, lower, inclusive), default, descending);

    /// <summary>The objects whose property is below (or at most) <paramref name="upper"/>.</summary>
    public IReadOnlyList<T> To(TKey upper, bool inclusive = false, bool descending = false) => Objects(default, new(true, upper, inclusive), descending);

    /// <summary>Every object of the index in descending value order.</summary>
    public IReadOnlyList<T> Reversed() => Objects(default, default, descending: true);

    /// <summary>Every object of the index in value order.</summary>
    public IEnumerator<T> GetEnumerator() => Objects(default, default, descending: false).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The operations of the property's stored type, chosen at first use.</summary>
    private IndexOperations Operations => _operations ??= IndexOperations.For(_property.StorageType);

    private IReadOnlyList<T> Objects(Bound<TKey> lower, Bound<TKey> upper, bool descending)
    {
        ThrowIfNull(lower, upper);
        if (Live() is not { } index)
        {
            return Attach(Operations.Scan(_pool, T.PersistentType.Name, _property.Offset, lower, upper, descending));
        }

        var offsets = IndexOperations.RentOffsets();
        _pool.ReadIndexes((self: this, index, lower, upper, descending, offsets), static s => s.self.ReaderOf(s.index).Objects(s.lower, s.upper, s.descending, s.offsets, out _));
        var objects = Attach(offsets);
        IndexOperations.ReturnOffsets(offsets); // not on a throw: the next lookup makes a new list
        return objects;
    }

    private T[] Attach(List<long> offsets)
    {
        var objects = new T[offsets.Count];
        for (var i = 0; i < objects.Length; i++)
        {
            objects[i] = T.Attach(new ObjectHandle(_pool, offsets[i]));
        }

        return objects;
    }

    /// <summary>This handle's reader of <paramref name="index"/>, made once per live index (called as a reader of the index lock: making it may check the tree's header).</summary>
    private IIndexReader<TKey> ReaderOf(LiveIndex index) =>
        _reader is { } reader && ReferenceEquals(reader.Index, index) ? reader : _reader = Operations.ReaderOf<TKey>(_pool, index);

    private static void ThrowIfNull(Bound<TKey> lower, Bound<TKey> upper)
    {
        if ((lower.IsSet && lower.Value is null) || (upper.IsSet && upper.Value is null))
        {
            throw new ArgumentNullException(lower.IsSet && lower.Value is null ? "lower" : "upper", "Index bounds cannot be null (null strings are not indexed).");
        }
    }

    /// <summary>The index as the pool has it now; null in a read-only pool that has not built it (lookups then read every object).</summary>
    /// <exception cref="InvalidOperationException">A writable pool could not build the index yet (see the message).</exception>
    private LiveIndex? Live()
    {
        var typeIndex = _pool.TypeIndex(T.PersistentType);
        return _pool.LiveIndexAt(typeIndex, _property.Offset) ?? (_pool.IsReadOnly ? null : throw new InvalidOperationException(
            $"{_pool.Path}: the index of '{T.PersistentType.Name}.{_property.Name}' is not built yet; use the class once outside a transaction, or load its assembly before the pool opens."));
    }
}

/// <summary>Finding objects through indexed properties.</summary>
public static class PersistentIndexes
{
    /// <summary>
    /// The index of <typeparamref name="T"/>'s property <paramref name="propertyName"/>, which must carry
    /// <see cref="IndexedAttribute"/>: e.g. <c>pool.Index&lt;Account, string&gt;(nameof(Account.Owner)).Find("ada")</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The property does not exist, is not indexed, or is not a <typeparamref name="TKey"/>.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public static PersistentIndex<T, TKey> Index<T, TKey>(this PersistentPool pool, string propertyName)
        where T : PersistentObject, IPersistentObject<T>
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(propertyName);
        pool.ThrowIfDisposed(); // as documented: at once, not at the index's first use
        var type = T.PersistentType;
        var property = type.Properties.FirstOrDefault(p => p.Name == propertyName && p.Index != PersistentIndexKind.None)
            ?? throw new ArgumentException(
                $"'{type.Name}' has no indexed property '{propertyName}' (indexed: {string.Join(", ", type.Properties.Where(p => p.Index != PersistentIndexKind.None).Select(p => p.Name).DefaultIfEmpty("none"))}); mark it [Indexed].",
                nameof(propertyName));
        if (!StoresAs<TKey>(property.StorageType))
        {
            throw new ArgumentException($"'{type.Name}.{propertyName}' is stored as {property.StorageType}, not as {typeof(TKey).Name}.", nameof(propertyName));
        }

        return new PersistentIndex<T, TKey>(pool, property);
    }

    /// <summary>Whether a key of <typeparamref name="TKey"/> has the stored type's bytes and order: the same type, or an enum's underlying type.</summary>
    private static bool StoresAs<TKey>(string storageType)
    {
        if (storageType == "string")
        {
            return typeof(TKey) == typeof(string);
        }

        var name = typeof(TKey).IsEnum ? Enum.GetUnderlyingType(typeof(TKey)).FullName : typeof(TKey).FullName;
        return name == (storageType.StartsWith("enum:", StringComparison.Ordinal) ? storageType[5..] : storageType);
    }
}
