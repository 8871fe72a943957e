// PersistentSet -- a set living in a pool, kept in order: a sorted dictionary whose entries have no value.
using System.Collections;

namespace Pmem.Objects;

/// <summary>
/// A set living in a pool, held by a property of a persistent object, with its elements kept in order: the B+-tree of
/// <see cref="PersistentSortedDictionary{TKey, TValue}"/> with no value slot (so 60 eight-byte elements per 512-byte
/// leaf). Elements are the sorted dictionary's key types; two elements are the same when their order says they are
/// equal (ordinal for strings).
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
/// <remarks>
/// Every mutation, the bulk ones (<see cref="UnionWith"/>, <see cref="ExceptWith"/>, …) included, is failure-atomic as a
/// whole and joins the running transaction. Built on the ordered tree rather than the hash table so that elements
/// enumerate in order, ranges come for free, and the pool has one tree format to free and check.
/// </remarks>
public sealed class PersistentSet<T> : ISet<T>, IReadOnlySet<T> where T : notnull
{
    private readonly PersistentSortedDictionary<T, bool> _tree;

    internal PersistentSet(PersistentSortedDictionary<T, bool> tree) => _tree = tree;

    /// <summary>The set's offset in its pool.</summary>
    public long Offset => _tree.Offset;

    /// <inheritdoc cref="ICollection{T}.Count" />
    public int Count => _tree.Count;

    bool ICollection<T>.IsReadOnly => false;

    /// <summary>Adds <paramref name="item"/>; false (and no change) when it is already there.</summary>
    public bool Add(T item) => _tree.TryAdd(item, true);

    void ICollection<T>.Add(T item) => Add(item);

    /// <summary>Removes <paramref name="item"/>; false when the set does not hold it (never a null, which it cannot hold).</summary>
    public bool Remove(T item) => item is not null && _tree.Remove(item);

    /// <summary>Whether the set holds <paramref name="item"/>: false for a null, which it cannot hold (as <c>HashSet</c> answers).</summary>
    public bool Contains(T item) => Holds(item);

    /// <inheritdoc />
    public void Clear() => _tree.Clear();

    /// <summary>The smallest element.</summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public T Min => _tree.TryGetFirst(out var first) ? first.Key : throw new InvalidOperationException("The set is empty.");

    /// <summary>The largest element.</summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public T Max => _tree.TryGetLast(out var last) ? last.Key : throw new InvalidOperationException("The set is empty.");

    /// <summary>The elements between two bounds, ascending or descending (see <see cref="PersistentSortedDictionary{TKey, TValue}.Range"/>).</summary>
    public IEnumerable<T> Range(T lower, T upper, bool lowerInclusive = true, bool upperInclusive = false, bool descending = false) =>
        _tree.Range(lower, upper, lowerInclusive, upperInclusive, descending).Select(pair => pair.Key);

    /// <summary>Every element in descending order.</summary>
    public IEnumerable<T> Reversed() => _tree.Reversed().Select(pair => pair.Key);

    /// <summary>Enumerates the elements in order; throws if the set changes meanwhile.</summary>
    public IEnumerator<T> GetEnumerator()
    {
        foreach (var pair in _tree)
        {
            yield return pair.Key;
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public void CopyTo(T[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        ArgumentOutOfRangeException.ThrowIfNegative(arrayIndex);
        if (array.Length - arrayIndex < Count)
        {
            throw new ArgumentException("The destination is too small.", nameof(array));
        }

        foreach (var item in this)
        {
            array[arrayIndex++] = item;
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null or holds a null: nothing is added.</exception>
    public void UnionWith(IEnumerable<T> other)
    {
        var items = WithoutNulls(Materialize(other));
        _tree.Atomically(() =>
        {
            foreach (var item in items)
            {
                Add(item);
            }
        });
    }

    /// <inheritdoc />
    public void ExceptWith(IEnumerable<T> other)
    {
        var items = Materialize(other);
        _tree.Atomically(() =>
        {
            foreach (var item in items)
            {
                if (item is not null)
                {
                    Remove(item);
                }
            }
        });
    }

    /// <inheritdoc />
    public void IntersectWith(IEnumerable<T> other)
    {
        var keep = Distinct(other);
        _tree.Atomically(() =>
        {
            foreach (var item in this.Where(item => !keep.Contains(item)).ToList())
            {
                Remove(item);
            }
        });
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null or holds a null: nothing changes.</exception>
    public void SymmetricExceptWith(IEnumerable<T> other)
    {
        var items = Distinct(WithoutNulls(Materialize(other)));
        _tree.Atomically(() =>
        {
            foreach (var item in items)
            {
                if (!Remove(item))
                {
                    Add(item);
                }
            }
        });
    }

    /// <inheritdoc cref="ISet{T}.IsSubsetOf" />
    public bool IsSubsetOf(IEnumerable<T> other)
    {
        var others = Distinct(other);
        return this.All(others.Contains);
    }

    /// <inheritdoc cref="ISet{T}.IsProperSubsetOf" />
    public bool IsProperSubsetOf(IEnumerable<T> other)
    {
        var others = Distinct(other);
        return others.Count > Count && this.All(others.Contains);
    }

    /// <inheritdoc cref="ISet{T}.IsSupersetOf" />
    public bool IsSupersetOf(IEnumerable<T> other) => Materialize(other).All(Holds);

    /// <inheritdoc cref="ISet{T}.IsProperSupersetOf" />
    public bool IsProperSupersetOf(IEnumerable<T> other)
    {
        var others = Distinct(other);
        return others.Count < Count && others.All(Holds);
    }

    /// <inheritdoc cref="ISet{T}.Overlaps" />
    public bool Overlaps(IEnumerable<T> other) => Materialize(other).Any(Holds);

    /// <inheritdoc cref="ISet{T}.SetEquals" />
    public bool SetEquals(IEnumerable<T> other)
    {
        var others = Distinct(other);
        return others.Count == Count && others.All(Holds);
    }

    /// <summary>Whether the set holds an element of another sequence: never a null, which it cannot hold (SortedSet answers so too).</summary>
    private bool Holds(T item) => item is not null && _tree.ContainsKey(item);

    /// <summary>
    /// Refuses elements to add that hold a null before anything changes: a refusal part way would roll back the whole
    /// running transaction, where a caught argument error should leave it going.
    /// </summary>
    private static List<T> WithoutNulls(List<T> items) =>
        items.Exists(item => item is null) ? throw new ArgumentNullException("other", "The set cannot hold null, and the sequence holds one.") : items;

    /// <summary>The other collection's elements, copied first: it may be this set, which the operation changes.</summary>
    private static List<T> Materialize(IEnumerable<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return [.. other];
    }

    private SortedSet<T> Distinct(IEnumerable<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new SortedSet<T>(other, _tree.KeyComparer);
    }
}
