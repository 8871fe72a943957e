// CollectionLayout -- the collection header and slot kinds: the one definition, read without the program's types.
using Pmem.Heap;

namespace Pmem.Pool;

/// <summary>What a collection slot holds, recorded durably so checks and frees work without the program's types.</summary>
internal enum SlotKind
{
    /// <summary>The value's own bytes.</summary>
    Raw = 0,

    /// <summary>An owned persistent string's offset.</summary>
    String = 1,

    /// <summary>Another persistent object's offset (not owned).</summary>
    Reference = 2,
}

/// <summary>
/// The durable layout of collection headers, defined once: read without knowing the program's element types (for
/// frees of an owning object and for <see cref="PersistentPool.Check"/>), and validated before any slot is read.
/// The pool must understand it without the collections' code (they sit above it, in <c>Objects/Collections</c>), so it
/// is format knowledge here, beside <see cref="PoolLayout"/>.
/// </summary>
/// <remarks>
/// Header (64 bytes): <c>[count][capacity][storage][version]</c>, then for a list <c>[slot size i32][slot kind i32]</c>,
/// for a dictionary <c>[key size i32][key kind i32][value size i32][value kind i32][used]</c>. A list's storage is an
/// array of slots; a dictionary's is a table of entries <c>[hash u64 (0 empty, 1 removed)][key slot][value slot]</c>.
/// </remarks>
internal static class CollectionLayout
{
    public const int HeaderSize = 64;
    public const long CountOffset = 0;
    public const long CapacityOffset = 8;
    public const long StorageOffset = 16;
    public const long VersionOffset = 24;
    public const long SlotSizeOffset = 32;
    public const long SlotKindOffset = 36;
    public const long KeySizeOffset = 32;
    public const long KeyKindOffset = 36;
    public const long ValueSizeOffset = 40;
    public const long ValueKindOffset = 44;
    public const long UsedOffset = 48;

    /// <summary>Bytes in front of a dictionary entry's key slot: the hash, 0 for empty and 1 for removed.</summary>
    public const int EntryHashSize = 8;

    /// <summary>Largest slot a codec makes (a rounded unmanaged value): anything larger is damage.</summary>
    private const int MaxSlotSize = 1 << 16;

    /// <summary>
    /// Why the collection header at <paramref name="header"/> cannot be trusted, or null when its count, capacity, slot
    /// sizes and kinds are possible and its storage is an allocated block large enough for its capacity.
    /// </summary>
    public static string? Problem(PersistentPool pool, long header, uint typeIndex)
    {
        var count = pool.ReadValue<long>(header + CountOffset);
        var capacity = pool.ReadValue<long>(header + CapacityOffset);
        var storage = pool.ReadValue<long>(header + StorageOffset);
        var name = typeIndex == TypeTable.ListTypeIndex ? "list" : "dictionary";
        if (count < 0 || capacity < 0 || count > capacity)
        {
            return $"the {name} at {header} holds {count} elements in a capacity of {capacity}";
        }

        if (typeIndex == TypeTable.DictionaryTypeIndex && (capacity & (capacity - 1)) != 0)
        {
            // Probing masks with capacity - 1: any other capacity would send inserts round a cycle missing free slots.
            return $"the dictionary at {header} has a capacity of {capacity}, not a power of two";
        }

        if (!TryEntrySize(pool, header, typeIndex, out var entrySize))
        {
            return $"the {name} at {header} records impossible slot sizes or kinds";
        }

        if (storage == 0)
        {
            return capacity == 0 ? null : $"the {name} at {header} has a capacity of {capacity} but no storage";
        }

        var size = pool.AllocatedSizeOf(storage, TypeTable.BlobTypeIndex);
        if (size < 0)
        {
            return $"the {name} at {header} points to storage at {storage}, which is not an allocated collection block";
        }

        return capacity > size / entrySize ? $"the {name} at {header} claims {capacity} slots of {entrySize} bytes, more than its storage at {storage} holds ({size} bytes)" : null;
    }

