// PersistentPool (compaction) -- copying every allocated block densely into a new pool, each stored offset rewritten.
using Pmem.Heap;
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>What a pool holds, for sizing its compacted copy.</summary>
/// <param name="Blocks">Allocated blocks of every kind.</param>
/// <param name="LiveBytes">The fixed areas (header, type table, lanes) plus the bytes of every allocated block.</param>
/// <param name="DenseSize">The size of a pool holding exactly these blocks in full runs and spans.</param>
internal readonly record struct PoolOccupancy(long Blocks, long LiveBytes, long DenseSize);

public sealed partial class PersistentPool
{
    /// <summary>Allocations per transaction of a compaction, per 64 KiB of log slot (see <see cref="PerLogSlot"/>): each logs two entries.</summary>
    private const int CompactionBatch = 512;

    /// <summary>
    /// Counts the allocated blocks and the size a dense copy of them needs (whole runs per size class, large spans);
    /// the indexes' blocks count too, though the copy leaves them out: <see cref="BuildIndexesLike"/> rebuilds them in that room.
    /// </summary>
    internal PoolOccupancy MeasureOccupancy()
    {
        ThrowIfDisposed();
        var perClass = new long[SizeClasses.Count];
        long blocks = 0, bytes = 0, chunks = 0;
        _heap.ForEachAllocated((block, _) =>
        {
            blocks++;
            bytes += block.Size;
            if (block.IsLarge)
            {
                chunks += (block.Size + ChunkHeader.Size) / PoolLayout.ChunkSize;
            }
            else
            {
                perClass[block.SizeClass]++;
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
    /// offset order, and rewrites every stored offset (references, strings, collections, their storage and tree nodes,
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

        var blocks = new List<(long Offset, long Size, uint Type, ushort Generation)>();
        var indexBlocks = IndexBlocks(); // index keys hold objects' offsets in order: the program rebuilds them in the copy
        _heap.ForEachAllocated((block, type) =>
        {
            if (!indexBlocks.Contains(block.Offset))
            {
                blocks.Add((block.Offset, block.Size, type, block.Generation));
            }
        });

        // The type table as it is (type indexes are stored in every block), before any block is stamped with one.
        var tableBytes = _types.Count * PoolLayout.TypeEntrySize;
        target._domain.Copy(PoolLayout.TypeTableOffset, _domain.GetSpan(PoolLayout.TypeTableOffset, tableBytes), PmemCopyFlags.NoDrain);

        var moved = new Dictionary<long, long>(blocks.Count);
        var batch = target.PerLogSlot(CompactionBatch);
        for (var start = 0; start < blocks.Count; start += batch)
        {
            using var tx = target.BeginTransaction();
            foreach (var (offset, size, type, generation) in blocks.GetRange(start, Math.Min(batch, blocks.Count - start)))
            {
                // In its generation: the references copied below keep theirs, and a dangling one stays detectable.
                moved[offset] = target.AllocateBlockInTransaction(size, type, generation).Offset;
            }

            tx.Commit();
        }

        foreach (var (offset, size, _, _) in blocks)
        {
            for (long done = 0; done < size; done += 1 << 24)
            {
                var length = (int)Math.Min(1 << 24, size - done);
                target._domain.Copy(moved[offset] + done, _domain.GetSpan(offset + done, length), PmemCopyFlags.NoDrain);
            }
        }

        var starts = blocks.Select(b => b.Offset).ToArray();
        foreach (var (offset, _, type, _) in blocks)
        {
            foreach (var slot in StoredOffsetSlots(offset, type))
            {
                var value = _domain.Read<long>(slot);
                if (value == 0)
                {
                    continue;
                }

                // A reference carries its target's generation above the offset (owned offsets carry none): it goes along.
                if (!moved.TryGetValue(BlockGeneration.TargetOf(value), out var now))
                {
                    throw new PoolCorruptedException(Path, $"the {_types.NameOf(type)} at {offset} holds {value} at +{slot - offset}, which is not an allocated block; repair the pool (pmem check --repair) before compacting it");
                }

                var holder = starts[BlockContaining(starts, slot)];
                target._domain.Write(moved[holder] + (slot - holder), now | (value & ~BlockGeneration.OffsetMask));
                target._domain.Flush(moved[holder] + (slot - holder), 8);
            }
        }

        using (var tx = target.BeginTransaction())
        {
            var root = _domain.Read<long>(PoolLayout.RootOffsetOffset);
            target.WriteValue(PoolLayout.RootOffsetOffset, root == 0 ? 0 : moved[root]);
            target.WriteValue(PoolLayout.RootTypeOffset, _domain.Read<ulong>(PoolLayout.RootTypeOffset));
            target.WriteValue(PoolLayout.TypeCountOffset, (ulong)_types.Count);
            for (var entry = 0; entry < _types.Count; entry++)
            {
                var word = _domain.Read<ulong>(PoolLayout.SchemaWordOffset(entry));
                var record = (long)(word & ~PoolLayout.SchemaRetiredBit);
                target.WriteValue(PoolLayout.SchemaWordOffset(entry), record == 0 ? word : (ulong)moved[record] | (word & PoolLayout.SchemaRetiredBit));
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
        return blocks.Count;
    }

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
    /// The addresses of every word of the block at <paramref name="offset"/> (and of what it owns: a collection's storage,
    /// a tree's nodes) that holds another block's offset. Damage throws <see cref="PoolCorruptedException"/>.
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

        foreach (var field in _types.Get(type)?.Fields ?? [])
        {
            // References, strings and collections are all stored as the target block's offset.
            yield return offset + field.Offset;
        }
    }

    /// <summary>The index of the block (by ascending start) that holds <paramref name="address"/>.</summary>
    private static int BlockContaining(long[] starts, long address)
    {
        var index = Array.BinarySearch(starts, address);
        return index >= 0 ? index : ~index - 1;
    }
}
