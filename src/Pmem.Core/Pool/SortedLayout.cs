// SortedLayout -- the sorted dictionary's header and B+-tree node format: the one definition, read without the program's types.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>
/// The durable layout of a sorted dictionary (and set): a <see cref="CollectionLayout"/> header whose storage word is
/// the root node of a B+-tree of fixed-size nodes, each a block of type <see cref="TypeTable.SortedNodeTypeIndex"/>.
/// </summary>
/// <remarks>
/// Header (64 bytes): <c>[count][node count][root][version][key size i32][key kind i32][value size i32][value kind i32]
/// [key order i32][node size i32][height i32][key width i32]</c> (the key's own bytes, before its slot's padding); value size 0 is a set. Node: <c>[entry count i32][level i32 (0 =
/// leaf)][next leaf][previous leaf][owning header]</c>, then entries from <see cref="EntriesOffset"/>: a leaf's are
/// <c>[key slot][value slot]</c> in key order; an inner node's are <c>[key slot][child]</c>, where child i holds the keys
/// from key i (inclusive) to key i + 1 and the key slot of entry 0 is unused (zero): an inner key is a separator the node
/// owns (a string key is an owned copy), never the leaf's own slot. The header owns every node and every string in
/// them; a node block owns nothing by itself, so a node merged away is freed alone.
/// </remarks>
internal static class SortedLayout
{
    public const long NodeCountOffset = CollectionLayout.CapacityOffset;
    public const long RootOffset = CollectionLayout.StorageOffset;
    public const long KeyOrderOffset = 48;
    public const long NodeSizeOffset = 52;
    public const long HeightOffset = 56;
    public const long KeyWidthOffset = 60;

    /// <summary>
    /// Set in a recorded key order when each key slot ends with an object's offset (an index's tree): keys order by
    /// the value part first, then by that offset as an unsigned number.
    /// </summary>
    public const KeyOrder ObjectOffsetOrder = (KeyOrder)0x100;

    /// <summary>The key part of a <see cref="KeyOrder.OrdinalPrefixed"/> slot: the string's offset, then its <see cref="StringKeyPrefix"/>.</summary>
    public const int PrefixedStringKeySize = 8 + StringKeyPrefix.Size;

    public const int NodeEntryCountOffset = 0;
    public const int NodeLevelOffset = 4;
    public const int NodeNextOffset = 8;
    public const int NodePreviousOffset = 16;
    public const int NodeOwnerOffset = 24;
    public const int EntriesOffset = 32;

    /// <summary>The node size for new trees: 512 bytes (30 <c>long → long</c> entries: an insert logs and flushes a few lines of shifted entries, not a dozen), or more when that would hold fewer than 8 entries.</summary>
    private const int PreferredNodeSize = 512;
    private const int MinimumFanout = 8;
    private const int MaxNodeSize = 1 << 16;
    private const int MaxHeight = 64;

    public static int NodeSizeFor(int keySize, int valueSize)
    {
        var widest = Math.Max(keySize + valueSize, keySize + 8);
        var size = Math.Max(PreferredNodeSize, EntriesOffset + MinimumFanout * widest);
        return (size + 63) & ~63;
    }

    public static int LeafCapacity(int nodeSize, int keySize, int valueSize) => (nodeSize - EntriesOffset) / (keySize + valueSize);

    public static int InnerCapacity(int nodeSize, int keySize) => (nodeSize - EntriesOffset) / (keySize + 8);

    /// <summary>The key width an order compares (its type's size), or null for integers of any width and strings.</summary>
    private static int? WidthOf(KeyOrder order) => order switch
    {
        KeyOrder.Guid or KeyOrder.DateTimeOffset or KeyOrder.Decimal => 16,
        KeyOrder.DateTime => 8,
        _ => null,
    };

