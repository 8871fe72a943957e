// PersistentPool (migration inputs) -- what a migration will read, checked before it writes anything: damage refuses the open unchanged.
using Pmem.Objects;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// Checks, writing nothing, what the planned migrations read once they run: every collection's header and storage
    /// (the rewrite of moved references walks them all, and a freed collection frees its storage), and in the objects
    /// of each migrating type every string or collection the migration frees (a dropped property's, or one a user
    /// migration takes over). Run by recovery inside its rollback scope: a migration finding such damage halfway would
    /// stop with the pool partly migrated, or free a live block a damaged word names.
    /// </summary>
    /// <exception cref="PoolCorruptedException">Something a migration reads is damaged: the pool needs a repair first.</exception>
    private void ValidateMigrationInputs(List<SchemaPlan> plans)
    {
        var freedByType = new Dictionary<uint, List<PersistentPropertyInfo>>();
        foreach (var plan in plans)
        {
            freedByType[plan.Stored.Index] = [.. FreedOwners(plan)];
        }

        var problems = new List<string>();
        _heap.ForEachAllocated((block, type) =>
        {
            if (problems.Count > 0)
            {
                return; // the first damage is reason enough
            }

            if (HasInternalChildren(type))
            {
                try
                {
                    foreach (var _ in InternalChildren(block.Offset, type, problems))
                    {
                    }
                }
                catch (PoolException e)
                {
                    problems.Add($"the {_types.NameOf(type)} at {block.Offset} cannot be read ({e.Message.Replace(Path + ": ", "", StringComparison.Ordinal)})");
                }
            }
            else if (freedByType.TryGetValue(type, out var freed))
            {
                foreach (var property in freed)
                {
                    var owned = _domain.Read<long>(block.Offset + property.Offset);
                    if (owned != 0 && !(_heap.TryGetAllocated(owned, out _, out var ownedType) && IsOwnable(property.FieldKind, ownedType)))
                    {
                        problems.Add($"the {property.Name} of the {_types.NameOf(type)} at {block.Offset} holds {owned}, which is not an allocated {(property.FieldKind == PersistentFieldKind.String ? "string" : "collection")}");
                        return;
                    }
                }
            }
        });

        if (problems.Count > 0)
        {
            throw new PoolCorruptedException(Path, $"{problems[0]}; migrating the pool's changed classes would stop partway, so nothing was changed (repair the pool, e.g. with pmem repair, then open it again)");
        }
    }

    /// <summary>The stored properties whose string or collection a migration of <paramref name="plan"/> frees.</summary>
    private static IEnumerable<PersistentPropertyInfo> FreedOwners(SchemaPlan plan) =>
        plan.Dropped
            .Concat(plan.Steps.Where(step => step.Conversion == PropertyConversion.Default && step.Source is not null).Select(step => step.Source!))
            .Where(property => property.FieldKind is PersistentFieldKind.String or PersistentFieldKind.Collection);

    private static bool IsOwnable(PersistentFieldKind? kind, uint type) => kind == PersistentFieldKind.String
        ? type == TypeTable.StringTypeIndex
        : HasInternalChildren(type);
}
