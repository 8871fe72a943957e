// IndexMaintenance -- what the pool asks of the index trees the Objects layer implements, and a live index's handle on its tree.
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>
/// What the pool asks of the index trees (the Objects layer implements it over its sorted trees and installs
/// <see cref="Instance"/> when the library loads): a handle on one live index's tree.
/// </summary>
internal abstract class IndexMaintenance
{
    /// <summary>The implementation; set once before any pool opens.</summary>
    public static IndexMaintenance? Instance { get; set; }

    /// <summary>The handle on <paramref name="index"/>'s tree (made once per live index, see <see cref="LiveIndex.Tree"/>).</summary>
    public abstract IndexTree Open(PersistentPool pool, LiveIndex index);

    /// <summary>
    /// For a unique index about to be built over <paramref name="objects"/>: the first object whose value of
    /// <paramref name="property"/> an earlier one holds (<paramref name="holder"/>; defaults exempt, as the index exempts
    /// them), or 0. Reads only.
    /// </summary>
    public abstract long FirstDuplicate(PersistentPool pool, PersistentPropertyInfo property, IEnumerable<long> objects, out long holder, out string value);
}

/// <summary>One live index's tree as the Objects layer keeps it: adds and removes objects' entries in the running transaction.</summary>
internal abstract class IndexTree
{
    /// <summary>Adds the entry of the object at <paramref name="obj"/> (its property's current value), checking uniqueness.</summary>
    public abstract void Add(long obj);

    /// <summary>Removes the entry of the object at <paramref name="obj"/> (its property's current value), if it has one.</summary>
    public abstract void Remove(long obj);
}

/// <summary>A live index's tree that checks its own entries (hashed indexes: their keys are normalized values).</summary>
internal interface ICheckedIndexTree
{
    /// <summary>
    /// The first disagreement between the index and its objects (an entry naming no object for which
    /// <paramref name="isIndexedObject"/> holds, or one filed under another value), or null; counts the entries.
    /// </summary>
    string? Disagreement(Func<long, bool> isIndexedObject, out long entries);
}

/// <summary>A live index: its directory entry, the stored property it orders, and its tree's handle.</summary>
internal sealed class LiveIndex(IndexSlot slot, PersistentPropertyInfo property)
{
    private IndexTree? _tree;

    public IndexSlot Slot { get; } = slot;

    public PersistentPropertyInfo Property { get; } = property;

    /// <summary>
    /// The tree's handle, made at first use and kept: every add, remove and lookup of this index goes through it, so
    /// the stored type's operations are chosen and the tree's header checked once, not per call. Made under the index
    /// lock or as a reader of it; two threads making it at once make two equal handles, either of which may be kept.
    /// A rebuilt or reloaded index is a new <see cref="LiveIndex"/> with a new handle.
    /// </summary>
    public IndexTree Tree(PersistentPool pool) =>
        _tree ??= (IndexMaintenance.Instance ?? throw new InvalidOperationException("The index maintenance is not installed.")).Open(pool, this);
}