    /// <summary>Why the header at <paramref name="header"/> cannot be trusted, or null when its fields are possible.</summary>
    public static string? Problem(PersistentPool pool, long header)
    {
        var count = pool.ReadValue<long>(header + CollectionLayout.CountOffset);
        var nodes = pool.ReadValue<long>(header + NodeCountOffset);
        var root = pool.ReadValue<long>(header + RootOffset);
        var keySize = pool.ReadValue<int>(header + CollectionLayout.KeySizeOffset);
        var keyKind = pool.ReadValue<int>(header + CollectionLayout.KeyKindOffset);
        var valueSize = pool.ReadValue<int>(header + CollectionLayout.ValueSizeOffset);
        var valueKind = pool.ReadValue<int>(header + CollectionLayout.ValueKindOffset);
        var order = pool.ReadValue<int>(header + KeyOrderOffset);
        var nodeSize = pool.ReadValue<int>(header + NodeSizeOffset);
        var height = pool.ReadValue<int>(header + HeightOffset);
        var width = pool.ReadValue<int>(header + KeyWidthOffset);
        var valueKeySize = (order & (int)ObjectOffsetOrder) != 0 ? keySize - 8 : keySize; // an index key's value part
        order &= ~(int)ObjectOffsetOrder;
        var widthFits = order == (int)KeyOrder.OrdinalPrefixed
            ? width == PrefixedStringKeySize && valueKeySize == PrefixedStringKeySize
            : width is 1 or 2 or 4 or 8 or 16 && width <= valueKeySize && valueKeySize is > 0 and <= 16 && width == (WidthOf((KeyOrder)order) ?? width);
        if (!widthFits || keySize % 8 != 0 || keyKind is not ((int)SlotKind.Raw or (int)SlotKind.String) ||
            (keyKind == (int)SlotKind.String) != (order is (int)KeyOrder.Ordinal or (int)KeyOrder.OrdinalPrefixed) || order is < (int)KeyOrder.Signed or > (int)KeyOrder.OrdinalPrefixed ||
            valueSize < 0 || valueSize > 1 << 12 || valueSize % 8 != 0 || valueKind is < (int)SlotKind.Raw or > (int)SlotKind.Reference ||
            (valueKind != (int)SlotKind.Raw && valueSize != 8) || (valueSize == 0 && valueKind != (int)SlotKind.Raw))
        {
            return $"the sorted dictionary at {header} records impossible key or value slots";
        }

        if (nodeSize != NodeSizeFor(keySize, valueSize) && (nodeSize is < PreferredNodeSize or > MaxNodeSize || nodeSize % 64 != 0 ||
            LeafCapacity(nodeSize, keySize, valueSize) < 4 || InnerCapacity(nodeSize, keySize) < 4))
        {
            return $"the sorted dictionary at {header} records an impossible node size {nodeSize}";
        }

        if (count < 0 || nodes < 0 || height is < 0 or > MaxHeight || (root == 0) != (height == 0) || (root == 0 && (count != 0 || nodes != 0)))
        {
            return $"the sorted dictionary at {header} holds {count} entries in {nodes} nodes of height {height} under root {root}";
        }

        return null;
    }

