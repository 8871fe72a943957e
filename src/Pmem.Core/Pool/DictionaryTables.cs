// DictionaryTables -- a dictionary's table checked against its keys (stored hashes, reachability by probing) and rebuilt by repair.
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Heap;
using static Pmem.Pool.CollectionLayout;

namespace Pmem.Pool;

/// <summary>
/// What <see cref="CollectionLayout.Problem"/> cannot see from a dictionary's header: whether each live entry stores
/// its key's hash and can be found by probing from its home slot. Works without the program's types: a key's hash is
/// computed from its slot as the codecs do (<c>RawCodec</c>, <c>StringCodec</c>, <c>ReferenceCodec</c>, all | 2).
/// </summary>
internal static class DictionaryTables
{
    /// <summary>What a null string key hashes to (<c>StringCodec</c> uses this definition).</summary>
    internal const ulong NullStringHash = 0x9E3779B97F4A7C15UL;

    /// <summary>What a reference key's offset is multiplied by for its hash (<c>ReferenceCodec</c> uses this definition).</summary>
    internal const ulong ReferenceHashFactor = 0x9E3779B97F4A7C15UL;

    /// <summary>
    /// Why some live entry of the dictionary at <paramref name="header"/> cannot be found by a lookup of its key (a
    /// stored hash that is not its key's, or an empty slot between its home slot and it, or an earlier entry of the same
    /// key in its probe run, which lookups find instead), or null. The header must have passed
    /// <see cref="CollectionLayout.Problem"/>. One key hash per entry, and one pass over the table.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // one call walks a whole table: a tool checks once per process, so no tier-up would come
    public static string? Problem(PersistentPool pool, long header)
    {
        var (storage, capacity, keySize, keyKind, entrySize) = Shape(pool, header);
        if (storage == 0 || capacity == 0)
        {
            return null;
        }

        var mask = capacity - 1;
        var start = 0L; // an empty slot, from which each run of entries is walked in probing order
        while (start < capacity && pool.ReadValue<ulong>(storage + start * entrySize) != 0)
        {
            start++;
        }

        var lastEmpty = start < capacity ? start : -1; // -1: a full table has no empty slot to end a probe early
        var width = keySize;
        // The entries since the last empty slot (one key's entries all lie in one run): arrays, not a list of tuples,
        // whose generic code a process checking once would run unoptimized.
        var (runHashes, runEntries, runCount) = (new ulong[16], new long[16], 0);
        for (long k = 1; k <= capacity; k++)
        {
            var slot = (start + k) & mask;
            var entry = storage + slot * entrySize;
            var stored = pool.ReadValue<ulong>(entry);
            if (stored == 0)
            {
                lastEmpty = slot;
                if (runCount > 1 && Duplicate(pool, runHashes, runEntries, runCount, keySize, keyKind) is var (first, second))
                {
                    return $"the dictionary at {header} holds one key in two entries, at {first} and {second}: lookups find the first, enumeration both";
                }

                runCount = 0;
                continue;
            }

            if (stored == 1)
            {
                continue;
            }

            if (!HashMatches(pool, entry + EntryHashSize, keySize, keyKind, stored, ref width))
            {
                return $"the dictionary at {header} stores hash {stored:x} in its entry at {entry}, not its key's hash: a lookup of that key misses it";
            }

            var home = (long)(stored & (ulong)mask);
            if (lastEmpty >= 0 && ((slot - home) & mask) >= ((slot - lastEmpty) & mask))
            {
                return $"the dictionary at {header} holds its entry at {entry} past an empty slot from its home slot: a lookup of that key misses it";
            }

            if (runCount == runHashes.Length)
            {
                Array.Resize(ref runHashes, runCount * 2);
                Array.Resize(ref runEntries, runCount * 2);
            }

            (runHashes[runCount], runEntries[runCount]) = (stored, entry);
            runCount++;
        }

        return runCount > 1 && Duplicate(pool, runHashes, runEntries, runCount, keySize, keyKind) is var (a, b)
            ? $"the dictionary at {header} holds one key in two entries, at {a} and {b}: lookups find the first, enumeration both"
            : null; // a full table: one run
    }

    /// <summary>Two entries of a run (in probing order) with one key, the first first; null when its keys are distinct.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called per run, from the start of a check
    private static (long First, long Second)? Duplicate(PersistentPool pool, ulong[] hashes, long[] entries, int count, int keySize, SlotKind keyKind)
    {
        // A long run (a crowded table) is first sorted by hash: only a hash found twice is then looked for in run order.
        ulong[]? sorted = null;
        if (count > 8)
        {
            sorted = hashes[..count];
            Array.Sort(sorted);
        }

        for (var i = 0; i < count; i++)
        {
            if (sorted is not null && (sorted.AsSpan(0, count).BinarySearch(hashes[i]) is var at && (at + 1 >= count || sorted[at + 1] != hashes[i]) && (at == 0 || sorted[at - 1] != hashes[i])))
            {
                continue; // its hash is nowhere else in the run
            }

            for (var j = i + 1; j < count; j++)
            {
                if (hashes[j] == hashes[i] && KeysEqual(pool, entries[i] + EntryHashSize, entries[j] + EntryHashSize, keySize, keyKind))
                {
                    return (entries[i], entries[j]);
                }
            }
        }

        return null;
    }

