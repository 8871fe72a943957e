// PersistentPool (compaction) -- copying every allocated block densely into a new pool, each stored offset rewritten.
using Pmem.Heap;
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>What a pool holds, for sizing its compacted copy.</summary>
/// <param name="Blocks">Allocated blocks of every kind.</param>
/// <param name="LiveBytes">The fixed areas (header, type table, lanes) plus the bytes of every allocated block (a large one's as copied).</param>
/// <param name="DenseSize">The size of a pool holding exactly these blocks in full runs and spans.</param>
internal readonly record struct PoolOccupancy(long Blocks, long LiveBytes, long DenseSize);

public sealed partial class PersistentPool
{
    /// <summary>Allocations per transaction of a compaction, per 64 KiB of log slot (see <see cref="PerLogSlot"/>): each logs two entries.</summary>
    private const int CompactionBatch = 512;

    /// <summary>
    /// Counts the allocated blocks and the size a dense copy of them needs in a pool of <paramref name="classCount"/>
    /// size classes (this pool's by default; whole runs per size class, large spans, each block at its <see cref="CopiedSize"/>); the indexes'
    /// blocks count too, though the copy leaves them out: <see cref="BuildIndexesLike"/> rebuilds them in that room.
    /// </summary>
    internal PoolOccupancy MeasureOccupancy(int? classCount = null)
    {
        ThrowIfDisposed();
        var classes = classCount ?? _heap.ClassCount;
        var perClass = new long[SizeClasses.Count];
        long blocks = 0, bytes = 0, chunks = 0;
        var storageBytes = LargeStorageBytes();
        _heap.ForEachAllocated((block, type) =>
        {
            blocks++;
            var copied = CopiedSize(block, type, storageBytes);
            bytes += copied;
            if (!block.IsLarge)
            {
                perClass[block.SizeClass]++;
            }
            else if (SizeClasses.ClassFor(copied, classes) is var sizeClass and >= 0)
            {
                perClass[sizeClass]++;
            }
            else
            {
                chunks += (copied + ChunkHeader.Size + PoolLayout.ChunkSize - 1) / PoolLayout.ChunkSize;
            }
        });

        for (var c = 0; c < perClass.Length; c++)
        {
            var perRun = SizeClasses.Geometry[c].BlockCount;
            chunks += (perClass[c] + perRun - 1) / perRun;
        }

        return new PoolOccupancy(blocks, _heap.HeapStart + bytes, _heap.HeapStart + Math.Max(4, chunks) * PoolLayout.ChunkSize);
    }

