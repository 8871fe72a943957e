// PersistentPool (checks) -- statistics and the consistency check of the object graph, pmempool check's job.
using Pmem.Heap;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>A pool's sizes and contents, for tooling.</summary>
/// <param name="PoolSize">Bytes of the pool.</param>
/// <param name="HeapSize">Bytes of the heap (the pool less its header, type table and lanes).</param>
/// <param name="AllocatedBytes">Bytes in allocated blocks (block capacities, not requested sizes).</param>
/// <param name="FreeChunkBytes">Bytes in wholly free chunks (free blocks inside runs are not counted).</param>
/// <param name="ObjectCount">Allocated blocks of every kind.</param>
/// <param name="ObjectsPerType">Allocated blocks per durable type name (strings and internal blocks included).</param>
public sealed record PoolStatistics(long PoolSize, long HeapSize, long AllocatedBytes, long FreeChunkBytes, long ObjectCount, IReadOnlyDictionary<string, long> ObjectsPerType);

/// <summary>What <see cref="PersistentPool.Check"/> found.</summary>
/// <param name="ReachableObjects">Blocks reachable from the root through references, strings and collections.</param>
/// <param name="AllocatedObjects">Every allocated block.</param>
/// <param name="Unreachable">Offsets of allocated blocks not reachable from the root.</param>
/// <param name="Errors">Broken invariants: dangling or mistyped references, strings that do not fit their block.</param>
public sealed record PoolCheckReport(long ReachableObjects, long AllocatedObjects, IReadOnlyList<long> Unreachable, IReadOnlyList<string> Errors)
{
    /// <summary>True when there are no errors.</summary>
    public bool IsConsistent => Errors.Count == 0;
}

public sealed partial class PersistentPool
{
    /// <summary>Counts sizes and objects per type by walking the heap.</summary>
    public PoolStatistics GetStatistics()
    {
        ThrowIfDisposed();
        long allocated = 0, count = 0;
        var perType = new Dictionary<string, long>();
        _heap.ForEachAllocated((block, type) =>
        {
            allocated += block.Size;
            count++;
            var name = _types.NameOf(type);
            perType[name] = perType.GetValueOrDefault(name) + 1;
        });

        _domain.ThrowIfDisposedAfterAccess();
        return new PoolStatistics(Size, Size - _heap.HeapStart, allocated, _heap.FreeChunkBytes(), count, perType);
    }

    /// <summary>
    /// Checks the object graph like <c>pmempool check</c> should: every reference from the root resolves to an
    /// allocated object of a fitting type, every string fits its block, every collection header is possible, every
    /// owned block (a string, a collection, a collection's storage) has exactly one owner, and lists allocated blocks
    /// nothing reaches. Never throws on a damaged pool: what it cannot read is reported.
    /// </summary>
    public PoolCheckReport Check()
    {
        ThrowIfDisposed();
        var report = CheckGraph(null, out _);
        _domain.ThrowIfDisposedAfterAccess(); // problems read from a pool closed meanwhile are not the pool's
        return report;
    }

    /// <summary>The check, also recording each problem with the block and the slot it was found through (for repairs).</summary>
    internal PoolCheckReport CheckGraph(List<GraphProblem>? found, out IReadOnlyDictionary<long, (long Holder, long Slot)> through)
    {
        var allocated = new Dictionary<long, AllocatedBlock>(_heap.CountAllocated()); // sized once: a million blocks would rehash twenty times
        _heap.ForEachAllocated((block, type) => allocated[block.Offset] = new AllocatedBlock(type, block.Generation, block.Size));
        var walk = new GraphWalk(allocated, Size, found);
        var reachedAllocated = 0L;
        var root = _domain.Read<long>(PoolLayout.RootOffsetOffset);
        if (root != 0)
        {
            walk.Pending.Push((root, PoolLayout.RootOffsetOffset, 0));
        }

        if (_domain.Read<long>(PoolLayout.IndexDirectoryOffset) is var directory and not 0)
        {
            walk.Pending.Push((directory, PoolLayout.IndexDirectoryOffset, 0)); // the header owns the directory, the directory its trees
        }

        while (walk.Pending.Count > 0)
        {
            var (offset, slot, holder) = walk.Pending.Pop();
            if (!walk.Reached.Add(offset))
            {
                continue;
            }

            if (found is not null)
            {
                walk.Through[offset] = (holder, slot); // only a repair needs it: a plain check skips a map of every block
            }

            if (!allocated.TryGetValue(offset, out var block))
            {
                walk.Problem(GraphProblemKind.BadEdge, holder, slot, offset, false, $"offset {offset} is referenced but not allocated");
                continue;
            }

            try
            {
                reachedAllocated++;
                CheckBlock(offset, block, holder, slot, walk);
            }
            catch (PoolException e)
            {
                walk.Problem(GraphProblemKind.Unreadable, holder, slot, offset, false, $"the block at {offset} cannot be read: {e.Message}");
            }
        }

        foreach (var stored in _types.Types)
        {
            // The type table owns the schema records (checked at open); the object graph does not reach them.
            if (stored.SchemaOffset != 0 && walk.Reached.Add(stored.SchemaOffset) && allocated.ContainsKey(stored.SchemaOffset))
            {
                reachedAllocated++;
            }
        }

        CheckIndexes(walk);
        var unreachable = allocated.Keys.Where(offset => !walk.Reached.Contains(offset)).Order().ToList();
        through = walk.Through;
        return new PoolCheckReport(reachedAllocated, allocated.Count, unreachable, walk.Errors);
    }