    /// <summary>Whether the key slots at <paramref name="a"/> and <paramref name="b"/> hold one key as the codecs compare keys.</summary>
    private static bool KeysEqual(PersistentPool pool, long a, long b, int keySize, SlotKind kind)
    {
        if (kind == SlotKind.Raw)
        {
            var (left, right) = (new byte[keySize], new byte[keySize]); // only for entries whose 64-bit hashes are equal
            pool.ReadBytes(a, left);
            pool.ReadBytes(b, right);
            return left.AsSpan().SequenceEqual(right);
        }

        var (first, second) = (pool.ReadValue<long>(a), pool.ReadValue<long>(b));
        if (kind == SlotKind.Reference || first == 0 || second == 0 || first == second)
        {
            return kind == SlotKind.Reference ? BlockGeneration.TargetOf(first) == BlockGeneration.TargetOf(second) : first == second;
        }

        return StringChars(pool, first) is { } x && StringChars(pool, second) is { } y && x.AsSpan().SequenceEqual(y);
    }

    /// <summary>The UTF-16 bytes of the string block at <paramref name="offset"/>, or null when it is not a readable string.</summary>
    private static byte[]? StringChars(PersistentPool pool, long offset)
    {
        var size = pool.AllocatedSizeOf(offset, TypeTable.StringTypeIndex);
        var length = size < 0 ? -1 : pool.ReadValue<int>(offset + StringLayout.LengthOffset);
        if (!StringLayout.Fits(length, size))
        {
            return null;
        }

        var chars = new byte[length * 2L];
        pool.ReadBytes(offset + StringLayout.CharsOffset, chars);
        return chars;
    }

    /// <summary>
    /// Rebuilds the table of the dictionary at <paramref name="header"/> in new storage, in the running transaction: each
    /// live entry with its key's hash, placed by probing (a second entry of a key dropped: the first is the one lookups
    /// found), then count and used set to the live entries. A capacity
    /// that is not a power of two, or more than the storage holds, is first set to the largest power of two the storage
    /// holds (the capacity damage lost: tables only grow by doubling). False, changing nothing, when the table or its
    /// slot sizes cannot be trusted, or the table is too large to rebuild in memory.
    /// </summary>
    public static bool TryRebuild(PersistentPool pool, long header, out string description)
    {
        description = "";
        var storage = pool.ReadValue<long>(header + StorageOffset);
        var capacity = pool.ReadValue<long>(header + CapacityOffset);
        var count = pool.ReadValue<long>(header + CountOffset);
        var (_, _, keySize, keyKind, entrySize) = Shape(pool, header);
        var size = storage == 0 ? -1 : pool.AllocatedSizeOf(storage, TypeTable.BlobTypeIndex);
        if (!TryEntrySize(pool, header, TypeTable.DictionaryTypeIndex, out _) || size < entrySize)
        {
            return false; // no table, or slots of unknown size: nothing to rebuild from
        }

        var fits = size / entrySize;
        var restored = capacity > 0 && capacity <= fits && (capacity & (capacity - 1)) == 0 ? capacity : 1L << (int)(63 - long.LeadingZeroCount(fits));
        if (restored * entrySize > Array.MaxLength)
        {
            return false;
        }

        var old = new byte[restored * entrySize];
        pool.ReadBytes(storage, old);
        var rebuilt = new byte[old.Length];
        var origins = new long[restored]; // per rebuilt slot, the old entry's key slot in the pool (for key comparisons)
        var mask = restored - 1;
        var width = keySize;
        long live = 0, rehashed = 0, duplicates = 0;

        // In probing order from an empty slot, as lookups meet entries: of two entries with one key the first is kept.
        var start = 0L;
        while (start < restored && MemoryMarshal.Read<ulong>(old.AsSpan((int)(start * entrySize))) != 0)
        {
            start++;
        }

        for (long k = 1; k <= restored; k++)
        {
            var i = (start + k) & mask;
            var entry = old.AsSpan((int)(i * entrySize), (int)entrySize);
            var stored = MemoryMarshal.Read<ulong>(entry);
            var key = storage + i * entrySize + EntryHashSize;
            if (stored <= 1)
            {
                continue;
            }

            if (!HashMatches(pool, key, keySize, keyKind, stored, ref width))
            {
                stored = KeyHash(pool, key, keyKind, width); // a raw key: the width the others hash
                MemoryMarshal.Write(entry, in stored);
                rehashed++;
            }

            var probe = (long)(stored & (ulong)mask);
            var duplicate = false;
            while (MemoryMarshal.Read<ulong>(rebuilt.AsSpan((int)(probe * entrySize))) is var placed and not 0)
            {
                if (placed == stored && KeysEqual(pool, origins[probe], key, keySize, keyKind))
                {
                    duplicate = true;
                    break;
                }

                probe = (probe + 1) & mask; // at most restored - 1 steps: there are at most restored entries
            }

            if (duplicate)
            {
                duplicates++; // its strings become unreachable, freed by the repair's next round
                continue;
            }

            entry.CopyTo(rebuilt.AsSpan((int)(probe * entrySize)));
            origins[probe] = key;
            live++;
        }

        // Into new storage, as a resize does: a block the transaction allocated is written directly, not logged, so a
        // table of any size fits one repair transaction; the old storage is freed when it commits.
        var table = pool.AllocateInTransaction(rebuilt.Length, TypeTable.BlobTypeIndex);
        pool.WriteBytesInTransaction(table, rebuilt);
        pool.FreeInTransaction(storage);
        pool.WriteValue(header + StorageOffset, table);
        pool.WriteValue(header + CapacityOffset, restored);
        pool.WriteValue(header + CountOffset, live);
        pool.WriteValue(header + UsedOffset, live);
        var capacityNote = restored != capacity ? $"capacity {capacity} (not a power of two) set to {restored}, " : "";
        var duplicateNote = duplicates > 0 ? $"{duplicates} entr{(duplicates == 1 ? "y" : "ies")} of a key held earlier dropped, " : "";
        description = $"the dictionary at {header}: {capacityNote}{rehashed} stored hash(es) set to their keys', {duplicateNote}and the table's {live} entries placed where lookups find them; count {count} set to {live}";
        return true;
    }