    /// <summary>
    /// Copies every allocated block of this pool (reachable or not, schema records included; indexes not) into
    /// <paramref name="target"/>, a new empty pool of the same lanes, layout and durability, one after another in
    /// offset order, each in the smallest block of the target that holds its <see cref="CopiedSize"/>, and rewrites every stored offset (references, strings, collections, their storage and tree nodes,
    /// the root, the schema words) to the blocks' new places; then gives the target this pool's identity (uuid,
    /// creation time); the target keeps the current format version. The target is private until the caller publishes it: only its allocations go
    /// through its log; contents are written in place and made durable by its close.
    /// </summary>
    /// <exception cref="PoolCorruptedException">A stored offset does not lead to an allocated block (the pool needs a repair first), or a collection cannot be read.</exception>
    /// <returns>The blocks copied: every allocated block but the indexes'.</returns>
    internal long CopyCompactedInto(PersistentPool target)
    {
        ThrowIfDisposed();
        ThrowIfMigrationUnderWay("compacting");

        // The blocks to move, by ascending offset (the heap is scanned in order), and where each went: two arrays, 16
        // bytes a block, found by binary search; size and type are asked of the heap again where needed.
        var indexBlocks = IndexBlocks(); // index keys hold objects' offsets in order: the program rebuilds them in the copy
        var count = 0;
        _heap.ForEachAllocated((block, _) => count += indexBlocks.Contains(block.Offset) ? 0 : 1);
        var starts = new long[count];
        var places = new long[count];
        var filled = 0;
        _heap.ForEachAllocated((block, _) =>
        {
            if (!indexBlocks.Contains(block.Offset))
            {
                starts[filled++] = block.Offset;
            }
        });

        // The type table as it is (type indexes are stored in every block), before any block is stamped with one.
        var tableBytes = _types.Count * PoolLayout.TypeEntrySize;
        target._domain.Copy(PoolLayout.TypeTableOffset, _domain.GetSpan(PoolLayout.TypeTableOffset, tableBytes), PmemCopyFlags.NoDrain);

        var storageBytes = LargeStorageBytes();
        var batch = target.PerLogSlot(CompactionBatch);
        for (var first = 0; first < count; first += batch)
        {
            using var tx = target.BeginTransaction();
            for (var i = first; i < Math.Min(first + batch, count); i++)
            {
                var block = MovedBlock(starts[i], out var type);
                // In its generation: the references copied below keep theirs, and a dangling one stays detectable.
                places[i] = target.AllocateBlockInTransaction(CopiedSize(block, type, storageBytes), type, block.Generation).Offset;
            }

            tx.Commit();
        }

        for (var i = 0; i < count; i++)
        {
            var size = MovedBlock(starts[i], out var type) is var moved ? CopiedSize(moved, type, storageBytes) : 0;
            for (long done = 0; done < size; done += 1 << 24)
            {
                var length = (int)Math.Min(1 << 24, size - done);
                target._domain.Copy(places[i] + done, _domain.GetSpan(starts[i] + done, length), PmemCopyFlags.NoDrain);
            }
        }

        for (var i = 0; i < count; i++)
        {
            var offset = starts[i];
            MovedBlock(offset, out var type);
            if (HasInternalChildren(type))
            {
                foreach (var slot in StoredOffsetSlots(offset, type))
                {
                    Relocate(offset, type, slot);
                }
            }
            else
            {
                // An object (the most blocks by far) without an iterator of its own; strings, blobs and nodes hold no offsets.
                foreach (var field in _types.Get(type)?.Fields ?? [])
                {
                    Relocate(offset, type, offset + field.Offset);
                }
            }
        }

        // Rewrites the offset stored at slot (a word of the block at offset, or of storage it owns) to its target's new place.
        void Relocate(long offset, uint type, long slot)
        {
            var value = _domain.Read<long>(slot);
            if (value == 0)
            {
                return;
            }

            // A reference carries its target's generation above the offset (owned offsets carry none): it goes along.
            var to = Array.BinarySearch(starts, BlockGeneration.TargetOf(value));
            if (to < 0)
            {
                throw new PoolCorruptedException(Path, $"the {_types.NameOf(type)} at {offset} holds {value} at +{slot - offset}, which is not an allocated block; repair the pool (pmem check --repair) before compacting it");
            }

            var holder = BlockContaining(starts, slot); // a collection's slots lie in its storage, a tree's in its nodes
            target._domain.Write(places[holder] + (slot - starts[holder]), places[to] | (value & ~BlockGeneration.OffsetMask));
            target._domain.Flush(places[holder] + (slot - starts[holder]), 8);
        }

        long MovedTo(long offset, string what) => Array.BinarySearch(starts, offset) is >= 0 and var at
            ? places[at]
            : throw new PoolCorruptedException(Path, $"{what} ({offset}) is not an allocated block; repair the pool (pmem check --repair) before compacting it");

        using (var tx = target.BeginTransaction())
        {
            var root = _domain.Read<long>(PoolLayout.RootOffsetOffset);
            target.WriteValue(PoolLayout.RootOffsetOffset, root == 0 ? 0 : MovedTo(root, "the root"));
            target.WriteValue(PoolLayout.RootTypeOffset, _domain.Read<ulong>(PoolLayout.RootTypeOffset));
            target.WriteValue(PoolLayout.TypeCountOffset, (ulong)_types.Count);
            for (var entry = 0; entry < _types.Count; entry++)
            {
                var word = _domain.Read<ulong>(PoolLayout.SchemaWordOffset(entry));
                var record = (long)(word & ~PoolLayout.SchemaRetiredBit);
                target.WriteValue(PoolLayout.SchemaWordOffset(entry), record == 0 ? word : (ulong)MovedTo(record, $"the schema record of type {entry}") | (word & PoolLayout.SchemaRetiredBit));
            }

            tx.Commit();
        }

        // The same pool, moved: its identity (checksummed header words) comes along. The format stays the target's:
        // the caller gives an older pool's copy back its version once the copy is closed (ThreeSlotLanes).
        var header = target._domain.GetSpan(0, PoolLayout.ChecksummedBytes);
        _domain.GetSpan(PoolLayout.UuidOffset, 16).CopyTo(header[PoolLayout.UuidOffset..]);
        _domain.GetSpan(PoolLayout.CreatedOffset, 8).CopyTo(header[PoolLayout.CreatedOffset..]);
        target._domain.Write(PoolLayout.HeaderChecksumOffset, HeaderChecksum(target._domain, PoolLayout.Magic));
        target._domain.NotifyStore(0, PoolLayout.HeaderSize);
        target._domain.Flush(0, PoolLayout.HeaderSize);
        target._domain.Drain();
        return count;
    }