    /// <summary>Checks one reachable block and queues what it owns or references.</summary>
    private void CheckBlock(long offset, AllocatedBlock block, long holder, long reachedThrough, GraphWalk walk)
    {
        var allocated = walk.Allocated;
        var type = block.Type;
        if (type == TypeTable.StringTypeIndex)
        {
            var length = _domain.Read<int>(offset + StringLayout.LengthOffset);
            if (!StringLayout.Fits(length, block.Size))
            {
                walk.Problem(GraphProblemKind.Unreadable, holder, reachedThrough, offset, true, $"the string at {offset} claims {length} characters, more than its block holds");
            }

            return;
        }

        if (type == TypeTable.IndexDirectoryTypeIndex)
        {
            foreach (var slot in IndexDirectory.Read(_domain, offset))
            {
                foreach (var (word, _) in slot.OwnedWords)
                {
                    if (_domain.Read<long>(word) is var header and not 0)
                    {
                        Follow(offset, word, header, owned: true, "collection", walk);
                    }
                }
            }

            return;
        }

        if (type is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex)
        {
            var storage = _domain.Read<long>(offset + CollectionLayout.StorageOffset);
            var damage = new List<string>();
            foreach (var (child, owned, slot) in InternalChildren(offset, type, damage))
            {
                var expected = type == TypeTable.SortedDictionaryTypeIndex
                    ? (allocated.GetValueOrDefault(child).Type == TypeTable.SortedNodeTypeIndex ? "sorted dictionary node" : owned ? "string" : "object")
                    : child == storage ? "collection storage" : owned ? "string" : "object";
                Follow(offset, slot, child, owned, expected, walk);
            }

            foreach (var problem in damage)
            {
                walk.Problem(GraphProblemKind.DamagedCollection, holder, reachedThrough, offset, true, problem);
            }

            return;
        }

        if (type == TypeTable.ForwardingTypeIndex)
        {
            // Left by an interrupted migration that moved its object: references not rewritten yet reach it through this.
            var forward = _domain.Read<long>(offset);
            Follow(offset, offset, BlockGeneration.TargetOf(forward), owned: false, "object", walk);
            return;
        }

        var stored = _types.Get(type);
        if (stored is null)
        {
            return; // blobs carry no fields
        }

        if (!walk.CollectionKinds.TryGetValue(type, out var collectionKinds))
        {
            walk.CollectionKinds[type] = collectionKinds = [];
            foreach (var property in stored.Schema?.Properties ?? [])
            {
                if (property.FieldKind == PersistentFieldKind.Collection && CollectionKind.Of(property.StorageType) is { } kind)
                {
                    collectionKinds[property.Offset] = kind;
                }
            }
        }

        foreach (var field in stored.Fields)
        {
            if (offset + field.Offset + 8 > Size)
            {
                walk.Problem(GraphProblemKind.Unreadable, holder, reachedThrough, offset, false, $"{stored.Name} at {offset}: field at +{field.Offset} lies past the pool's end");
                continue;
            }

            // Only a whole word of 0 is null: a reference with generation bits but offset 0 is damage, as reads find.
            var word = _domain.Read<long>(offset + field.Offset);
            if (word != 0)
            {
                var target = field.Kind == PersistentFieldKind.Reference ? BlockGeneration.TargetOf(word) : word; // Follow checks the generation
                if (field.Kind == PersistentFieldKind.Collection && collectionKinds.TryGetValue(field.Offset, out var kind) &&
                    allocated.TryGetValue(target, out var held) && CollectionKindProblem(target, held.Type, kind) is { } wrong)
                {
                    // The program reads it as its declared kind and would refuse it: as damaging as a dangling word.
                    walk.Problem(GraphProblemKind.BadEdge, offset, offset + field.Offset, target, true, $"{stored.Name} at {offset}: {wrong}");
                    continue;
                }

                var expected = field.Kind switch
                {
                    PersistentFieldKind.String => "string",
                    PersistentFieldKind.Collection => "collection",
                    _ => "object",
                };
                Follow(offset, offset + field.Offset, target, field.Kind is PersistentFieldKind.String or PersistentFieldKind.Collection, expected, walk);
            }
        }
    }

