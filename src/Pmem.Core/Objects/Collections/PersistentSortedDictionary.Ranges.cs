// PersistentSortedDictionary (ranges) -- ordered scans along the leaf chain, forward and backward, with inclusive or exclusive bounds.
using System.Buffers.Binary;
using Pmem.Pool;
using static Pmem.Pool.SortedLayout;

namespace Pmem.Objects;

public sealed partial class PersistentSortedDictionary<TKey, TValue>
{
    /// <summary>
    /// The entries with keys between <paramref name="lower"/> and <paramref name="upper"/>, in ascending key order (or
    /// descending), lazily; throws if the dictionary changes meanwhile. An empty range (lower above upper) yields nothing.
    /// </summary>
    /// <param name="lower">The lower bound.</param>
    /// <param name="upper">The upper bound.</param>
    /// <param name="lowerInclusive">Whether a key equal to <paramref name="lower"/> is included (default: yes).</param>
    /// <param name="upperInclusive">Whether a key equal to <paramref name="upper"/> is included (default: no).</param>
    /// <param name="descending">From the upper bound down instead of from the lower bound up.</param>
    public IEnumerable<KeyValuePair<TKey, TValue>> Range(TKey lower, TKey upper, bool lowerInclusive = true, bool upperInclusive = false, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(lower);
        ArgumentNullException.ThrowIfNull(upper);
        return Scan(lower, true, lowerInclusive, upper, true, upperInclusive, descending);
    }

    /// <summary>The entries with keys at or above (or, not <paramref name="inclusive"/>, above) <paramref name="lower"/>.</summary>
    public IEnumerable<KeyValuePair<TKey, TValue>> From(TKey lower, bool inclusive = true, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(lower);
        return Scan(lower, true, inclusive, default!, false, false, descending);
    }

    /// <summary>The entries with keys below (or, <paramref name="inclusive"/>, at or below) <paramref name="upper"/>.</summary>
    public IEnumerable<KeyValuePair<TKey, TValue>> To(TKey upper, bool inclusive = false, bool descending = false)
    {
        ArgumentNullException.ThrowIfNull(upper);
        return Scan(default!, false, false, upper, true, inclusive, descending);
    }

    /// <summary>Every entry in descending key order.</summary>
    public IEnumerable<KeyValuePair<TKey, TValue>> Reversed() => Scan(default!, false, false, default!, false, false, descending: true);

