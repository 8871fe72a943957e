// PersistentSortedDictionary (insert) -- descending to a leaf, inserting an entry, splitting full nodes up to a new root.
using System.Buffers.Binary;
using Pmem.Memory;
using Pmem.Pool;
using static Pmem.Pool.SortedLayout;

namespace Pmem.Objects;

public sealed partial class PersistentSortedDictionary<TKey, TValue>
{
    /// <summary>
    /// The nodes from the root to a leaf and the entry taken in each inner node (<c>Nodes[0]</c> is the root,
    /// <c>Nodes[Height - 1]</c> the leaf), read through the running transaction. The arrays may be longer than the path.
    /// </summary>
    private readonly record struct TreePath(long[] Nodes, int[] Taken, int Height)
    {
        public long Leaf => Nodes[Height - 1];
    }

    /// <summary>
    /// What an insert or removal works in (the path's arrays, the leaf's image, inner nodes' images) and a lookup in a
    /// transaction that has written (node images). Every write copies out of them and no answer keeps them, so one set
    /// per thread serves every operation (a nested one, which cannot happen today, would make its own).
    /// </summary>
    private sealed class Scratch
    {
        public long[] Nodes = new long[8];
        public int[] Taken = new int[8];
        public byte[] Leaf = [];
        public byte[] Inner = []; // an inner node's image while descending, in a transaction that has written
    }

    [ThreadStatic] private static Scratch? t_scratch;

    private Scratch RentScratch(int height)
    {
        var scratch = t_scratch ?? new Scratch();
        t_scratch = null;
        if (scratch.Nodes.Length < height)
        {
            (scratch.Nodes, scratch.Taken) = (new long[height], new int[height]);
        }

        if (scratch.Leaf.Length != _nodeSize)
        {
            (scratch.Leaf, scratch.Inner) = (new byte[_nodeSize], new byte[_nodeSize]);
        }

        return scratch;
    }

    private static void ReturnScratch(Scratch scratch) => t_scratch = scratch;

    private TreePath Descend(in SearchKey<TKey> key, Scratch work, int height)
    {
        var path = new TreePath(work.Nodes, work.Taken, height);
        var node = Root;
        var scratch = _pool.HasUncommittedWrites ? work.Inner : null; // the live nodes when nothing is written yet
        for (var depth = 0; depth < height - 1; depth++)
        {
            path.Nodes[depth] = node;
            var inner = ReadNode(node, scratch);
            if (EntryCount(inner) == 0)
            {
                // A damaged count: the insert or removal would shift entries by a negative length.
                throw new PoolCorruptedException(_pool.Path, $"the sorted collection at {Header} has an inner node at {node} with no children");
            }

            path.Taken[depth] = ChildIndex(inner, key);
            node = ChildAt(inner, path.Taken[depth]);
        }

        path.Nodes[height - 1] = node;
        CachePrefetch.Lines(_domain, node, _nodeSize); // the leaf loads while it is checked, before it is copied
        return path;
    }

    private byte[] CopyOfNode(long node) => CopyOfNode(node, new byte[_nodeSize]);

    /// <summary>Reads a node as this thread sees it into <paramref name="buffer"/> (of the node size).</summary>
    private byte[] CopyOfNode(long node, byte[] buffer)
    {
        ThrowIfNotNode(node);
        _pool.ReadBytes(node, buffer);
        return buffer;
    }

    /// <summary>What an insert does with a key already present.</summary>
    private enum Existing
    {
        Overwrite,
        Throw,
        Keep,
    }

    private void Put(TKey key, TValue value, bool overwrite) => Put(key, value, overwrite ? Existing.Overwrite : Existing.Throw);

    /// <summary>Adds <paramref name="key"/> unless present (then changes nothing); true when it was added. For sets.</summary>
    internal bool TryAdd(TKey key, TValue value) => Put(key, value, Existing.Keep);

