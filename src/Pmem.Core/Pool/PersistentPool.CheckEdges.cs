// PersistentPool (check edges) -- what one block the check reaches must hold, and where its edges may lead.
using Pmem.Heap;
using Pmem.Objects;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>Checks one reachable block and queues what it owns or references.</summary>
    private void CheckBlock(long offset, AllocatedBlock block, long holder, long reachedThrough, GraphWalk walk)
    {
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
                    ? (TypeAt(child) == TypeTable.SortedNodeTypeIndex ? "sorted dictionary node" : owned ? "string" : "object")
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

        var fields = stored.Fields;
        for (var f = 0; f < fields.Count; f++) // indexed: a foreach over the interface would allocate an enumerator per object
        {
            var field = fields[f];
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
                    TypeAt(target) is var held and not 0 && CollectionKindProblem(target, held, kind) is { } wrong)
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
        if (!TryGetAllocatedBlock(target, out var targetBlock))
        {
            walk.Problem(GraphProblemKind.BadEdge, from, slot, target, owned, $"the {_types.NameOf(TypeAt(from))} at {from} points to {target}, which is not an allocated {expected}");
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
            walk.Problem(GraphProblemKind.BadEdge, from, slot, target, owned, $"the {_types.NameOf(TypeAt(from))} at {from} points to {target}, a {_types.NameOf(targetType)}, where a {expected} belongs");
            return;
        }

        if (!owned && BlockGeneration.OfReference(_domain.Read<long>(slot)) is var written && written != 0 && !BlockGeneration.Matches(written, targetBlock.Generation))
        {
            walk.Problem(GraphProblemKind.BadEdge, from, slot, target, owned,
                $"the {_types.NameOf(TypeAt(from))} at {from} points to {target}, whose object was deleted: the block holds a newer {_types.NameOf(targetType)} (generation {targetBlock.Generation}, the reference {written})");
            return;
        }

        if (owned && !walk.AddOwner(target, from))
        {
            // Freeing either owner would free the block under the other (the mark of a block allocated twice).
            walk.SecondOwners.Add((walk.Errors.Count, target, from, expected)); // named once a second walk finds the first owner
            walk.Problem(GraphProblemKind.SecondOwner, from, slot, target, owned, $"the {expected} at {target} has two owners, the second the {_types.NameOf(TypeAt(from))} at {from}");
            return;
        }

        if (targetType == TypeTable.StringTypeIndex)
        {
            Visit(target, slot, from, walk); // a string leads nowhere: checked now, not stacked (a chain of objects with strings would stack them all)
            return;
        }

        walk.Pending.Push((target, slot, from));
    }
}