    /// <summary>Whether <paramref name="stored"/> is the hash of the key slot at <paramref name="slot"/>; <paramref name="width"/> carries a raw key's width from entry to entry.</summary>
    private static bool HashMatches(PersistentPool pool, long slot, int keySize, SlotKind kind, ulong stored, ref int width)
    {
        if (kind != SlotKind.Raw)
        {
            // An unreadable string is reported as a bad edge by the graph walk; its hash cannot be judged here.
            return KeyHash(pool, slot, kind, 0) is var hash && (hash == 0 || hash == stored);
        }

        // A raw key's slot is its bytes rounded up to 8 with zero padding; the hash covers only the key's own bytes,
        // whose count the pool does not record: try the width that matched last, then each the padding allows.
        if (KeyHash(pool, slot, kind, width) == stored)
        {
            return true;
        }

        Span<byte> bytes = stackalloc byte[keySize];
        pool.ReadBytes(slot, bytes);
        for (var candidate = keySize; candidate > Math.Max(0, keySize - 8); candidate--)
        {
            if (candidate < keySize && bytes[candidate] != 0)
            {
                break; // a nonzero byte cannot be padding
            }

            if (candidate != width && (XxHash3.HashToUInt64(bytes[..candidate]) | 2) == stored)
            {
                width = candidate;
                return true;
            }
        }

        return false;
    }

    /// <summary>The hash a codec stores for the key slot at <paramref name="slot"/> (a raw key of <paramref name="width"/> bytes); 0 when a string key cannot be read.</summary>
    private static ulong KeyHash(PersistentPool pool, long slot, SlotKind kind, int width)
    {
        var word = pool.ReadValue<long>(slot);
        switch (kind)
        {
            case SlotKind.Reference:
                return ((ulong)(word == 0 ? 0 : BlockGeneration.TargetOf(word)) * ReferenceHashFactor) | 2;
            case SlotKind.String when word == 0:
                return NullStringHash | 2;
            case SlotKind.String:
                var size = pool.AllocatedSizeOf(word, TypeTable.StringTypeIndex);
                var length = size < 0 ? -1 : pool.ReadValue<int>(word + StringLayout.LengthOffset);
                if (!StringLayout.Fits(length, size))
                {
                    return 0;
                }

                // Check hashes every key of every dictionary: short keys (most) need no array.
                Span<byte> chars = length <= 128 ? stackalloc byte[length * 2] : new byte[length * 2L];
                pool.ReadBytes(word + StringLayout.CharsOffset, chars);
                return XxHash3.HashToUInt64(chars) | 2;
            default:
                Span<byte> bytes = stackalloc byte[width];
                pool.ReadBytes(slot, bytes);
                return XxHash3.HashToUInt64(bytes) | 2;
        }
    }

    private static (long Storage, long Capacity, int KeySize, SlotKind KeyKind, long EntrySize) Shape(PersistentPool pool, long header)
    {
        var (keySize, keyKind, valueSize, _) = EntryShape(pool, header);
        return (pool.ReadValue<long>(header + StorageOffset), pool.ReadValue<long>(header + CapacityOffset), keySize, keyKind, EntryHashSize + (long)keySize + valueSize);
    }
}