    /// <summary>
    /// The storage block and, per element, owned strings and referenced objects, each with the address of the slot
    /// that holds it (for a migration's rewrite of moved references). A header that fails
    /// <see cref="Problem"/> yields nothing beyond its storage: <paramref name="problems"/> receives why, or, when it is
    /// null (a free), a <see cref="PoolCorruptedException"/> is thrown.
    /// </summary>
    public static IEnumerable<(long Offset, bool Owned, long Slot)> Children(PersistentPool pool, long header, uint typeIndex, List<string>? problems)
    {
        var storage = pool.ReadValue<long>(header + StorageOffset);
        if (Problem(pool, header, typeIndex) is { } problem)
        {
            if (problems is null)
            {
                throw new PoolCorruptedException(pool.Path, problem);
            }

            problems.Add(problem);
            if (storage != 0 && pool.AllocatedSizeOf(storage, TypeTable.BlobTypeIndex) >= 0)
            {
                yield return (storage, true, header + StorageOffset); // still its owner: not unreachable
            }

            yield break;
        }

        if (storage == 0)
        {
            yield break;
        }

        yield return (storage, true, header + StorageOffset);
        if (typeIndex == TypeTable.ListTypeIndex)
        {
            var count = pool.ReadValue<long>(header + CountOffset);
            var size = pool.ReadValue<int>(header + SlotSizeOffset);
            var kind = (SlotKind)pool.ReadValue<int>(header + SlotKindOffset);
            for (long i = 0; i < count && kind != SlotKind.Raw; i++)
            {
                if (pool.ReadValue<long>(storage + i * size) is var target and not 0)
                {
                    yield return (ChildTarget(kind, target), kind == SlotKind.String, storage + i * size);
                }
            }

            yield break;
        }

        var capacity = pool.ReadValue<long>(header + CapacityOffset);
        var keySize = pool.ReadValue<int>(header + KeySizeOffset);
        var keyKind = (SlotKind)pool.ReadValue<int>(header + KeyKindOffset);
        var valueKind = (SlotKind)pool.ReadValue<int>(header + ValueKindOffset);
        TryEntrySize(pool, header, typeIndex, out var entrySize);
        long live = 0;
        for (long i = 0; i < capacity; i++)
        {
            var entry = storage + i * entrySize;
            if (pool.ReadValue<ulong>(entry) <= 1)
            {
                continue;
            }

            live++;

            if (keyKind != SlotKind.Raw && pool.ReadValue<long>(entry + EntryHashSize) is var key and not 0)
            {
                yield return (ChildTarget(keyKind, key), keyKind == SlotKind.String, entry + EntryHashSize);
            }

            if (valueKind != SlotKind.Raw && pool.ReadValue<long>(entry + EntryHashSize + keySize) is var value and not 0)
            {
                yield return (ChildTarget(valueKind, value), valueKind == SlotKind.String, entry + EntryHashSize + keySize);
            }
        }

        if (problems is not null && live != pool.ReadValue<long>(header + CountOffset))
        {
            problems.Add($"the dictionary at {header} counts {pool.ReadValue<long>(header + CountOffset)} entries; its table holds {live}");
        }

        if (problems is not null && DictionaryTables.Problem(pool, header) is { } unfindable)
        {
            problems.Add(unfindable);
        }
    }

    /// <summary>The live entries of a dictionary's table (hash word above 1), for a repair that recounts them.</summary>
    public static long LiveEntries(PersistentPool pool, long header, out long used)
    {
        used = 0;
        long live = 0;
        var storage = pool.ReadValue<long>(header + StorageOffset);
        if (Problem(pool, header, TypeTable.DictionaryTypeIndex) is not null || storage == 0 || !TryEntrySize(pool, header, TypeTable.DictionaryTypeIndex, out var entrySize))
        {
            return -1;
        }

        for (long i = 0, capacity = pool.ReadValue<long>(header + CapacityOffset); i < capacity; i++)
        {
            var hash = pool.ReadValue<ulong>(storage + i * entrySize);
            used += hash == 0 ? 0 : 1;
            live += hash > 1 ? 1 : 0;
        }

        return live;
    }

