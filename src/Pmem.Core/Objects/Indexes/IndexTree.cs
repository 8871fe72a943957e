// IndexTree -- one live index's tree: an object's entry added or removed, and the objects of a value range read in place.
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>Reads one live index by keys of <typeparamref name="TKey"/> (made once per index handle and live index).</summary>
internal interface IIndexReader<TKey> where TKey : notnull
{
    /// <summary>The live index read (a reader is kept while its index stays live).</summary>
    LiveIndex Index { get; }

    /// <summary>The entry count of the index.</summary>
    int Count { get; }

    /// <summary>
    /// The objects whose value lies between the bounds (each bound optional), in value order then offset order, or
    /// its reverse: each appended to <paramref name="into"/>, or with <paramref name="into"/> null only the first
    /// found. Call it as a reader of the index lock (<see cref="PersistentPool.ReadIndexes"/>).
    /// </summary>
    /// <returns>Whether any object lies in the range (the first in <paramref name="first"/>).</returns>
    bool Objects(Bound<TKey> lower, Bound<TKey> upper, bool descending, List<long>? into, out long first);
}

/// <summary>
/// The tree of a live index keyed by <typeparamref name="TStored"/>: one handle on the sorted tree for the index's
/// life (made by <see cref="LiveIndex.Tree"/>), shared by its writers (under the index lock) and readers (as readers
/// of it); handles may be shared between threads (see CollectionHeader).
/// </summary>
internal sealed class IndexTree<TStored> : IndexTree, IIndexReader<TStored> where TStored : notnull
{
    /// <summary>The smallest and largest object offsets in the keys' order (unsigned): bounds that take in, or leave out, all of a value's objects.</summary>
    public const long FirstObject = 0, LastObject = -1;

    private readonly PersistentPool _pool;
    private readonly IndexKeys<TStored> _keys;

    /// <summary>Bounds that take in every entry of <paramref name="value"/>, whichever its object.</summary>
    public static (Bound<IndexEntry<TStored>> Low, Bound<IndexEntry<TStored>> High) AllOf(TStored value) =>
        (new(true, new(value, FirstObject), true), new(true, new(value, LastObject), true));
    private readonly PersistentSortedDictionary<IndexEntry<TStored>, bool> _tree;

    public IndexTree(PersistentPool pool, LiveIndex index, IndexKeys<TStored> keys)
    {
        _pool = pool;
        _keys = keys;
        Index = index;
        _tree = new(pool, index.Slot.TreeWord, keys, NoValueCodec.Instance); // checks the tree's header once
    }

    public LiveIndex Index { get; }

    public int Count => _tree.Count;

    public override void Add(long obj)
    {
        var value = _keys.ReadProperty(_pool, obj, Index.Slot.PropertyOffset);
        if (value is null)
        {
            return;
        }

        if (Index.Slot.IsUnique && !_keys.IsDefault(value))
        {
            var (low, high) = AllOf(value);
            if (_tree.CollectObjects(low, high, descending: false, into: null, out var holder) && holder == obj)
            {
                // The object holds the value already (its own entry): another holder would come after it.
                var holders = new List<long>();
                _tree.CollectObjects(low, high, descending: false, holders, out _);
                holder = holders.Find(other => other != obj);
            }

            if (holder != 0 && holder != obj)
            {
                throw new PersistentUniqueConstraintException(_pool.Path, _pool.StoredTypeAt(Index.Slot.TypeIndex)?.Name ?? "?", Index.Property.Name,
                    Describe(_keys.ReadProperty(_pool, holder, Index.Slot.PropertyOffset)), holder); // what it holds, in its encoding
            }
        }

        _tree.TryAdd(new(value, obj), true);
    }

    public override void Remove(long obj)
    {
        var value = _keys.ReadProperty(_pool, obj, Index.Slot.PropertyOffset);
        if (value is not null)
        {
            _tree.Remove(new(value, obj));
        }
    }

    public bool Objects(Bound<TStored> lower, Bound<TStored> upper, bool descending, List<long>? into, out long first) =>
        _tree.CollectObjects(
            lower.IsSet ? new(true, new(lower.Value!, lower.Inclusive ? FirstObject : LastObject), lower.Inclusive) : default,
            upper.IsSet ? new(true, new(upper.Value!, upper.Inclusive ? LastObject : FirstObject), upper.Inclusive) : default,
            descending, into, out first);

    /// <summary>A value as a unique-constraint message quotes it.</summary>
    internal static string Describe(TStored value) => value is string text ? $"\"{text}\"" : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}
