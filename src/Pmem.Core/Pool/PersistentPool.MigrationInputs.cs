// PersistentPool (migration inputs) -- what a migration will read and free, checked before it writes anything: damage refuses the open unchanged.
using Pmem.Objects;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// Checks, writing nothing, what the planned migrations read and free once they run: every collection's header and
    /// storage (the rewrite of moved references walks them all, and a freed collection frees its storage), and in the
    /// objects of each migrating type every string (which the conversion or a migration hook reads) and every string or
    /// collection the migration frees (a dropped property's, or one a user migration takes over), which must be a block
    /// of that kind that nothing else owns. Run by recovery inside
    /// its rollback scope: a migration finding such damage halfway would stop with the pool partly migrated, or free a
    /// live block a damaged word names.
    /// </summary>
    /// <exception cref="PoolCorruptedException">Something a migration reads or frees is damaged: the pool needs a repair first.</exception>
    private void ValidateMigrationInputs(List<SchemaPlan> plans)
    {
        var freedByType = new Dictionary<uint, List<PersistentPropertyInfo>>();
        var stringsByType = new Dictionary<uint, List<PersistentPropertyInfo>>(); // read by the conversion or a hook
        foreach (var plan in plans)
        {
            freedByType[plan.Stored.Index] = [.. FreedOwners(plan)];
            stringsByType[plan.Stored.Index] = [.. plan.Stored.Schema?.Properties.Where(p => p.FieldKind == PersistentFieldKind.String) ?? []];
        }

        var problems = new List<string>();
        var freed = new Dictionary<long, long>(); // a block the migration frees → the block it is freed with
        _heap.ForEachAllocated((block, type) =>
        {
            if (problems.Count > 0)
            {
                return; // the first damage is reason enough
            }

            if (HasInternalChildren(type))
            {
                ForEachChild(block.Offset, type, problems, null);
                return;
            }

            foreach (var property in stringsByType.GetValueOrDefault(type) ?? [])
            {
                var text = _domain.Read<long>(block.Offset + property.Offset);
                var size = text == 0 ? 0 : _heap.TryGetAllocated(text, out var stringBlock, out var stringType) && stringType == TypeTable.StringTypeIndex ? stringBlock.Size : -1;
                if (size != 0 && !StringLayout.Fits(size < 0 ? -1 : _domain.Read<int>(text + StringLayout.LengthOffset), size))
                {
                    problems.Add($"the {property.Name} of the {_types.NameOf(type)} at {block.Offset} holds {text}, which is not a readable string");
                    return;
                }
            }

            foreach (var property in freedByType.GetValueOrDefault(type) ?? [])
            {
                var owned = _domain.Read<long>(block.Offset + property.Offset);
                if (owned != 0 && !(_heap.TryGetAllocated(owned, out _, out var ownedType) && IsOwnable(property.FieldKind, ownedType)))
                {
                    problems.Add($"the {property.Name} of the {_types.NameOf(type)} at {block.Offset} holds {owned}, which is not an allocated {(property.FieldKind == PersistentFieldKind.String ? "string" : "collection")}");
                    return;
                }

                if (owned != 0 && !freed.TryAdd(owned, block.Offset))
                {
                    problems.Add($"the {property.Name} of the {_types.NameOf(type)} at {block.Offset} owns the block at {owned}, which the object at {freed[owned]} owns too");
                    return;
                }
            }
        });

        if (problems.Count == 0 && freed.Count > 0)
        {
            FindOtherOwners(freed, problems);
        }

        if (problems.Count > 0)
        {
            throw new PoolCorruptedException(Path, $"{problems[0]}; migrating the pool's changed classes would stop partway, so nothing was changed (repair it with pmem check --repair --apply, then open it again)");
        }
    }

    /// <summary>
    /// Adds to <paramref name="freed"/> what the collections in it own (freed with them), then looks at every owning
    /// word of the pool for a second owner of a freed block: freeing it would free another object's string or collection.
    /// </summary>
    private void FindOtherOwners(Dictionary<long, long> freed, List<string> problems)
    {
        foreach (var (collection, _) in freed.ToList())
        {
            if (HasInternalChildren(TypeOf(collection)))
            {
                ForEachChild(collection, TypeOf(collection), problems, (child, owned) =>
                {
                    if (owned && problems.Count == 0 && !freed.TryAdd(child, collection))
                    {
                        problems.Add($"the block at {child} is owned by both the {_types.NameOf(TypeOf(collection))} at {collection} and the block at {freed[child]}");
                    }
                });
            }
        }

        void Owns(long owner, long owned)
        {
            if (problems.Count == 0 && freed.TryGetValue(owned, out var freedWith) && freedWith != owner)
            {
                problems.Add($"the block at {owned}, which the migration frees with the block at {freedWith}, is owned by the {_types.NameOf(TypeOf(owner))} at {owner} too");
            }
        }

        _heap.ForEachAllocated((block, type) =>
        {
            if (type == TypeTable.IndexDirectoryTypeIndex)
            {
                foreach (var slot in IndexDirectory.Read(_domain, block.Offset))
                {
                    foreach (var (word, _) in slot.OwnedWords)
                    {
                        Owns(block.Offset, _domain.Read<long>(word));
                    }
                }
            }
            else if (HasInternalChildren(type))
            {
                ForEachChild(block.Offset, type, problems, (child, owned) =>
                {
                    if (owned)
                    {
                        Owns(block.Offset, child);
                    }
                });
            }
            else
            {
                foreach (var field in _types.Get(type)?.Fields ?? [])
                {
                    if (field.Kind is PersistentFieldKind.String or PersistentFieldKind.Collection)
                    {
                        Owns(block.Offset, _domain.Read<long>(block.Offset + field.Offset));
                    }
                }
            }
        });
    }

    /// <summary>Visits a collection block's children (if <paramref name="visit"/> is given); a block that cannot be read adds why to <paramref name="problems"/>.</summary>
    private void ForEachChild(long offset, uint type, List<string> problems, Action<long, bool>? visit)
    {
        try
        {
            foreach (var (child, owned, _) in InternalChildren(offset, type, problems))
            {
                visit?.Invoke(child, owned);
            }
        }
        catch (PoolException e)
        {
            problems.Add($"the {_types.NameOf(type)} at {offset} cannot be read ({e.Message.Replace(Path + ": ", "", StringComparison.Ordinal)})");
        }
    }

    private uint TypeOf(long block) => _heap.TryGetAllocated(block, out _, out var type) ? type : 0;

    /// <summary>The stored properties whose string or collection a migration of <paramref name="plan"/> frees.</summary>
    private static IEnumerable<PersistentPropertyInfo> FreedOwners(SchemaPlan plan) =>
        plan.Dropped
            .Concat(plan.Steps.Where(step => step.Conversion == PropertyConversion.Default && step.Source is not null).Select(step => step.Source!))
            .Where(property => property.FieldKind is PersistentFieldKind.String or PersistentFieldKind.Collection);

    private static bool IsOwnable(PersistentFieldKind? kind, uint type) => kind == PersistentFieldKind.String
        ? type == TypeTable.StringTypeIndex
        : HasInternalChildren(type);
}
