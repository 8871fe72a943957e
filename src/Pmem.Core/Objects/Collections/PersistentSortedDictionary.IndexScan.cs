// PersistentSortedDictionary (index scans) -- the object offsets of an index tree's key range, read from the leaves in place.
using System.Buffers.Binary;
using System.Diagnostics;
using Pmem.Pool;
using static Pmem.Pool.SortedLayout;

namespace Pmem.Objects;

public sealed partial class PersistentSortedDictionary<TKey, TValue>
{
    /// <summary>
    /// For index trees (keys whose last 8 bytes are an object's offset, <see cref="SortedLayout.ObjectOffsetOrder"/>):
    /// the object offsets of the keys between the bounds, in the order <see cref="Range"/> yields them, read from the
    /// leaves in place: no key is decoded (an index lookup needs only the objects) and nothing is allocated unless the
    /// calling thread's transaction has written (its writes are then laid over a copy of each node, as in
    /// <see cref="TryGetValue"/>). Each node is checked as one of the tree's and the leaf chain is bounded by the node
    /// count, as in the scans.
    /// </summary>
    /// <param name="lower">The lower bound, if set.</param>
    /// <param name="upper">The upper bound, if set.</param>
    /// <param name="descending">From the upper bound down.</param>
    /// <param name="into">Receives every offset; null to stop at the first.</param>
    /// <param name="first">The first offset found (0 if none).</param>
    /// <returns>Whether any key lies in the range.</returns>
    /// <exception cref="PoolCorruptedException">A node link or the leaf chain is damaged.</exception>
    internal bool CollectObjects(Bound<TKey> lower, Bound<TKey> upper, bool descending, List<long>? into, out long first)
    {
        bool any;
        if (!_pool.HasUncommittedWrites)
        {
            any = CollectObjectsInPlace(lower, upper, descending, into, out first, scratch: null);
        }
        else
        {
            var work = RentScratch(0);
            try
            {
                any = CollectObjectsInPlace(lower, upper, descending, into, out first, work.Inner);
            }
            finally
            {
                ReturnScratch(work);
            }
        }

        _domain.ThrowIfDisposedAfterAccess(); // nodes are read in place: no answer from a pool closed meanwhile
        return any;
    }

    private bool CollectObjectsInPlace(Bound<TKey> lower, Bound<TKey> upper, bool descending, List<long>? into, out long first, byte[]? scratch)
    {
        Debug.Assert((_keys.Order & ObjectOffsetOrder) != 0, "only index trees' keys end in an object's offset");
        first = 0;
        var node = Root;
        if (node == 0 || IsEmptyRange(lower, upper))
        {
            return false;
        }

        // The near bound places the start; the far bound ends the walk (as the range enumerator does with StartForward, StartBackward and its far-bound stop).
        var (near, far) = descending ? (upper, lower) : (lower, upper);
        var nearKey = near.IsSet ? _keys.Prepare(near.Value!) : default;
        var farKey = far.IsSet ? _keys.Prepare(far.Value!) : default;
        for (var level = Height - 1; level > 0; level--)
        {
            var inner = ReadNode(node, scratch);
            node = ChildAt(inner, near.IsSet ? ChildIndex(inner, nearKey) : descending ? EntryCount(inner) - 1 : 0);
        }

        var leaf = ReadNode(node, scratch);
        int position;
        if (!near.IsSet)
        {
            position = descending ? EntryCount(leaf) - 1 : 0;
        }
        else
        {
            position = LowerBound(leaf, nearKey, out var found);
            position = descending ? (found && near.Inclusive ? position : position - 1) : (found && !near.Inclusive ? position + 1 : position);
        }

        var step = descending ? -1 : 1;
        var objectAt = _keySize - 8;
        var any = false;
        var leavesLeft = HeaderValue(NodeCountOffset); // a damaged leaf chain that loops ends here
        while (true)
        {
            if (leavesLeft-- <= 0)
            {
                throw new PoolCorruptedException(_pool.Path, $"the sorted collection at {Header} has a leaf chain longer than its {HeaderValue(NodeCountOffset)} nodes");
            }

            // As in Scan: the far bound is compared per entry only in the leaf where it falls.
            var count = EntryCount(leaf);
            var checkBound = count > 0 && !InsideFarBound(leaf.Slice(EntriesOffset + (descending ? 0 : count - 1) * _leafEntry, _keySize), descending, far.IsSet, farKey, far.Inclusive);
            for (; position >= 0 && position < count; position += step)
            {
                var slot = leaf.Slice(EntriesOffset + position * _leafEntry, _keySize);
                if (checkBound && !InsideFarBound(slot, descending, far.IsSet, farKey, far.Inclusive))
                {
                    return any;
                }

                var obj = BinaryPrimitives.ReadInt64LittleEndian(slot[objectAt..]);
                if (!any)
                {
                    (first, any) = (obj, true);
                    if (into is null)
                    {
                        return true;
                    }
                }

                into!.Add(obj);
            }

            var next = BinaryPrimitives.ReadInt64LittleEndian(leaf[(descending ? NodePreviousOffset : NodeNextOffset)..]);
            if (next == 0)
            {
                return any;
            }

            leaf = ReadNode(next, scratch); // checks the link; the copy (if any) replaces the leaf just read
            position = descending ? EntryCount(leaf) - 1 : 0;
        }
    }
}