    /// <summary>
    /// Every node and every owned string or referenced object of the tree under <paramref name="header"/>. With
    /// <paramref name="problems"/> (a check) it also verifies each node: allocated as a node, owned by this header, at its
    /// level, entry counts possible, keys in order and inside their parent's bounds, the leaf chain, and the totals; what
    /// is wrong is added there and the damaged part skipped. Without it (a free) damage throws
    /// <see cref="PoolCorruptedException"/>.
    /// </summary>
    public static List<(long Offset, bool Owned, long Slot)> Children(PersistentPool pool, long header, List<string>? problems)
    {
        var children = new List<(long, bool, long)>();
        void Report(string problem)
        {
            if (problems is null)
            {
                throw new PoolCorruptedException(pool.Path, problem);
            }

            problems.Add(problem);
        }

        if (Problem(pool, header) is { } headerProblem)
        {
            Report(headerProblem);
            return children;
        }

        var root = pool.ReadValue<long>(header + RootOffset);
        if (root == 0)
        {
            return children;
        }

        var keySize = pool.ReadValue<int>(header + CollectionLayout.KeySizeOffset);
        var keyKind = (SlotKind)pool.ReadValue<int>(header + CollectionLayout.KeyKindOffset);
        var valueSize = pool.ReadValue<int>(header + CollectionLayout.ValueSizeOffset);
        var valueKind = (SlotKind)pool.ReadValue<int>(header + CollectionLayout.ValueKindOffset);
        var order = (KeyOrder)pool.ReadValue<int>(header + KeyOrderOffset);
        var nodeSize = pool.ReadValue<int>(header + NodeSizeOffset);
        var height = pool.ReadValue<int>(header + HeightOffset);
        var width = pool.ReadValue<int>(header + KeyWidthOffset);
        var leafCapacity = LeafCapacity(nodeSize, keySize, valueSize);
        var innerCapacity = InnerCapacity(nodeSize, keySize);
        var checking = problems is not null;
        var buffer = new byte[nodeSize];
        var visited = new HashSet<long>();
        long entries = 0, previousLeaf = 0;
        var pending = new Stack<(long Node, long Slot, int Level, byte[]? Lower, byte[]? Upper)>();
        pending.Push((root, header + RootOffset, height - 1, null, null));
        while (pending.Count > 0)
        {
            var (node, slot, level, lower, upper) = pending.Pop();
            if (!visited.Add(node))
            {
                Report($"the sorted dictionary at {header} reaches its node at {node} twice");
                continue;
            }

            if (pool.AllocatedSizeOf(node, TypeTable.SortedNodeTypeIndex) < nodeSize)
            {
                Report($"the sorted dictionary at {header} points to {node}, which is not an allocated node of {nodeSize} bytes");
                continue;
            }

            children.Add((node, true, slot)); // the slot that points to it: the header's root word or its parent's child entry
            pool.ReadBytes(node, buffer);
            var count = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(NodeEntryCountOffset));
            var storedLevel = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(NodeLevelOffset));
            var capacity = level == 0 ? leafCapacity : innerCapacity;
            var minimum = node == root ? (level == 0 ? 1 : 2) : 1;
            if (storedLevel != level || count < minimum || count > capacity)
            {
                Report($"the sorted dictionary node at {node} holds {count} entries at level {storedLevel} where level {level} and {minimum}..{capacity} entries belong");
                continue;
            }

