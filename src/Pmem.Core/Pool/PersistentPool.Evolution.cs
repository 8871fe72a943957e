// PersistentPool (evolution) -- at open: the program's types against the stored schema, then every migration they need.
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

/// <summary>What opening a pool does about its schema, in order, and the migrations among its steps (an interrupted one first).</summary>
internal sealed record EvolutionWork(List<Action> Steps, List<SchemaPlan> Migrations)
{
    /// <summary>Whether a step converts objects.</summary>
    public bool Migrates => Migrations.Count > 0;
}

public sealed partial class PersistentPool
{
    /// <summary>
    /// Compares every stored type the program knows (<see cref="PersistentTypeRegistry"/>, <see cref="PoolOpenOptions.Types"/>
    /// and the types of <see cref="PoolOpenOptions.Migrations"/>) with its stored schema, writing nothing: run by
    /// recovery inside its rollback scope, so a refusal leaves the file as it was. Returns the work
    /// <see cref="EvolveSchema"/> does once the pool is open.
    /// </summary>
    /// <exception cref="PersistentSchemaException">A change needs a migration the program does not register, the pool
    /// was written by a newer program, or a migration in progress was started by another program version.</exception>
    private EvolutionWork PlanEvolution(PoolOpenOptions options)
    {
        var explicitTypes = new Dictionary<ulong, List<PersistentTypeInfo>>();
        foreach (var type in options.Types.Concat(options.Migrations?.Types ?? []))
        {
            var list = explicitTypes.TryGetValue(type.TypeId, out var known) ? known : explicitTypes[type.TypeId] = [];
            if (!list.Exists(other => other.LayoutHash == type.LayoutHash && other.Size == type.Size && other.Version == type.Version))
            {
                list.Add(type);
            }
        }

        IReadOnlyList<PersistentTypeInfo> Candidates(ulong typeId) =>
            explicitTypes.TryGetValue(typeId, out var list) ? list : PersistentTypeRegistry.Find(typeId);

        var work = new List<Action>();
        var migrations = new List<SchemaPlan>();
        var migrationTypes = _domain.Read<ulong>(PoolLayout.MigrationTypesOffset); // the old type index, the new one above it
        var migrating = (uint)migrationTypes;
        if (migrating != 0 && !(options.ReadsUnfinishedMigration && Candidates(_types.Get((uint)(migrationTypes >> 32))!.TypeId).Count == 0))
        {
            var (resume, plan) = ResumableMigration(Candidates, options.Migrations);
            work.Add(resume);
            migrations.Add(plan);
        }

        var problems = new List<(string Type, string Problem)>();
        foreach (var stored in _types.Types.Where(type => !type.IsRetired && type.Index != migrating))
        {
            var candidates = Candidates(stored.TypeId);
            if (candidates.Count == 0)
            {
                continue;
            }

            var type = candidates.FirstOrDefault(stored.HasLayoutOf) ?? candidates[0];
            var same = stored.HasLayoutOf(type);
            if (candidates.Count > 1 && !same)
            {
                problems.Add((stored.Name, $"several classes of the program have the durable name '{stored.Name}' and none has its stored layout; give each its own [PersistentObject(Name = ...)]"));
                continue;
            }

            var hook = options.Migrations?.Find(stored.TypeId);
            if (stored.Version > type.Version || (!same && WasMigratedAwayFrom(stored, type)))
            {
                problems.Add((stored.Name, Downgrade(stored, type)));
            }
            else if (same && !(hook is not null && type.Version > stored.Version))
            {
                if (ReferenceTargetChanged(stored, type))
                {
                    // The layout hash covers offsets and kinds, not what a reference points to: SchemaPlan names the change.
                    problems.AddRange(SchemaPlan.Create(stored, type, hasUserMigration: false).Problems.Select(problem => (stored.Name, problem)));
                    continue;
                }

                if (type.HasSchema && (stored.Schema is null || type.Version > stored.Version))
                {
                    work.Add(() => ReplaceSchemaRecord(stored, type));
                }
            }
            else
            {
                var plan = SchemaPlan.Create(stored, type, hook is not null);
                problems.AddRange(plan.Problems.Select(problem => (stored.Name, problem)));
                work.Add(() => StartMigration(plan, hook));
                migrations.Add(plan);
            }
        }

        if (problems.Count > 0)
        {
            var types = problems.Select(problem => problem.Type).Distinct().ToList();
            throw new PersistentSchemaException(Path, types.Count == 1 ? types[0] : string.Join(", ", types), [.. problems.Select(problem => problem.Problem)]);
        }

        return new EvolutionWork(work, migrations);
    }

