// PersistentPool (schema) -- recording each type's schema, upgrading older pools, and comparing the program's types at open.
using Pmem.Heap;
using Pmem.Objects;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// The index of <paramref name="type"/>, recording it (with its schema) on first use, and its schema on the first
    /// use of a type a version-3 pool stored without one.
    /// </summary>
    /// <exception cref="PersistentSchemaException">The pool stores the type with another layout, or a newer version.</exception>
    /// <exception cref="PersistentLayoutMismatchException">The pool stores the type with another layout and neither side has a schema.</exception>
    internal uint TypeIndex(PersistentTypeInfo type)
    {
        var stored = _types.Find(type.TypeId) ?? RegisterType(type);
        if (!stored.HasLayoutOf(type) || stored.Version > type.Version)
        {
            throw ChangedType(stored, type);
        }

        if (stored.Schema is null && type.HasSchema)
        {
            RecordSchema(stored, type);
        }

        if (Volatile.Read(ref type.IndexesInStepPool) != InstanceId)
        {
            KeepIndexesInStep(type, stored.Index);
        }

        return stored.Index;
    }

    private Exception ChangedType(StoredType stored, PersistentTypeInfo type)
    {
        if (stored.Schema is null && !type.HasSchema)
        {
            return new PersistentLayoutMismatchException(Path, type.Name, stored.LayoutHash, type.LayoutHash);
        }

        if (stored.Version > type.Version)
        {
            return new PersistentSchemaException(Path, type.Name, [Downgrade(stored, type)]);
        }

        // Open migrates every changed type the program registered; this one was not known then.
        var plan = SchemaPlan.Create(stored, type, hasUserMigration: false);
        var problems = plan.Problems.Count > 0
            ? plan.Problems
            : [$"'{type.Name}' changed ({string.Join(", ", plan.Changes())}) and can be migrated, but pools migrate when they open and the type was not known then: " +
               "make sure its assembly is loaded before PersistentPool.Open, or list it in PoolOpenOptions.Types"];
        return new PersistentSchemaException(Path, type.Name, problems);
    }

    private string Downgrade(StoredType stored, PersistentTypeInfo type) =>
        (stored.Version > type.Version
            ? $"the pool holds '{type.Name}' at version {stored.Version}, written by a newer program than this one (version {type.Version}); "
            : $"the pool holds '{type.Name}' in the layout a newer program migrated it to from this program's layout (the same version, {type.Version}); ") +
        "open it with that program or a later one (a pool is never migrated back)";

    /// <summary>Records a type the pool has never seen: its entry, its schema record and the count, in one commit.</summary>
    private StoredType RegisterType(PersistentTypeInfo type)
    {
        lock (_types.AddLock)
        {
            if (_types.Find(type.TypeId) is { } existing)
            {
                return existing;
            }

            var entry = _types.Count;
            _types.WriteEntry(entry, type, withSchema: type.HasSchema);
            CommitSchemaWords(type.HasSchema ? SchemaRecord.Encode(type) : null, entry, redo => redo.Set(PoolLayout.TypeCountOffset, (ulong)(entry + 1)));
            return _types.Find(type.TypeId) ?? throw new InvalidOperationException($"{Path}: type '{type.Name}' was recorded but is not found");
        }
    }

    /// <summary>Gives an entry stored without a schema (by a version-3 pool) the schema of the program's identical type.</summary>
    private void RecordSchema(StoredType stored, PersistentTypeInfo type)
    {
        lock (_types.AddLock)
        {
            if (_types.Get(stored.Index) is { Schema: null } current && current.HasLayoutOf(type))
            {
                CommitSchemaWords(SchemaRecord.Encode(type), (int)(stored.Index - TypeTable.FirstUserTypeIndex), static _ => { });
            }
        }
    }

    /// <summary>
    /// One commit outside any transaction: a new schema record's block and the schema word of
    /// <paramref name="entry"/> pointing to it (when <paramref name="record"/> is given), whatever else
    /// <paramref name="more"/> logs, and the header's upgrade to the schema format when a record is written into an
    /// older pool. Then the type table is read again.
    /// </summary>
    private void CommitSchemaWords(byte[]? record, int entry, Action<Log.RedoBuilder> more)
    {
        var redo = RentRedo();
        BlockReservation block = default;
        if (record is not null)
        {
            block = ReserveZeroed(record.Length);
            record.CopyTo(_domain.GetSpan(block.Offset, record.Length));
            _domain.NotifyStore(block.Offset, record.Length);
            _domain.Flush(block.Offset, record.Length);
            _heap.LogAllocate(redo, block, TypeTable.SchemaTypeIndex);
            RequireDurable(redo, block.Offset, record.Length);
            redo.Set(PoolLayout.SchemaWordOffset(entry), (ulong)block.Offset);
            LogFormatUpgrade(redo, PoolLayout.SchemaVersion);
        }

        more(redo);
        if (record is null)
        {
            CommitRedo(redo);
        }
        else
        {
            CommitOrRelease(redo, block);
        }

        _types.Load(Size);
        FormatVersion = _domain.Read<uint>(PoolLayout.VersionOffset);
    }

    /// <summary>
    /// At a writable open: moves a version-5 or 6 pool to version 8, which has nothing they lack but block generations
    /// (version 6) and process-crash logs cleared once applied (version 7); older pools move with their first schema
    /// record or index, as before (version 9's lanes are for new pools only: see PoolLayout.UpgradeVersion). Then a
    /// process-crash pool of version 7 or later starts clearing its logs, which lets commits on different lanes share
    /// no word (see CommitPipeline).
    /// </summary>
    private void MoveToCurrentFormat()
    {
        if (FormatVersion is PoolLayout.IndexVersion or PoolLayout.GenerationsVersion)
        {
            var redo = RentRedo();
            LogFormatUpgrade(redo, PoolLayout.ClearedLogsVersion);
            CommitRedo(redo);
            FormatVersion = _domain.Read<uint>(PoolLayout.VersionOffset);
        }

        if (FormatVersion >= PoolLayout.ClearedLogsVersion)
        {
            _commits.StartClearingAppliedLogs(Transactions.TransactionState.OfThread?.Commits);
        }
    }

    /// <summary>
    /// Logs the header's move to <see cref="PoolLayout.UpgradeVersion"/> (version and checksum together), when it is
    /// older than <paramref name="needed"/>.
    /// </summary>
    private void LogFormatUpgrade(Log.RedoBuilder redo, uint needed)
    {
        if (FormatVersion >= needed)
        {
            return;
        }

        redo.Set(PoolLayout.VersionOffset, PoolLayout.UpgradeVersion);
        redo.Set(PoolLayout.HeaderChecksumOffset, HeaderChecksumWithVersion(_domain, PoolLayout.UpgradeVersion));
    }

    /// <summary>
    /// At open, inside the replay's rollback scope: every schema record is an allocated schema block, and a migration
    /// in progress names two entries of one type.
    /// </summary>
    private void ValidateStoredSchema()
    {
        foreach (var stored in _types.Types)
        {
            if (stored.SchemaOffset != 0 && AllocatedSizeOf(stored.SchemaOffset, TypeTable.SchemaTypeIndex) < 0)
            {
                throw new PoolCorruptedException(Path, $"the schema record of '{stored.Name}' at offset {stored.SchemaOffset} is not an allocated schema block");
            }
        }

        var migration = _domain.Read<ulong>(PoolLayout.MigrationTypesOffset);
        var phase = _domain.Read<ulong>(PoolLayout.MigrationPhaseOffset);
        if (migration == 0 && phase == 0)
        {
            return;
        }

        var (from, to) = (_types.Get((uint)migration), _types.Get((uint)(migration >> 32)));
        if (from is null || to is null || from.TypeId != to.TypeId || to.Schema is null || from.IsRetired || to.IsRetired || !MigrationPhases.IsValid(phase))
        {
            throw new PoolCorruptedException(Path, $"the header records an impossible migration (types word {migration:x16}, phase {phase})");
        }
    }
}