            if (checking && BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(NodeOwnerOffset)) != header)
            {
                Report($"the sorted dictionary node at {node} names another owner than {header}");
            }

            var entrySize = keySize + (level == 0 ? valueSize : 8);
            byte[]? previousKey = null;
            var firstKey = level == 0 ? 0 : 1;
            for (var i = 0; i < count; i++)
            {
                var entry = buffer.AsSpan(EntriesOffset + i * entrySize, entrySize);
                if (i >= firstKey)
                {
                    if (keyKind == SlotKind.String)
                    {
                        children.Add((BinaryPrimitives.ReadInt64LittleEndian(entry), true, node + EntriesOffset + (long)i * entrySize));
                    }

                    if (checking)
                    {
                        var key = entry[..keySize].ToArray();
                        if (Compare(pool, order, width, previousKey ?? lower, key) is var c && c is > 0 or int.MinValue ||
                            (previousKey is not null && c == 0) || (upper is not null && Compare(pool, order, width, key, upper) is >= 0 or int.MinValue))
                        {
                            Report($"the sorted dictionary node at {node} holds its key {i} out of order or outside its parent's bounds");
                        }

                        if ((order & ~ObjectOffsetOrder) == KeyOrder.OrdinalPrefixed && !PrefixMatches(pool, key))
                        {
                            Report($"the sorted dictionary node at {node} holds its key {i} with a prefix that is not its string's");
                        }

                        previousKey = key;
                    }
                }

                if (level == 0)
                {
                    entries++;
                    if (valueKind != SlotKind.Raw && BinaryPrimitives.ReadInt64LittleEndian(entry[keySize..]) is var target and not 0)
                    {
                        children.Add((CollectionLayout.ChildTarget(valueKind, target), valueKind == SlotKind.String, node + EntriesOffset + (long)i * entrySize + keySize));
                    }
                }
            }

            if (level == 0)
            {
                if (checking && BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(NodePreviousOffset)) != previousLeaf)
                {
                    Report($"the sorted dictionary leaf at {node} links back to another leaf than {previousLeaf}");
                }

                if (checking && previousLeaf != 0 && pool.ReadValue<long>(previousLeaf + NodeNextOffset) != node)
                {
                    Report($"the sorted dictionary leaf at {previousLeaf} does not link on to its next leaf {node}");
                }

                previousLeaf = node;
                continue;
            }

            // Children pushed last to first, so leaves are visited in key order (the leaf chain check above).
            for (var i = count - 1; i >= 0; i--)
            {
                var entry = buffer.AsSpan(EntriesOffset + i * entrySize, entrySize);
                var child = BinaryPrimitives.ReadInt64LittleEndian(entry[keySize..]);
                var childLower = i == 0 ? lower : entry[..keySize].ToArray();
                var childUpper = i == count - 1 ? upper : buffer.AsSpan(EntriesOffset + (i + 1) * entrySize, keySize).ToArray();
                pending.Push((child, node + EntriesOffset + (long)i * entrySize + keySize, level - 1, checking ? childLower : null, checking ? childUpper : null));
            }
        }

        if (checking && previousLeaf != 0 && pool.ReadValue<long>(previousLeaf + NodeNextOffset) != 0)
        {
            Report($"the sorted dictionary's last leaf at {previousLeaf} links on past the end");
        }

        if (checking && (entries != pool.ReadValue<long>(header + CollectionLayout.CountOffset) || visited.Count != pool.ReadValue<long>(header + NodeCountOffset)))
        {
            Report($"the sorted dictionary at {header} counts {pool.ReadValue<long>(header + CollectionLayout.CountOffset)} entries in {pool.ReadValue<long>(header + NodeCountOffset)} nodes; its tree holds {entries} in {visited.Count}");
        }

        return children;
    }

    /// <summary>The words of a node that hold other blocks' offsets besides its entries: the leaf links and the owning header.</summary>
    public static readonly int[] NodeLinkOffsets = [NodeNextOffset, NodePreviousOffset, NodeOwnerOffset];

    /// <summary>
    /// The key and value slot addresses of a sorted dictionary's entries in key order: down the first children to the
    /// first leaf, then along the leaf chain. The header is checked first; a chain that leaves the tree's nodes or runs
    /// past the recorded count is damage.
    /// </summary>
    /// <exception cref="PoolCorruptedException">The header or the leaf chain is damaged.</exception>
    public static IEnumerable<(long Key, long Value)> Entries(PersistentPool pool, long header)
    {
        if (Problem(pool, header) is { } problem)
        {
            throw new PoolCorruptedException(pool.Path, problem);
        }

        var node = pool.ReadValue<long>(header + RootOffset);
        var keySize = pool.ReadValue<int>(header + CollectionLayout.KeySizeOffset);
        var valueSize = pool.ReadValue<int>(header + CollectionLayout.ValueSizeOffset);
        var nodeSize = pool.ReadValue<int>(header + NodeSizeOffset);
        var count = pool.ReadValue<long>(header + CollectionLayout.CountOffset);
        var leafCapacity = LeafCapacity(nodeSize, keySize, valueSize);
        for (var level = pool.ReadValue<int>(header + HeightOffset) - 1; level > 0 && node != 0; level--)
        {
            ThrowIfNotNode(pool, header, node, nodeSize);
            node = pool.ReadValue<long>(node + EntriesOffset + keySize); // entry 0's child: the smallest keys
        }

        long seen = 0;
        while (node != 0)
        {
            ThrowIfNotNode(pool, header, node, nodeSize);
            var entries = pool.ReadValue<int>(node + NodeEntryCountOffset);
            if (entries < 0 || entries > leafCapacity || seen + entries > count || pool.ReadValue<int>(node + NodeLevelOffset) != 0)
            {
                throw new PoolCorruptedException(pool.Path, $"the sorted dictionary at {header} has a leaf at {node} holding {entries} entries where at most {Math.Min(leafCapacity, count - seen)} belong");
            }

            for (var i = 0; i < entries; i++)
            {
                var slot = node + EntriesOffset + (long)i * (keySize + valueSize);
                yield return (slot, slot + keySize);
            }

            seen += entries;
            node = pool.ReadValue<long>(node + NodeNextOffset);
        }

        if (seen != count)
        {
            throw new PoolCorruptedException(pool.Path, $"the sorted dictionary at {header} counts {count} entries; its leaves hold {seen}");
        }
    }

    private static void ThrowIfNotNode(PersistentPool pool, long header, long node, int nodeSize)
    {
        if (pool.AllocatedSizeOf(node, TypeTable.SortedNodeTypeIndex) < nodeSize)
        {
            throw new PoolCorruptedException(pool.Path, $"the sorted dictionary at {header} points to {node}, which is not an allocated node of {nodeSize} bytes");
        }
    }

    /// <summary>
    /// Compares two key slots in the recorded order: negative, zero or positive; <see cref="int.MinValue"/> when a string
    /// key cannot be read. A null side is unbounded below.
    /// </summary>
    public static int Compare(PersistentPool pool, KeyOrder order, int width, byte[]? a, byte[] b)
    {
        if (a is null)
        {
            return -1;
        }

        if ((order & ObjectOffsetOrder) != 0)
        {
            var c = Compare(pool, order & ~ObjectOffsetOrder, width, a, b);
            return c != 0 ? c : BinaryPrimitives.ReadUInt64LittleEndian(a.AsSpan(a.Length - 8)).CompareTo(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(b.Length - 8)));
        }

        return order switch
        {
            KeyOrder.Signed => ReadSigned(a, width).CompareTo(ReadSigned(b, width)),
            KeyOrder.Unsigned => ReadUnsigned(a, width).CompareTo(ReadUnsigned(b, width)),
            KeyOrder.Guid => MemoryMarshal.Read<Guid>(a).CompareTo(MemoryMarshal.Read<Guid>(b)),
            KeyOrder.DateTime => MemoryMarshal.Read<DateTime>(a).CompareTo(MemoryMarshal.Read<DateTime>(b)),
            KeyOrder.DateTimeOffset => MemoryMarshal.Read<DateTimeOffset>(a).CompareTo(MemoryMarshal.Read<DateTimeOffset>(b)),
            KeyOrder.Decimal => MemoryMarshal.Read<decimal>(a).CompareTo(MemoryMarshal.Read<decimal>(b)),
            _ => CompareStrings(pool, a, b),
        };
    }

    private static int CompareStrings(PersistentPool pool, byte[] a, byte[] b)
    {
        try
        {
            var (left, right) = (BinaryPrimitives.ReadInt64LittleEndian(a), BinaryPrimitives.ReadInt64LittleEndian(b));
            return left == 0 || right == 0 ? int.MinValue : Math.Sign(string.CompareOrdinal(pool.ReadStringAt(left), pool.ReadStringAt(right)));
        }
        catch (Exception e) when (e is PoolException or PersistentTypeMismatchException)
        {
            return int.MinValue;
        }
    }

    /// <summary>Whether a prefixed string key's stored prefix is its string's (an unreadable string is reported by the order check).</summary>
    private static bool PrefixMatches(PersistentPool pool, byte[] key)
    {
        try
        {
            var target = BinaryPrimitives.ReadInt64LittleEndian(key);
            Span<byte> expected = stackalloc byte[StringKeyPrefix.Size];
            StringKeyPrefix.Encode(target == 0 ? "" : pool.ReadStringAt(target), expected);
            return target == 0 || expected.SequenceEqual(key.AsSpan(8, StringKeyPrefix.Size));
        }
        catch (Exception e) when (e is PoolException or PersistentTypeMismatchException)
        {
            return true;
        }
    }

    private static Int128 ReadSigned(byte[] slot, int width) => width switch
    {
        1 => (sbyte)slot[0],
        2 => MemoryMarshal.Read<short>(slot),
        4 => MemoryMarshal.Read<int>(slot),
        8 => MemoryMarshal.Read<long>(slot),
        _ => MemoryMarshal.Read<Int128>(slot),
    };

    private static UInt128 ReadUnsigned(byte[] slot, int width) => width switch
    {
        1 => slot[0],
        2 => MemoryMarshal.Read<ushort>(slot),
        4 => MemoryMarshal.Read<uint>(slot),
        8 => MemoryMarshal.Read<ulong>(slot),
        _ => MemoryMarshal.Read<UInt128>(slot),
    };
}
