// PersistentSortedDictionary (remove) -- removing an entry, merging or rebalancing nodes that fall under a third full, Clear.
using System.Buffers.Binary;
using Pmem.Pool;
using static Pmem.Pool.SortedLayout;

namespace Pmem.Objects;

public sealed partial class PersistentSortedDictionary<TKey, TValue>
{
    /// <inheritdoc />
    public bool Remove(TKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _pool.Atomically((this, key), static s => s.Item1.RemoveInTransaction(s.key));
    }

    /// <summary>Removes every entry, freeing every node and owned string in one commit.</summary>
    public void Clear() => _pool.Atomically(this, static map =>
    {
        if (map.Root == 0)
        {
            return;
        }

        foreach (var (block, owned, _) in Children(map._pool, map.Header, problems: null))
        {
            if (owned)
            {
                map._pool.FreeInTransaction(block);
            }
        }

        map._pool.WriteValue(map.Header + RootOffset, 0L);
        map._pool.WriteValue(map.Header + HeightOffset, 0);
        map._pool.WriteValue(map.Header + NodeCountOffset, 0L);
        map.SetCount(0);
    });

    private bool RemoveInTransaction(TKey key)
    {
        if (Root == 0)
        {
            return false;
        }

        var search = _keys.Prepare(key);
        var height = Height;
        var work = RentScratch(height);
        try
        {
            var path = Descend(search, work, height);
            return RemoveFromLeaf(path, CopyOfNode(path.Leaf, work.Leaf), search);
        }
        finally
        {
            ReturnScratch(work);
        }
    }

    private bool RemoveFromLeaf(TreePath path, byte[] buffer, in SearchKey<TKey> search)
    {
        var leaf = path.Leaf;
        var position = LowerBound(buffer, search, out var found);
        if (!found)
        {
            return false;
        }

        var at = EntriesOffset + position * _leafEntry;
        FreeOwnedString(buffer.AsSpan(at, _keySize), _keys.Codec.Kind);
        FreeOwnedString(buffer.AsSpan(at + _keySize, _valueSize), _values.Kind);
        var count = EntryCount(buffer);
        Buffer.BlockCopy(buffer, at + _leafEntry, buffer, at, (count - position - 1) * _leafEntry);
        WriteEntries(leaf, buffer, position, count - 1, _leafEntry);
        WriteEntryCount(leaf, count - 1);
        BinaryPrimitives.WriteInt32LittleEndian(buffer, count - 1);
        Rebalance(path, path.Height - 1, buffer);
        SetCount(Count - 1);
        return true;
    }