    /// <summary>
    /// The bytes of a block its copy holds: a run block's all, a large block's (a span of chunks) only what it holds (an
    /// object's layout, a string, a collection's storage at its capacity, a schema record), so that a pool of an older
    /// format, where a 40 KB string took a 256 KiB chunk, puts it in a run of the mid-size classes of format 11.
    /// </summary>
    private long CopiedSize(in BlockReservation block, uint type, Dictionary<long, long> storageBytes)
    {
        if (!block.IsLarge)
        {
            return block.Size;
        }

        var held = type switch
        {
            TypeTable.StringTypeIndex => StringLayout.BlockSize(_domain.Read<int>(block.Offset + StringLayout.LengthOffset)),
            TypeTable.BlobTypeIndex => storageBytes.GetValueOrDefault(block.Offset, block.Size),
            TypeTable.SchemaTypeIndex => SchemaRecord.LengthAt(_domain, block.Offset, Size),
            >= TypeTable.FirstUserTypeIndex => _types.Get(type)?.Size ?? block.Size,
            _ => block.Size, // a tree's root or node, the index directory: as they are
        };
        return held > 0 && held <= block.Size ? held : block.Size;
    }

    /// <summary>The bytes each list's and dictionary's storage holds at its capacity, by the storage's offset, for those in large blocks.</summary>
    private Dictionary<long, long> LargeStorageBytes()
    {
        var bytes = new Dictionary<long, long>();
        _heap.ForEachAllocated((block, type) =>
        {
            if (type is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex &&
                _domain.Read<long>(block.Offset + CollectionLayout.StorageOffset) is var storage and not 0 &&
                _heap.TryGetAllocated(storage, out var held, out _) && held.IsLarge &&
                CollectionLayout.TryEntrySize(this, block.Offset, type, out var entrySize))
            {
                bytes[storage] = _domain.Read<long>(block.Offset + CollectionLayout.CapacityOffset) * entrySize;
            }
        });

        return bytes;
    }

    /// <summary>A block being moved, as the heap holds it (the pool is not written meanwhile: it was there when listed).</summary>
    private BlockReservation MovedBlock(long offset, out uint type) =>
        _heap.TryGetAllocated(offset, out var block, out type) ? block : throw new InvalidOperationException($"{Path}: the block at {offset} was freed during the compaction.");

    /// <summary>The live indexes of this pool, as <see cref="BuildIndexesLike"/> rebuilds them in its compacted copy (type indexes are the same there).</summary>
    internal IndexSlot[] LiveIndexSlots() => [.. _liveIndexes.Select(index => index.Slot)];

