// PersistentDictionary (table) -- the open-addressing table: stable hashes, probing live or through the transaction, insert, resize.
using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Memory;
using Pmem.Pool;
using static Pmem.Pool.CollectionLayout;

namespace Pmem.Objects;

public sealed partial class PersistentDictionary<TKey, TValue>
{
    /// <summary>The stored hash of <paramref name="key"/>: never 0 or 1, which mark empty and removed slots.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null (every lookup and change hashes its key first).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong HashOf(TKey key) => key is null ? throw new ArgumentNullException(nameof(key)) : (_rawKeys ? StableHash.OfBytes(in key) : _keys.Hash(key)) | 2;

    /// <summary>The entry holding <paramref name="key"/>, or -1.</summary>
    private long Find(TKey key, ulong hash) =>
        _rawKeys && !_pool.HasUncommittedWrites ? FindLive(key, hash) : FindThroughTransaction(key, hash);

    /// <summary>
    /// <see cref="Find"/> reading the live mapping directly; only when keys are raw and the calling thread has no
    /// uncommitted writes on this pool (then the mapping is exactly what it sees, header included).
    /// </summary>
    private long FindLive(TKey key, ulong hash)
    {
        FindLiveEntry(key, hash, out var entry);
        _domain.ThrowIfDisposedAfterAccess(); // "not there" is no answer when the table read was of a closed pool
        return entry;
    }