    /// <summary>Why the collection block at <paramref name="target"/> is not of the kind its property's schema names, or null.</summary>
    private string? CollectionKindProblem(long target, uint type, CollectionKind kind)
    {
        if (type is not (TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex))
        {
            return null; // not a collection at all: Follow reports it
        }

        if (type != kind.TypeIndex)
        {
            return $"its {kind.Name} property points to {target}, a {_types.NameOf(type)}";
        }

        var first = (SlotKind)_domain.Read<int>(target + (type == TypeTable.ListTypeIndex ? CollectionLayout.SlotKindOffset : CollectionLayout.KeyKindOffset));
        var second = type == TypeTable.DictionaryTypeIndex ? (SlotKind)_domain.Read<int>(target + CollectionLayout.ValueKindOffset) : (SlotKind?)null;
        return (kind.First is { } a && a != first) || (kind.Second is { } b && b != second)
            ? $"its {kind.Name} property points to {target}, a {kind.Name} of other element kinds ({first}{(second is { } s ? $", {s}" : "")} where the schema has {kind.First}{(kind.Second is { } t ? $", {t}" : "")})"
            : null;
    }

    /// <summary>Checks that an edge leads to an allocated block of the kind it must, with one owner if owned, and queues it.</summary>
    private void Follow(long from, long slot, long target, bool owned, string expected, GraphWalk walk)
    {
        var allocated = walk.Allocated;
        if (!allocated.TryGetValue(target, out var targetBlock))
        {
            walk.Problem(GraphProblemKind.BadEdge, from, slot, target, owned, $"the {_types.NameOf(allocated[from].Type)} at {from} points to {target}, which is not an allocated {expected}");
            return;
        }

        var targetType = targetBlock.Type;
        var fits = expected switch
        {
            "string" => targetType == TypeTable.StringTypeIndex,
            "collection" => targetType is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex,
            "sorted dictionary node" => targetType == TypeTable.SortedNodeTypeIndex,
            "collection storage" => targetType == TypeTable.BlobTypeIndex,
            _ => targetType >= TypeTable.FirstUserTypeIndex || (targetType == TypeTable.ForwardingTypeIndex && MigrationUnderWay),
        };
        if (!fits)
        {
            walk.Problem(GraphProblemKind.BadEdge, from, slot, target, owned, $"the {_types.NameOf(allocated[from].Type)} at {from} points to {target}, a {_types.NameOf(targetType)}, where a {expected} belongs");
            return;
        }

        if (!owned && BlockGeneration.OfReference(_domain.Read<long>(slot)) is var written && written != 0 && !BlockGeneration.Matches(written, targetBlock.Generation))
        {
            walk.Problem(GraphProblemKind.BadEdge, from, slot, target, owned,
                $"the {_types.NameOf(allocated[from].Type)} at {from} points to {target}, whose object was deleted: the block holds a newer {_types.NameOf(targetType)} (generation {targetBlock.Generation}, the reference {written})");
            return;
        }

        if (owned && !walk.Owners.TryAdd(target, from))
        {
            // Freeing either owner would free the block under the other (the mark of a block allocated twice).
            walk.Problem(GraphProblemKind.SecondOwner, from, slot, target, owned, $"the {expected} at {target} has two owners: the {_types.NameOf(allocated[walk.Owners[target]].Type)} at {walk.Owners[target]} and the {_types.NameOf(allocated[from].Type)} at {from}");
            return;
        }

        walk.Pending.Push((target, slot, from));
    }

    /// <summary>The types recorded in the pool, as the type table holds them (tests; the public view is <see cref="Inspect"/>).</summary>
    internal IReadOnlyList<StoredType> StoredTypes => _types.Types;
}