    /// <summary>
    /// Builds in this pool, a compacted copy just opened, every index of <paramref name="indexes"/> (its original's)
    /// it does not keep yet, from its stored schema: the copy must be published with its indexes, or the next open
    /// would build them in a file sized without room for a build's interim blocks (and a program verifying it would
    /// count them). The program's own indexes, built by the open, are among them.
    /// </summary>
    /// <exception cref="PoolOutOfSpaceException">The pool cannot grow enough for them.</exception>
    internal void BuildIndexesLike(IReadOnlyList<IndexSlot> indexes) =>
        BuildIndexes([.. indexes.Select(index => (index.TypeIndex, index.PropertyOffset, PersistentPropertyInfo.IndexKindOf(index.IsUnique, index.IsHashed)))]);

    /// <summary>
    /// Builds every index of <paramref name="indexes"/> (a stored type, the offset of a property its schema records,
    /// the kind) that the pool does not keep yet, over the objects it holds now: for tools that have no program
    /// classes (a compacted copy, an import). A unique index's values are the caller's to have checked
    /// (<see cref="FirstHeldTwice"/>).
    /// </summary>
    /// <exception cref="PoolOutOfSpaceException">The pool cannot grow enough for them.</exception>
    internal void BuildIndexes(IReadOnlyList<(uint TypeIndex, int PropertyOffset, PersistentIndexKind Kind)> indexes)
    {
        ThrowIfDisposed();
        lock (_indexSync)
        {
            foreach (var (typeIndex, propertyOffset, kind) in indexes)
            {
                if (LiveIndexAt(typeIndex, propertyOffset) is null && StoredIndexProperty(typeIndex, propertyOffset, kind) is { } property)
                {
                    BuildIndex(typeIndex, property); // the pool loads an index only with its stored property
                }
            }
        }
    }

    /// <summary>The property at <paramref name="propertyOffset"/> of a stored type's schema, indexed as <paramref name="kind"/>; null when the schema has none there.</summary>
    private PersistentPropertyInfo? StoredIndexProperty(uint typeIndex, int propertyOffset, PersistentIndexKind kind) =>
        _types.Get(typeIndex)?.Schema?.Properties.FirstOrDefault(p => p.Offset == propertyOffset) is { } stored
            ? new PersistentPropertyInfo(stored.Name, stored.StorageType, stored.Offset, stored.Size, stored.Group, stored.Target, stored.IsNullable, stored.FormerNames.AsSpan(), kind)
            : null;

    /// <summary>
    /// The addresses of every word of the collection at <paramref name="offset"/> and of what it owns (its storage, a
    /// tree's nodes) that holds another block's offset. Damage throws <see cref="PoolCorruptedException"/>.
    /// </summary>
    private IEnumerable<long> StoredOffsetSlots(long offset, uint type)
    {
        if (type == TypeTable.DictionaryTypeIndex && _domain.Read<int>(offset + CollectionLayout.KeyKindOffset) == (int)SlotKind.Reference)
        {
            // Such a table is placed by its keys' offsets; no codec makes one, so it is damage rather than a case to rehash.
            throw new PoolCorruptedException(Path, $"the dictionary at {offset} records keys by reference, which no release writes");
        }

        if (type == TypeTable.SortedDictionaryTypeIndex)
        {
            foreach (var (child, _, slot) in SortedLayout.Children(this, offset, problems: null))
            {
                yield return slot;
                if (_heap.TryGetAllocated(child, out _, out var childType) && childType == TypeTable.SortedNodeTypeIndex)
                {
                    foreach (var link in SortedLayout.NodeLinkOffsets)
                    {
                        yield return child + link;
                    }
                }
            }

            yield break;
        }

        foreach (var (_, _, slot) in InternalChildren(offset, type))
        {
            yield return slot;
        }
    }

    /// <summary>The index of the block (by ascending start) that holds <paramref name="address"/>.</summary>
    private static int BlockContaining(long[] starts, long address)
    {
        var index = Array.BinarySearch(starts, address);
        return index >= 0 ? index : ~index - 1;
    }
}