    /// <summary>
    /// The entry holding <paramref name="key"/> in the live mapping (its offset in <paramref name="entry"/>), or a null
    /// reference and -1. The whole table's range is checked once; every probe stays inside it (probe &lt;= mask &lt; capacity).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte FindLiveEntry(TKey key, ulong hash, out long entry)
    {
        var offset = Header;
        if (offset == 0)
        {
            entry = -1; // never created: empty
            return ref Unsafe.NullRef<byte>();
        }

        ref var header = ref MemoryMarshal.GetReference(_domain.GetSpan(offset, (int)VersionOffset)); // count, capacity, table
        var table = Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref header, (int)StorageOffset));
        var capacity = Unsafe.ReadUnaligned<long>(ref Unsafe.Add(ref header, (int)CapacityOffset));
        if (table != 0 && (ulong)(capacity - 1) < (ulong)_liveCapacityLimit) // 1..limit: a zero or wild capacity never reaches the unchecked probes
        {
            ref var entries = ref MemoryMarshal.GetReference(_domain.GetSpan(table, (int)capacity * LiveEntrySize));
            var mask = capacity - 1;
            var probe = (long)(hash & (ulong)mask);
            ref var slot = ref Unsafe.Add(ref entries, (nint)(probe * LiveEntrySize));
            var stored = Unsafe.ReadUnaligned<ulong>(ref slot);
            if (stored == hash && RawKeyEquals(ref Unsafe.Add(ref slot, 8), key))
            {
                // The home slot, where most lookups end (tables are kept at most half full): peeled off the loop so
                // the branch predictor sees this test apart from the probing below.
                entry = table + probe * LiveEntrySize;
                return ref slot;
            }

            for (var step = 1L; stored != Empty && step <= mask; step++)
            {
                probe = (probe + 1) & mask;
                slot = ref Unsafe.Add(ref entries, (nint)(probe * LiveEntrySize));
                stored = Unsafe.ReadUnaligned<ulong>(ref slot);
                if (stored == hash && RawKeyEquals(ref Unsafe.Add(ref slot, 8), key))
                {
                    entry = table + probe * LiveEntrySize;
                    return ref slot;
                }
            }
        }
        else if (table != 0)
        {
            entry = FindThroughTransaction(key, hash); // a table over 2 GiB (no single span covers it) or a damaged header
            return ref Unsafe.NullRef<byte>();
        }

        entry = -1;
        return ref Unsafe.NullRef<byte>();
    }

    /// <summary>Compares a raw key slot with <paramref name="key"/> byte for byte, as <see cref="RawCodec{T}"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RawKeyEquals(ref byte slot, TKey key)
    {
        if (Unsafe.SizeOf<TKey>() == 8)
        {
            return Unsafe.ReadUnaligned<ulong>(ref slot) == Unsafe.As<TKey, ulong>(ref key);
        }

        if (Unsafe.SizeOf<TKey>() == 4)
        {
            return Unsafe.ReadUnaligned<uint>(ref slot) == Unsafe.As<TKey, uint>(ref key);
        }

        return MemoryMarshal.CreateReadOnlySpan(ref slot, Unsafe.SizeOf<TKey>())
            .SequenceEqual(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<TKey, byte>(ref key), Unsafe.SizeOf<TKey>()));
    }

    /// <summary><see cref="Find"/> through the pool's transaction-aware reads (the running transaction's writes overlaid).</summary>
    private long FindThroughTransaction(TKey key, ulong hash)
    {
        var table = Table;
        if (table == 0)
        {
            return -1;
        }

        var mask = Capacity - 1;
        for (long probe = (long)(hash & (ulong)mask), step = 0; step <= mask; probe = (probe + 1) & mask, step++)
        {
            var entry = table + probe * _entrySize;
            var stored = _pool.ReadValue<ulong>(entry);
            if (stored == Empty)
            {
                return -1;
            }

            if (stored == hash && _keys.SlotEquals(_pool, entry + EntryHashSize, key))
            {
                return entry;
            }
        }

        return -1;
    }

    private void Put(TKey key, TValue value, bool overwrite) => _pool.Atomically((this, key, value, overwrite), static s =>
    {
        var (map, key, value, overwrite) = s;
        var hash = map.HashOf(key);
        var existing = map.Find(key, hash);
        if (existing >= 0)
        {
            if (!overwrite)
            {
                throw new ArgumentException($"The key '{key}' is already in the dictionary.", nameof(key));
            }

            map._values.Write(map._pool, existing + EntryHashSize + map._keys.SlotSize, value);
            map.Touch();
            return;
        }

        // At most half the slots in use (live or removed): lookups then mostly end at the first slot, which keeps the
        // probe loop's branches predictable (at 3/4 a lookup of 10,000 keys took twice as long). Not a format change:
        // a table filled further by an older version is still searched correctly and grows on its next insert.
        map.EnsureHeader(); // the first insert creates the dictionary, in this transaction
        var used = map._pool.ReadValue<long>(map.Header + UsedOffset);
        if ((used + 1) * 2 > map.Capacity)
        {
            map.Resize(Math.Max(8, map.Count * 4 > map.Capacity ? map.Capacity * 2 : map.Capacity));
            used = map._pool.ReadValue<long>(map.Header + UsedOffset);
        }

        var entry = map.FreeSlot(hash, out var reusesTombstone);
        map._keys.Write(map._pool, entry + EntryHashSize, key);
        map._values.Write(map._pool, entry + EntryHashSize + map._keys.SlotSize, value);
        map._pool.WriteValue(entry, hash);
        if (!reusesTombstone)
        {
            map._pool.WriteValue(map.Header + UsedOffset, used + 1);
        }

        map.SetCount(map.Count + 1);
    });

    private long FreeSlot(ulong hash, out bool tombstone)
    {
        var table = Table;
        var mask = Capacity - 1;
        for (long probe = (long)(hash & (ulong)mask), step = 0; step <= mask; probe = (probe + 1) & mask, step++)
        {
            var entry = table + probe * _entrySize;
            var stored = _pool.ReadValue<ulong>(entry);
            if (stored <= Tombstone)
            {
                tombstone = stored == Tombstone;
                return entry;
            }
        }

        // Inserts keep the table at most half full: no free slot in a whole round is damage, never a reason to spin.
        throw new PoolCorruptedException(_pool.Path, $"the dictionary at {Header} has no free slot in its table of {Capacity} entries, though it counts {Count}");
    }

    /// <summary>
    /// Rebuilds the table at <paramref name="capacity"/> slots (a power of two), dropping tombstones. The old table is read
    /// in 64 KiB pieces as this transaction sees it; the new one, which only this transaction sees, is filled in place and
    /// flushed once, not a read through the transaction and a flushed write an entry.
    /// </summary>
    private void Resize(long capacity)
    {
        var oldTable = Table;
        var oldCapacity = Capacity;
        var table = _pool.AllocateInTransaction(capacity * _entrySize, TypeTable.BlobTypeIndex);
        var perPiece = (int)Math.Min(Math.Max(oldCapacity, 1), (64 << 10) / _entrySize);
        var piece = new byte[perPiece * _entrySize];
        var mask = capacity - 1;
        long used = 0;
        for (long first = 0; first < oldCapacity; first += perPiece)
        {
            var entries = piece.AsSpan(0, (int)Math.Min(perPiece, oldCapacity - first) * _entrySize);
            _pool.ReadBytes(oldTable + first * _entrySize, entries);
            for (var at = 0; at < entries.Length; at += _entrySize)
            {
                var entry = entries.Slice(at, _entrySize);
                var hash = BitConverter.ToUInt64(entry);
                if (hash <= Tombstone)
                {
                    continue;
                }

                // Slot bytes move as they are: an owned string's offset moves with its entry.
                var probe = (long)(hash & (ulong)mask);
                for (var step = 0L; _domain.Read<ulong>(table + probe * _entrySize) != Empty; step++)
                {
                    if (step == mask)
                    {
                        // More live entries than the new table holds: the old table's header understated them.
                        throw new PoolCorruptedException(_pool.Path, $"the dictionary at {Header} holds more live entries than its count of {Count} allows");
                    }

                    probe = (probe + 1) & mask;
                }

                _pool.WriteIntoNewBlock(table + probe * _entrySize, entry);
                used++;
            }
        }

        _pool.FlushFilledBlock(table, capacity * _entrySize);
        if (oldTable != 0)
        {
            _pool.FreeInTransaction(oldTable);
        }

        _pool.WriteValue(Header + StorageOffset, table);
        _pool.WriteValue(Header + CapacityOffset, capacity);
        _pool.WriteValue(Header + UsedOffset, used);
    }

    /// <summary>
    /// Empties a removed entry by backward-shift deletion: each later entry of its probe run that may sit in the hole
    /// moves there (its slot bytes as they are, owned strings with them), and the run's last hole becomes empty. So
    /// removals leave no tombstones, which would otherwise fill the table until an insert rehashes all of it in one
    /// transaction. A tombstone met on the way (tables written before) ends the shift: the hole becomes one too.
    /// </summary>
    private void EmptyEntry(long entry)
    {
        var (table, capacity) = (Table, Capacity);
        var mask = capacity - 1;
        var hole = (entry - table) / _entrySize;
        var moved = new byte[_entrySize];
        for (long probe = (hole + 1) & mask, seen = 0; seen < capacity; probe = (probe + 1) & mask, seen++)
        {
            var at = table + probe * _entrySize;
            var stored = _pool.ReadValue<ulong>(at);
            if (stored == Empty)
            {
                _pool.WriteBytesInTransaction(table + hole * _entrySize, new byte[_entrySize]);
                _pool.WriteValue(Header + UsedOffset, _pool.ReadValue<long>(Header + UsedOffset) - 1);
                return;
            }

            if (stored == Tombstone)
            {
                break;
            }

            // The entry may fill the hole unless its home slot lies after the hole (cyclically, up to the entry itself).
            if (((probe - (long)(stored & (ulong)mask)) & mask) >= ((probe - hole) & mask))
            {
                _pool.ReadBytes(at, moved);
                _pool.WriteBytesInTransaction(table + hole * _entrySize, moved);
                hole = probe;
            }
        }

        // Removed entries hold zero slots, so a later insert into the tombstone frees nothing twice.
        var removed = table + hole * _entrySize;
        _pool.WriteBytesInTransaction(removed + EntryHashSize, new byte[_entrySize - EntryHashSize]);
        _pool.WriteValue(removed, Tombstone);
    }

    private void ReleaseOwned(long entry)
    {
        foreach (var (slot, kind) in new[] { (entry + EntryHashSize, _keys.Kind), (entry + EntryHashSize + _keys.SlotSize, _values.Kind) })
        {
            if (kind == SlotKind.String)
            {
                var owned = _pool.ReadValue<long>(slot);
                if (owned != 0)
                {
                    _pool.FreeInTransaction(owned);
                }
            }
        }
    }

    private void SetCount(long count)
    {
        _pool.WriteValue(Header + CountOffset, count);
        Touch();
    }

    private void Touch() => _pool.WriteValue(Header + VersionOffset, Version + 1);
}