    /// <summary>A list's storage, count and slot (its header checked first), for readers that walk its elements.</summary>
    /// <exception cref="PoolCorruptedException">The header is damaged (see <see cref="Problem"/>).</exception>
    public static (long Storage, long Count, int SlotSize, SlotKind Kind) ListShape(PersistentPool pool, long header)
    {
        ThrowIfDamaged(pool, header, TypeTable.ListTypeIndex);
        return (pool.ReadValue<long>(header + StorageOffset), pool.ReadValue<long>(header + CountOffset),
            pool.ReadValue<int>(header + SlotSizeOffset), (SlotKind)pool.ReadValue<int>(header + SlotKindOffset));
    }

    /// <summary>The key and value slots of a dictionary, or of a sorted dictionary (same header words), as recorded.</summary>
    public static (int KeySize, SlotKind KeyKind, int ValueSize, SlotKind ValueKind) EntryShape(PersistentPool pool, long header) =>
        (pool.ReadValue<int>(header + KeySizeOffset), (SlotKind)pool.ReadValue<int>(header + KeyKindOffset),
         pool.ReadValue<int>(header + ValueSizeOffset), (SlotKind)pool.ReadValue<int>(header + ValueKindOffset));

    /// <summary>The key and value slot addresses of a dictionary's live entries, in table order (its header checked first).</summary>
    /// <exception cref="PoolCorruptedException">The header is damaged (see <see cref="Problem"/>).</exception>
    public static IEnumerable<(long Key, long Value)> DictionaryEntries(PersistentPool pool, long header)
    {
        ThrowIfDamaged(pool, header, TypeTable.DictionaryTypeIndex);
        var storage = pool.ReadValue<long>(header + StorageOffset);
        var capacity = pool.ReadValue<long>(header + CapacityOffset);
        var keySize = pool.ReadValue<int>(header + KeySizeOffset);
        TryEntrySize(pool, header, TypeTable.DictionaryTypeIndex, out var entrySize);
        for (long i = 0; i < capacity && storage != 0; i++)
        {
            var entry = storage + i * entrySize;
            if (pool.ReadValue<ulong>(entry) > 1)
            {
                yield return (entry + EntryHashSize, entry + EntryHashSize + keySize);
            }
        }
    }

    private static void ThrowIfDamaged(PersistentPool pool, long header, uint typeIndex)
    {
        if (Problem(pool, header, typeIndex) is { } problem)
        {
            throw new PoolCorruptedException(pool.Path, problem);
        }
    }

    /// <summary>Bytes per list slot or dictionary entry, when the recorded sizes and kinds are possible.</summary>
    internal static bool TryEntrySize(PersistentPool pool, long header, uint typeIndex, out long entrySize)
    {
        entrySize = 0;
        var (size, kind) = (pool.ReadValue<int>(header + SlotSizeOffset), pool.ReadValue<int>(header + SlotKindOffset));
        if (!IsSlot(size, kind))
        {
            return false;
        }

        if (typeIndex == TypeTable.ListTypeIndex)
        {
            entrySize = size;
            return true;
        }

        var (valueSize, valueKind) = (pool.ReadValue<int>(header + ValueSizeOffset), pool.ReadValue<int>(header + ValueKindOffset));
        if (!IsSlot(valueSize, valueKind))
        {
            return false;
        }

        entrySize = EntryHashSize + (long)size + valueSize;
        return true;
    }

    private static bool IsSlot(int size, int kind) =>
        size > 0 && size <= MaxSlotSize && size % 8 == 0 && kind is >= (int)SlotKind.Raw and <= (int)SlotKind.Reference && (kind == (int)SlotKind.Raw || size == 8);

    /// <summary>The block a child slot's word designates: a reference word carries its target's generation above the offset.</summary>
    internal static long ChildTarget(SlotKind kind, long word) => kind == SlotKind.Reference ? BlockGeneration.TargetOf(word) : word;
}
