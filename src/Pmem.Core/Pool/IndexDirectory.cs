// IndexDirectory -- the on-media directory of a pool's indexes: which property of which stored type each index tree orders.
using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>One index as the directory records it.</summary>
/// <param name="Slot">The entry's number in the directory.</param>
/// <param name="TreeWord">The offset of the word holding the index tree's header, or a hashed index's table (0 while empty); the entry starts there.</param>
/// <param name="TypeIndex">The stored type whose objects the index orders.</param>
/// <param name="PropertyOffset">The indexed property's offset inside those objects.</param>
/// <param name="Flags">What <see cref="IndexDirectory"/>'s flags say.</param>
internal readonly record struct IndexSlot(int Slot, long TreeWord, uint TypeIndex, int PropertyOffset, uint Flags)
{
    /// <summary>No two objects hold one non-default value.</summary>
    public bool IsUnique => (Flags & IndexDirectory.UniqueFlag) != 0;

    /// <summary>Not maintained (being built, or dropped): only freed, never read.</summary>
    public bool IsStale => (Flags & IndexDirectory.StaleFlag) != 0;

    /// <summary>A hash table of values (with a tree for values several objects hold), not a sorted tree.</summary>
    public bool IsHashed => (Flags & IndexDirectory.HashFlag) != 0;

    /// <summary>A hashed index's word holding the tree of the values several objects hold (see <see cref="IndexDirectory"/>).</summary>
    public long SharedTreeWord => TreeWord + IndexDirectory.SharedTreeOffset;

    /// <summary>A hashed index's word counting the values its shared tree holds.</summary>
    public long SharedValuesWord => TreeWord + IndexDirectory.SharedValuesOffset;

    /// <summary>
    /// The words holding the blocks the entry owns (0 while empty), each with its block type: the tree, or a hashed
    /// index's table and shared tree. What checks, repairs, compaction and freeing a stale index follow.
    /// </summary>
    public (long Word, uint Type)[] OwnedWords => IsHashed
        ? [(TreeWord, TypeTable.DictionaryTypeIndex), (SharedTreeWord, TypeTable.SortedDictionaryTypeIndex)]
        : [(TreeWord, TypeTable.SortedDictionaryTypeIndex)];
}

/// <summary>
/// The index directory: one heap block (type <see cref="TypeTable.IndexDirectoryTypeIndex"/>) that the header's
/// <see cref="PoolLayout.IndexDirectoryOffset"/> word points to, listing every index of the pool.
/// </summary>
/// <remarks>
/// <code>
/// 0    magic u64 "PMINDEXD"    8  capacity u32 (entries)   12 reserved, to 64
/// 64   entries of 64 bytes: [tree header u64][type index u32 (0: free entry)][property offset u32][flags u32][u32]
///      [shared tree header u64][shared values u64][reserved, to 64]    (the last two: hashed indexes only)
/// </code>
/// An index tree is a sorted dictionary without values whose keys are the property's value followed by the object's
/// offset (<see cref="SortedLayout.ObjectOffsetOrder"/>); it owns its nodes and strings, and the entry owns the tree.
/// A hashed index (<see cref="HashFlag"/>) keeps instead a dictionary from each value to the one object holding it;
/// a value several objects hold maps to <see cref="SharedValueMark"/> and its objects are entries of the shared tree,
/// an index tree as above (each value there has at least one entry), whose distinct values the shared values word counts.
/// Entries change only in transactions. An entry is claimed stale, filled, and made current by the transaction
/// that adds its last objects, so a crash mid-build leaves a stale entry, which the next open frees.
/// </remarks>
internal static class IndexDirectory
{
    public const ulong Magic = 0x445845444E494D50; // "PMINDEXD"
    public const int Capacity = 255;
    public const int HeaderSize = 64;
    public const int EntrySize = 64;
    public const int Size = HeaderSize + Capacity * EntrySize; // 16 KiB

    public const int CapacityOffset = 8;
    public const int TreeOffset = 0;
    public const int TypeIndexOffset = 8;
    public const int PropertyOffsetOffset = 12;
    public const int FlagsOffset = 16;
    public const int SharedTreeOffset = 24;
    public const int SharedValuesOffset = 32;

    public const uint UniqueFlag = 1;
    public const uint StaleFlag = 2;
    public const uint HashFlag = 4;

    /// <summary>A hashed index's dictionary value for a value several objects hold (odd: no object lives there).</summary>
    public const long SharedValueMark = 1;

    public static long EntryOffset(long directory, int slot) => directory + HeaderSize + (long)slot * EntrySize;

    /// <summary>Every claimed entry of the directory at <paramref name="directory"/> (0: none).</summary>
    public static IndexSlot[] Read(PersistenceDomain domain, long directory)
    {
        if (directory == 0)
        {
            return [];
        }

        var slots = new List<IndexSlot>();
        for (var slot = 0; slot < Capacity; slot++)
        {
            var entry = EntryOffset(directory, slot);
            var typeIndex = domain.Read<uint>(entry + TypeIndexOffset);
            if (typeIndex != 0)
            {
                slots.Add(new IndexSlot(slot, entry + TreeOffset, typeIndex, domain.Read<int>(entry + PropertyOffsetOffset), domain.Read<uint>(entry + FlagsOffset)));
            }
        }

        return [.. slots];
    }

    /// <summary>Why the directory at <paramref name="directory"/> cannot be trusted, or null (its block, magic, capacity and entries are possible).</summary>
    public static string? Problem(PersistentPool pool, long directory)
    {
        if (pool.AllocatedSizeOf(directory, TypeTable.IndexDirectoryTypeIndex) < Size)
        {
            return $"the header's index directory word points to {directory}, which is not an allocated index directory";
        }

        if (pool.ReadValue<ulong>(directory) != Magic || pool.ReadValue<int>(directory + CapacityOffset) != Capacity)
        {
            return $"the index directory at {directory} has no directory signature or another capacity";
        }

        foreach (var slot in Read(pool.Domain, directory))
        {
            if (pool.StoredTypeAt(slot.TypeIndex) is not { } stored || slot.PropertyOffset < 0 || slot.PropertyOffset > stored.Size - 1 ||
                (slot.Flags & ~(UniqueFlag | StaleFlag | HashFlag)) != 0)
            {
                return $"the index directory entry {slot.Slot} at {slot.TreeWord} names type index {slot.TypeIndex}, property offset {slot.PropertyOffset} and flags {slot.Flags}, which the pool cannot hold";
            }

            foreach (var (word, type) in slot.OwnedWords)
            {
                if (pool.ReadValue<long>(word) is var block and not 0 && pool.AllocatedSizeOf(block, type) < 0)
                {
                    var what = word == slot.SharedTreeWord ? " for its shared values" : "";
                    return $"the index directory entry {slot.Slot} points to {block}{what}, which is not an allocated {(type == TypeTable.DictionaryTypeIndex ? "dictionary" : "sorted dictionary")}";
                }
            }
        }

        return null;
    }
}