    private bool Put(TKey key, TValue value, Existing existing)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _pool.Atomically((this, key, value, existing), static s => s.Item1.PutInTransaction(s.key, s.value, s.existing));
    }

    /// <summary>Inserts or overwrites; true when the key was new.</summary>
    private bool PutInTransaction(TKey key, TValue value, Existing existing)
    {
        if (Root == 0)
        {
            EnsureHeader(); // the first insert creates the dictionary, in this transaction
            if (Root == 0) // (else this waited there for another thread's creation, and inserts into its tree)
            {
                PutFirst(key, value);
                return true;
            }
        }

        var search = _keys.Prepare(key);
        var height = Height;
        var work = RentScratch(height);
        try
        {
            var path = Descend(search, work, height);
            return PutInLeaf(key, value, existing, path, CopyOfNode(path.Leaf, work.Leaf), search);
        }
        finally
        {
            ReturnScratch(work);
        }
    }

    /// <summary>The first entry, in a leaf that becomes the root.</summary>
    private void PutFirst(TKey key, TValue value)
    {
        var entry = new byte[_leafEntry];
        _keys.Codec.Encode(_pool, entry.AsSpan(0, _keySize), key);
        _values.Encode(_pool, entry.AsSpan(_keySize), value);
        var leaf = NewNode(0, 0, 0, [entry], _leafEntry);
        _pool.WriteValue(Header + RootOffset, leaf);
        _pool.WriteValue(Header + HeightOffset, 1);
        SetCount(1);
    }

    private bool PutInLeaf(TKey key, TValue value, Existing existing, TreePath path, byte[] buffer, in SearchKey<TKey> search)
    {
        var leafNode = path.Leaf;
        var position = LowerBound(buffer, search, out var found);
        if (found)
        {
            if (existing == Existing.Keep)
            {
                return false;
            }

            if (existing == Existing.Throw)
            {
                throw new ArgumentException($"The key '{key}' is already in the dictionary.", nameof(key));
            }

            _values.Write(_pool, leafNode + EntriesOffset + (long)position * _leafEntry + _keySize, value); // frees a replaced string
            Touch();
            return false;
        }

        Span<byte> entry = stackalloc byte[_leafEntry];
        _keys.Codec.Encode(_pool, entry[.._keySize], key);
        _values.Encode(_pool, entry[_keySize..], value);
        InsertEntry(path, path.Height - 1, buffer, position, entry);
        SetCount(Count + 1);
        return true;
    }

    /// <summary>
    /// Inserts <paramref name="entry"/> at <paramref name="position"/> of the node at <paramref name="depth"/> of the path
    /// (its bytes in <paramref name="buffer"/>), splitting it when full and inserting the new right node's separator
    /// into its parent, up to a new root.
    /// </summary>
    private void InsertEntry(TreePath path, int depth, byte[] buffer, int position, ReadOnlySpan<byte> entry)
    {
        var node = path.Nodes[depth];
        var isLeaf = depth == path.Height - 1;
        var (entrySize, capacity) = isLeaf ? (_leafEntry, _leafCapacity) : (_innerEntry, _innerCapacity);
        var count = EntryCount(buffer);
        var at = EntriesOffset + position * entrySize;
        if (count < capacity)
        {
            // Room: shift the tail one entry right and write the changed range (one write-set entry) and the count.
            Buffer.BlockCopy(buffer, at, buffer, at + entrySize, (count - position) * entrySize);
            entry.CopyTo(buffer.AsSpan(at));
            WriteEntries(node, buffer, position, count + 1, entrySize);
            WriteEntryCount(node, count + 1);
            return;
        }

        // Full: the node keeps the first half of its entries and the new one; a new right node takes the rest.
        var all = new byte[(count + 1) * entrySize];
        Buffer.BlockCopy(buffer, EntriesOffset, all, 0, position * entrySize);
        entry.CopyTo(all.AsSpan(position * entrySize));
        Buffer.BlockCopy(buffer, at, all, (position + 1) * entrySize, (count - position) * entrySize);
        var leftCount = (count + 1) / 2;
        var right = EntriesOf(all, leftCount, count + 1, entrySize);
        byte[] separator;
        long rightNode;
        if (isLeaf)
        {
            var next = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(NodeNextOffset));
            rightNode = NewNode(0, next, node, right, entrySize);
            _pool.WriteValue(node + NodeNextOffset, rightNode);
            if (next != 0)
            {
                _pool.WriteValue(next + NodePreviousOffset, rightNode);
            }

            separator = CopyKey(right[0]); // the parent's own copy (a string key gets its own string)
        }
        else
        {
            // The middle separator moves up (its ownership too); the right node's first key slot stays unused.
            separator = right[0][.._keySize];
            Array.Clear(right[0], 0, _keySize);
            rightNode = NewNode(path.Height - 1 - depth, 0, 0, right, entrySize);
        }

        Buffer.BlockCopy(all, 0, buffer, EntriesOffset, leftCount * entrySize);
        WriteEntries(node, buffer, Math.Min(position, leftCount), leftCount, entrySize);
        WriteEntryCount(node, leftCount);

        var parentEntry = new byte[_innerEntry];
        separator.CopyTo(parentEntry, 0);
        BinaryPrimitives.WriteInt64LittleEndian(parentEntry.AsSpan(_keySize), rightNode);
        if (depth > 0)
        {
            InsertEntry(path, depth - 1, CopyOfNode(path.Nodes[depth - 1]), path.Taken[depth - 1] + 1, parentEntry);
            return;
        }

        // The root split: a new root above it, with the old root as its first child.
        var first = new byte[_innerEntry];
        BinaryPrimitives.WriteInt64LittleEndian(first.AsSpan(_keySize), node);
        var root = NewNode(path.Height, 0, 0, [first, parentEntry], _innerEntry);
        _pool.WriteValue(Header + RootOffset, root);
        _pool.WriteValue(Header + HeightOffset, path.Height + 1);
    }

    /// <summary>A separator for an inner node from a leaf's key slot: the same bytes, or a new copy of a string key.</summary>
    private byte[] CopyKey(ReadOnlySpan<byte> slot)
    {
        var copy = new byte[_keySize];
        if (_keys.Codec.Kind == SlotKind.String)
        {
            _keys.Codec.Encode(_pool, copy, _keys.Codec.Decode(_pool, slot[.._keySize]));
        }
        else
        {
            slot[.._keySize].CopyTo(copy);
        }

        return copy;
    }

    private static byte[][] EntriesOf(byte[] all, int from, int to, int entrySize)
    {
        var entries = new byte[to - from][];
        for (var i = from; i < to; i++)
        {
            entries[i - from] = all.AsSpan(i * entrySize, entrySize).ToArray();
        }

        return entries;
    }

    /// <summary>Allocates a node in the running transaction and writes it whole (in place: only the transaction sees it).</summary>
    private long NewNode(int level, long next, long previous, byte[][] entries, int entrySize)
    {
        var content = new byte[EntriesOffset + entries.Length * entrySize];
        BinaryPrimitives.WriteInt32LittleEndian(content, entries.Length);
        BinaryPrimitives.WriteInt32LittleEndian(content.AsSpan(NodeLevelOffset), level);
        BinaryPrimitives.WriteInt64LittleEndian(content.AsSpan(NodeNextOffset), next);
        BinaryPrimitives.WriteInt64LittleEndian(content.AsSpan(NodePreviousOffset), previous);
        BinaryPrimitives.WriteInt64LittleEndian(content.AsSpan(NodeOwnerOffset), Header);
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i].CopyTo(content, EntriesOffset + i * entrySize);
        }

        var node = _pool.AllocateInTransaction(_nodeSize, TypeTable.SortedNodeTypeIndex);
        _pool.WriteBytesInTransaction(node, content);
        _pool.WriteValue(Header + NodeCountOffset, _pool.ReadValue<long>(Header + NodeCountOffset) + 1);
        return node;
    }

    /// <summary>
    /// Writes entries [from, to) of a node from its image in <paramref name="buffer"/>. A node this transaction wrote
    /// before gets its whole entry area written instead: one range that the write set rewrites in place, where
    /// shifted ranges would pile up (and every later read of the node would replay them all).
    /// </summary>
    private void WriteEntries(long node, byte[] buffer, int from, int to, int entrySize)
    {
        if (to <= from)
        {
            return;
        }

        if (buffer.Length == _nodeSize && _pool.HasWritten(node + EntriesOffset, _nodeSize - EntriesOffset))
        {
            _pool.WriteBytesInTransaction(node + EntriesOffset, buffer.AsSpan(EntriesOffset));
            return;
        }

        _pool.WriteBytesInTransaction(node + EntriesOffset + (long)from * entrySize, buffer.AsSpan(EntriesOffset + from * entrySize, (to - from) * entrySize));
    }

    private void WriteEntryCount(long node, int count) => _pool.WriteValue(node + NodeEntryCountOffset, count);

    private void SetCount(long count)
    {
        _pool.WriteValue(Header + CollectionLayout.CountOffset, count);
        Touch();
    }

    private void Touch() => _pool.WriteValue(Header + CollectionLayout.VersionOffset, Version + 1);
}