    /// <summary>
    /// After a removal from the node at <paramref name="depth"/> (its current bytes in <paramref name="buffer"/>): an
    /// empty root leaf or a root with one child goes; a node under a third full merges with a sibling when both fit in
    /// one node, otherwise the two share their entries evenly.
    /// </summary>
    private void Rebalance(TreePath path, int depth, byte[] buffer)
    {
        var node = path.Nodes[depth];
        var isLeaf = depth == path.Height - 1;
        var count = EntryCount(buffer);
        if (depth == 0)
        {
            if (isLeaf && count == 0)
            {
                FreeNode(node);
                _pool.WriteValue(Header + RootOffset, 0L);
                _pool.WriteValue(Header + HeightOffset, 0);
            }
            else if (!isLeaf && count == 1)
            {
                FreeNode(node);
                _pool.WriteValue(Header + RootOffset, ChildAt(buffer, 0));
                _pool.WriteValue(Header + HeightOffset, path.Height - 1);
            }

            return;
        }

        var (entrySize, capacity) = isLeaf ? (_leafEntry, _leafCapacity) : (_innerEntry, _innerCapacity);
        if (count >= Math.Max(1, capacity / 3))
        {
            return;
        }

        var parent = path.Nodes[depth - 1];
        var parentBuffer = CopyOfNode(parent);
        var parentCount = EntryCount(parentBuffer);
        if (parentCount < 2)
        {
            return; // only a damaged tree has an inner node with one child below the root
        }

        // The node and its left sibling, or its right one when it is the first child: right is entry j of the parent.
        var taken = path.Taken[depth - 1];
        var j = taken > 0 ? taken : 1;
        var (left, right) = (ChildAt(parentBuffer, j - 1), ChildAt(parentBuffer, j));
        var leftBuffer = left == node ? buffer : CopyOfNode(left);
        var rightBuffer = right == node ? buffer : CopyOfNode(right);
        var (leftCount, rightCount) = (EntryCount(leftBuffer), EntryCount(rightBuffer));
        var separatorAt = EntriesOffset + j * _innerEntry;
        if (!isLeaf)
        {
            // The parent's separator comes down as the right node's first key (which inner nodes leave unused).
            Buffer.BlockCopy(parentBuffer, separatorAt, rightBuffer, EntriesOffset, _keySize);
        }

        var total = leftCount + rightCount;
        Buffer.BlockCopy(rightBuffer, EntriesOffset, leftBuffer, EntriesOffset + leftCount * entrySize, Math.Min(rightCount, capacity - leftCount) * entrySize);
        if (total <= capacity)
        {
            // Merge the right node into the left one and drop it from the parent.
            WriteEntries(left, leftBuffer, leftCount, total, entrySize);
            WriteEntryCount(left, total);
            if (isLeaf)
            {
                var next = BinaryPrimitives.ReadInt64LittleEndian(rightBuffer.AsSpan(NodeNextOffset));
                _pool.WriteValue(left + NodeNextOffset, next);
                if (next != 0)
                {
                    _pool.WriteValue(next + NodePreviousOffset, left);
                }

                FreeOwnedString(parentBuffer.AsSpan(separatorAt, _keySize), _keys.Codec.Kind); // the leaf separator was a copy
            }

            FreeNode(right);
            Buffer.BlockCopy(parentBuffer, separatorAt + _innerEntry, parentBuffer, separatorAt, (parentCount - j - 1) * _innerEntry);
            WriteEntries(parent, parentBuffer, j, parentCount - 1, _innerEntry);
            WriteEntryCount(parent, parentCount - 1);
            BinaryPrimitives.WriteInt32LittleEndian(parentBuffer, parentCount - 1);
            Rebalance(path, depth - 1, parentBuffer);
            return;
        }

        // Share: the left node takes the first half of both, the right node the rest.
        var all = new byte[total * entrySize];
        Buffer.BlockCopy(leftBuffer, EntriesOffset, all, 0, leftCount * entrySize);
        Buffer.BlockCopy(rightBuffer, EntriesOffset, all, leftCount * entrySize, rightCount * entrySize);
        var newLeft = total / 2;
        Buffer.BlockCopy(all, 0, leftBuffer, EntriesOffset, newLeft * entrySize);
        Buffer.BlockCopy(all, newLeft * entrySize, rightBuffer, EntriesOffset, (total - newLeft) * entrySize);
        byte[] separator;
        if (isLeaf)
        {
            FreeOwnedString(parentBuffer.AsSpan(separatorAt, _keySize), _keys.Codec.Kind);
            separator = CopyKey(rightBuffer.AsSpan(EntriesOffset, _keySize));
        }
        else
        {
            separator = rightBuffer.AsSpan(EntriesOffset, _keySize).ToArray(); // moves up with its ownership
            Array.Clear(rightBuffer, EntriesOffset, _keySize);
        }

        WriteEntries(left, leftBuffer, 0, newLeft, entrySize);
        WriteEntryCount(left, newLeft);
        WriteEntries(right, rightBuffer, 0, total - newLeft, entrySize);
        WriteEntryCount(right, total - newLeft);
        _pool.WriteBytesInTransaction(parent + separatorAt, separator);
    }

    private void FreeNode(long node)
    {
        _pool.FreeInTransaction(node);
        _pool.WriteValue(Header + NodeCountOffset, _pool.ReadValue<long>(Header + NodeCountOffset) - 1);
    }

    private void FreeOwnedString(ReadOnlySpan<byte> slot, SlotKind kind)
    {
        if (kind == SlotKind.String && BinaryPrimitives.ReadInt64LittleEndian(slot) is var owned and not 0)
        {
            _pool.FreeInTransaction(owned);
        }
    }
}