    /// <summary>Does what <see cref="PlanEvolution"/> found: finishes an interrupted migration, records schemas, migrates.</summary>
    private void EvolveSchema(EvolutionWork work)
    {
        foreach (var step in work.Steps)
        {
            try
            {
                step();
            }
            catch (PoolOutOfSpaceException e) when (work.Migrates)
            {
                // Converted in place batch by batch: say whether it stopped part way, and what lets it finish.
                var reason = e.Message.StartsWith(Path + ": ", StringComparison.Ordinal) ? e.Message[(Path.Length + 2)..] : e.Message;
                throw new PoolOutOfSpaceException(Path, e.RequestedBytes, MigrationUnderWay
                    ? $"the migration of {Inspect().MigrationInProgress} stopped part way ({reason}); the objects converted so far stay so, the older program cannot open the pool meanwhile, and the next open by this program resumes the migration once the pool has room (free space on the disk, or a larger PoolOpenOptions.MaxSize)"
                    : $"the migration of {string.Join(", ", work.Migrations.Select(plan => plan.Stored.Name))} this open needs could not start ({reason}); the pool is as it was: open it again once it has room (free space on the disk, or a larger PoolOpenOptions.MaxSize)",
                    e);
            }
        }
    }

    /// <summary>
    /// The finish of the migration a crash (or a failed migration hook) interrupted, with the program version that
    /// started it; refused now if the program does not have that version.
    /// </summary>
    private (Action Resume, SchemaPlan Plan) ResumableMigration(Func<ulong, IReadOnlyList<PersistentTypeInfo>> candidates, PoolMigrations? migrations)
    {
        var types = _domain.Read<ulong>(PoolLayout.MigrationTypesOffset);
        var target = _types.Get((uint)(types >> 32))!;
        var program = candidates(target.TypeId).FirstOrDefault(c => target.HasLayoutOf(c) && c.Version == target.Version);
        if (program is null)
        {
            throw new PersistentSchemaException(Path, target.Name, [
                $"a migration of '{target.Name}' to {SchemaPlan.Describe(target.Schema!)} is in progress (interrupted by a crash or a failed migration); " +
                "open the pool with the program version that started it (its class compiled with that layout) to finish it"]);
        }

        var hook = migrations?.Find(target.TypeId);
        return (() => RunMigration(program, hook), SchemaPlan.Create(_types.Get((uint)types)!, program, hook is not null));
    }

    /// <summary>Whether a reference property of the same layout now points to another class than the stored schema records.</summary>
    private static bool ReferenceTargetChanged(StoredType stored, PersistentTypeInfo type) =>
        stored.Schema is { } schema && type.HasSchema &&
        type.Properties.Any(property => property.Target is not null &&
            schema.Properties.FirstOrDefault(old => old.Offset == property.Offset && old.StorageType == property.StorageType) is { Target: { } was } && was != property.Target);

    /// <summary>Whether a retired entry of the type has the program's layout: the pool moved on from it, so opening would go back.</summary>
    private bool WasMigratedAwayFrom(StoredType stored, PersistentTypeInfo type) =>
        _types.Types.Any(old => old.IsRetired && old.TypeId == stored.TypeId && old.HasLayoutOf(type));

    /// <summary>Records the program's schema for an unchanged layout: a first record (older pools) or a newer version.</summary>
    private void ReplaceSchemaRecord(StoredType stored, PersistentTypeInfo type)
    {
        if (stored.SchemaOffset == 0)
        {
            RecordSchema(stored, type);
            return;
        }

        var record = SchemaRecord.Encode(type);
        var entry = (int)(stored.Index - TypeTable.FirstUserTypeIndex);
        using (var tx = BeginTransaction())
        {
            var block = AllocateInTransaction(record.Length, TypeTable.SchemaTypeIndex);
            WriteBytesInTransaction(block, record);
            WriteValue(PoolLayout.SchemaWordOffset(entry), (ulong)block);
            FreeInTransaction(stored.SchemaOffset);
            tx.Commit();
        }

        _types.Load(Size);
    }

    /// <summary>After a failed migration at open: stops the commit pipeline without closing the caller's domain.</summary>
    private void AbandonOpen()
    {
        _disposed = true;
        TransactionState.StopCountingOnThisThread(this);
        _commits.Close(TransactionState.OfThread?.Commits);
        _domain.Drain();
    }
}