    private IEnumerable<KeyValuePair<TKey, TValue>> Scan(TKey lower, bool hasLower, bool lowerInclusive, TKey upper, bool hasUpper, bool upperInclusive, bool descending)
    {
        var version = Version;
        if (Root == 0 || (hasLower && hasUpper && _keys.Compare(lower, upper) is var c && (c > 0 || (c == 0 && !(lowerInclusive && upperInclusive)))))
        {
            yield break;
        }

        var buffer = new byte[_nodeSize];
        var (leaf, position) = descending ? StartBackward(upper, hasUpper, upperInclusive, buffer) : StartForward(lower, hasLower, lowerInclusive, buffer);
        var leavesLeft = HeaderValue(SortedLayout.NodeCountOffset); // a damaged leaf chain that loops ends here
        while (leaf != 0)
        {
            if (leavesLeft-- <= 0)
            {
                throw new PoolCorruptedException(_pool.Path, $"the sorted collection at {Header} has a leaf chain longer than its {HeaderValue(SortedLayout.NodeCountOffset)} nodes");
            }

            var count = EntryCount(buffer);

            // The far bound is compared per entry only in the leaf where it falls: in the others, the leaf's last entry
            // in the scan's direction is inside it, so every entry is.
            var checkBound = count > 0 && !InsideFarBound(buffer.AsSpan(EntriesOffset + (descending ? 0 : count - 1) * _leafEntry, _keySize), descending, descending ? hasLower : hasUpper, descending ? lower : upper, descending ? lowerInclusive : upperInclusive);
            for (; position >= 0 && position < count; position += descending ? -1 : 1)
            {
                var slot = buffer.AsSpan(EntriesOffset + position * _leafEntry, _leafEntry);
                if (checkBound && !InsideFarBound(slot, descending, descending ? hasLower : hasUpper, descending ? lower : upper, descending ? lowerInclusive : upperInclusive))
                {
                    yield break;
                }

                var entry = new KeyValuePair<TKey, TValue>(_keys.Codec.Decode(_pool, slot[.._keySize]), _values.Decode(_pool, slot[_keySize..]));
                yield return entry;
                if (Version != version)
                {
                    throw new InvalidOperationException("The sorted dictionary was modified during enumeration.");
                }
            }

            leaf = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(descending ? NodePreviousOffset : NodeNextOffset));
            if (leaf != 0)
            {
                LoadLeaf(leaf, buffer);
                position = descending ? EntryCount(buffer) - 1 : 0;
            }
        }
    }

    /// <summary>Whether a key slot lies inside the bound a scan ends at (the upper one ascending, the lower one descending).</summary>
    private bool InsideFarBound(ReadOnlySpan<byte> slot, bool descending, bool hasBound, TKey bound, bool inclusive)
    {
        if (!hasBound)
        {
            return true;
        }

        var c = _keys.Compare(_pool, slot, bound);
        return descending ? c > 0 || (c == 0 && inclusive) : c < 0 || (c == 0 && inclusive);
    }

    /// <summary>Copies a leaf into <paramref name="buffer"/> as this thread sees it (an enumeration holds no span across yields).</summary>
    private void LoadLeaf(long leaf, byte[] buffer)
    {
        ThrowIfNotNode(leaf);
        if (_pool.HasUncommittedWrites)
        {
            _pool.ReadBytes(leaf, buffer);
        }
        else
        {
            _domain.GetSpan(leaf, _nodeSize).CopyTo(buffer);
        }
    }

    /// <summary>The leaf (loaded into <paramref name="buffer"/>) and entry where an ascending scan from the bound starts.</summary>
    private (long Leaf, int Position) StartForward(TKey lower, bool hasLower, bool inclusive, byte[] buffer)
    {
        var leaf = Leftmost(hasLower, lower, buffer);
        if (!hasLower)
        {
            return (leaf, 0);
        }

        var position = LowerBound(buffer, lower, out var found);
        return (leaf, found && !inclusive ? position + 1 : position); // past the leaf's end: the loop moves to the next
    }

    /// <summary>The leaf and entry where a descending scan from the bound starts.</summary>
    private (long Leaf, int Position) StartBackward(TKey upper, bool hasUpper, bool inclusive, byte[] buffer)
    {
        var leaf = Leftmost(hasUpper, upper, buffer, rightmost: !hasUpper);
        if (!hasUpper)
        {
            return (leaf, EntryCount(buffer) - 1);
        }

        var position = LowerBound(buffer, upper, out var found);
        return (leaf, found && inclusive ? position : position - 1); // before the leaf's start: the loop moves to the previous
    }

    /// <summary>Descends to the leaf that holds <paramref name="key"/> (or the first or last leaf without one) and loads it.</summary>
    private long Leftmost(bool hasKey, TKey key, byte[] buffer, bool rightmost = false)
    {
        // Inner nodes are read in place (copied only to lay a transaction's writes over them); only the leaf, which
        // the scan keeps across yields, is copied.
        var node = Root;
        var scratch = _pool.HasUncommittedWrites ? buffer : null;
        for (var level = Height - 1; level > 0; level--)
        {
            var inner = ReadNode(node, scratch);
            var index = hasKey ? ChildIndex(inner, key) : rightmost ? EntryCount(inner) - 1 : 0;
            node = ChildAt(inner, index);
        }

        LoadLeaf(node, buffer);
        return node;
    }
}
