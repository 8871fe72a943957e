// PersistentPool (migration) -- carrying every object of a changed type to the program's layout, resumably, at open.
using Pmem.Heap;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>The phases of a migration as the header's phase word records them.</summary>
/// <remarks>
/// Low byte: <see cref="Convert"/>, <see cref="Rewrite"/> or <see cref="Free"/>; <see cref="MovedBit"/> once an object
/// had to move to a larger block (then references to it are rewritten and its old block freed).
/// </remarks>
internal static class MigrationPhases
{
    public const ulong Convert = 1;
    public const ulong Rewrite = 2;
    public const ulong Free = 3;
    public const ulong MovedBit = 1 << 8;

    public static bool IsValid(ulong phase) => (phase & ~(MovedBit | 0xFF)) == 0 && (phase & 0xFF) is >= Convert and <= Free;
}

public sealed partial class PersistentPool
{
    private readonly List<string> _migratedAtOpen = [];

    /// <summary>Objects per migration transaction: a bounded log, and a resumable cursor after each.</summary>
    private int _migrationBatchObjects; // set at open (see PerLogSlot)

    /// <summary>
    /// What opening the pool migrated: a line per class whose stored schema differed from the program's (its changes
    /// and how many objects were converted); empty when nothing changed.
    /// </summary>
    public IReadOnlyList<string> MigratedAtOpen => _migratedAtOpen;

    /// <summary>
    /// Migrates every object of <paramref name="plan"/>'s stored type: records the program's layout as a new entry
    /// and starts the migration in one commit, then runs it (<see cref="RunMigration"/>).
    /// </summary>
    private void StartMigration(SchemaPlan plan, UserMigration? hook)
    {
        var record = SchemaRecord.Encode(plan.Program);
        lock (_types.AddLock)
        {
            var entry = _types.Count;
            _types.WriteEntry(entry, plan.Program, withSchema: true);
            var newIndex = TypeTable.FirstUserTypeIndex + (uint)entry;
            CommitSchemaWords(record, entry, redo =>
            {
                redo.Set(PoolLayout.TypeCountOffset, (ulong)(entry + 1));
                redo.Set(PoolLayout.MigrationTypesOffset, (ulong)newIndex << 32 | plan.Stored.Index);
                redo.Set(PoolLayout.MigrationPhaseOffset, MigrationPhases.Convert);
                redo.Set(PoolLayout.MigrationCursorOffset, 0UL);
            });
        }

        RunMigration(plan.Program, hook);
    }

    /// <summary>
    /// Runs (or resumes) the migration the header records, phase by phase, each in transactions of a bounded number of
    /// objects that also advance the durable cursor: convert every old object (in place when the program's layout fits
    /// its block, else into a new block, leaving a forwarding block behind), rewrite references to moved objects, free
    /// the forwarding blocks, retire the old entry.
    /// </summary>
    private void RunMigration(PersistentTypeInfo program, UserMigration? hook)
    {
        var types = _domain.Read<ulong>(PoolLayout.MigrationTypesOffset);
        var (oldIndex, newIndex) = ((uint)types, (uint)(types >> 32));
        var stored = _types.Get(oldIndex)!;
        var plan = SchemaPlan.Create(stored, program, hook is not null);
        if (plan.Problems.Count > 0)
        {
            throw new PersistentSchemaException(Path, program.Name, plan.Problems);
        }

        var phase = _domain.Read<ulong>(PoolLayout.MigrationPhaseOffset);
        var converted = 0;
        List<long>? forwarding = null; // the forwarding blocks, when this run knows them without a scan of the heap
        if ((phase & 0xFF) == MigrationPhases.Convert)
        {
            var resumed = _domain.Read<long>(PoolLayout.MigrationCursorOffset) != 0;
            var moved = new List<long>();
            converted = ConvertObjects(plan, oldIndex, newIndex, hook, moved);

            // Moved objects left forwarding blocks, durably batch by batch. A run that converted every object knows
            // them all (none exist before a migration's first batch); a resumed one may have moved none itself.
            forwarding = resumed ? BlocksOfType(TypeTable.ForwardingTypeIndex, 0) : moved;
            phase = forwarding.Count > 0 ? MigrationPhases.Rewrite | MigrationPhases.MovedBit : MigrationPhases.Free;
            SetPhase(phase);
        }

        if ((phase & 0xFF) == MigrationPhases.Rewrite)
        {
            RewriteMovedReferences();
            SetPhase(MigrationPhases.Free | MigrationPhases.MovedBit);
        }

        foreach (var batch in Batches(forwarding ?? BlocksOfType(TypeTable.ForwardingTypeIndex, 0)))
        {
            using var tx = BeginTransaction();
            foreach (var offset in batch)
            {
                FreeInTransaction(offset); // a forwarding block owns nothing: its strings and collections moved on
            }

            tx.Commit();
        }

        using (var tx = BeginTransaction())
        {
            var entry = (int)(oldIndex - TypeTable.FirstUserTypeIndex);
            WriteValue(PoolLayout.SchemaWordOffset(entry), (ulong)stored.SchemaOffset | PoolLayout.SchemaRetiredBit);
            WriteValue(PoolLayout.MigrationTypesOffset, 0UL);
            WriteValue(PoolLayout.MigrationPhaseOffset, 0UL);
            WriteValue(PoolLayout.MigrationCursorOffset, 0UL);
            tx.Commit();
        }

        _types.Load(Size);
        var changes = plan.Changes().ToList();
        _migratedAtOpen.Add($"{program.Name}: {(changes.Count == 0 ? "no property changed" : string.Join(", ", changes))} ({converted} objects converted)");
    }

    private void SetPhase(ulong phase)
    {
        using var tx = BeginTransaction();
        WriteValue(PoolLayout.MigrationPhaseOffset, phase);
        WriteValue(PoolLayout.MigrationCursorOffset, 0UL);
        tx.Commit();
    }

    /// <summary>Converts the old type's objects past the cursor; returns how many, and adds those that moved to <paramref name="moved"/> (in offset order).</summary>
    private int ConvertObjects(SchemaPlan plan, uint oldIndex, uint newIndex, UserMigration? hook, List<long> moved)
    {
        var converted = 0;
        var oldBytes = new byte[plan.Stored.Size];
        var newBytes = new byte[plan.Program.Size];
        var cursor = _domain.Read<long>(PoolLayout.MigrationCursorOffset);
        var objects = BlocksOfType(oldIndex, cursor);
        if (objects.Count == 0)
        {
            return 0;
        }

        // Every page of the old objects is written (converted in place, or a forwarding word), and every page of the
        // new blocks: map them writable in bulk rather than one page fault at a time.
        PrefaultForWrite(objects, plan.Stored.Size);
        _heap.PrefaultNewChunks = true;
        try
        {
            foreach (var batch in Batches(objects))
            {
                using var tx = BeginTransaction();
                foreach (var offset in batch)
                {
                    if (ConvertObject(plan, offset, newIndex, hook, ref oldBytes, newBytes))
                    {
                        moved.Add(offset);
                    }
                }

                WriteValue(PoolLayout.MigrationCursorOffset, batch[^1]);
                tx.Commit();
                converted += batch.Count;
            }
        }
        finally
        {
            _heap.PrefaultNewChunks = false;
        }

        return converted;
    }

    /// <summary>Converts one object, in place or into a new block; true when it moved (its block now forwards).</summary>
    private bool ConvertObject(SchemaPlan plan, long offset, uint newIndex, UserMigration? hook, ref byte[] oldBytes, byte[] newBytes)
    {
        if (hook is not null)
        {
            oldBytes = new byte[plan.Stored.Size]; // the hook's StoredObject may outlive this object's turn
        }

        _domain.GetSpan(offset, oldBytes.Length).CopyTo(oldBytes);
        Array.Clear(newBytes);
        foreach (var step in plan.Steps)
        {
            if (step.Source is not { } source || step.Conversion == PropertyConversion.Default)
            {
                continue;
            }

            var from = oldBytes.AsSpan(source.Offset, source.Size);
            var to = newBytes.AsSpan(step.Target.Offset, step.Target.Size);
            if (step.Conversion == PropertyConversion.Copy)
            {
                from.CopyTo(to);
            }
            else
            {
                ValueConversion.Widen(from, source.StorageType, to, step.Target.StorageType);
            }
        }

        _heap.TryGetAllocated(offset, out var block, out _);
        var root = _domain.Read<long>(PoolLayout.RootOffsetOffset) == offset;
        var target = offset;
        var moves = plan.Program.Size > block.Size;
        if (moves)
        {
            var moved = AllocateBlockInTransaction(plan.Program.Size, newIndex, content: newBytes);
            target = moved.Offset;
            WriteValue(offset, BlockGeneration.Reference(target, moved.Generation)); // the forwarding word the rewrite phase copies into references
            WriteValue(_heap.TypeWordOffset(block), BlockGeneration.Header(TypeTable.ForwardingTypeIndex, block.Generation));
            if (root)
            {
                WriteValue(PoolLayout.RootOffsetOffset, target);
            }
        }
        else
        {
            WriteBytesInTransaction(offset, newBytes);
            if (plan.Stored.Size > newBytes.Length)
            {
                WriteBytesInTransaction(offset + newBytes.Length, new byte[plan.Stored.Size - newBytes.Length]);
            }

            WriteValue(_heap.TypeWordOffset(block), BlockGeneration.Header(newIndex, block.Generation)); // references to it stay valid
        }

        if (root)
        {
            WriteValue(PoolLayout.RootTypeOffset, (ulong)newIndex);
        }

        if (hook is not null)
        {
            try
            {
                hook.Run(new StoredObject(this, plan.Stored.Schema!, oldBytes, offset), this, target);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new PersistentMigrationException(Path, plan.Stored.Name, offset, e);
            }
        }
        foreach (var dropped in plan.Dropped)
        {
            FreeOwned(dropped, oldBytes);
        }

        foreach (var step in plan.Steps)
        {
            if (step.Source is { } source && step.Conversion == PropertyConversion.Default)
            {
                FreeOwned(source, oldBytes); // carried by the user's migration, if at all: the stored value goes
            }
        }

        return moves;
    }

    private void FreeOwned(PersistentPropertyInfo property, byte[] oldBytes)
    {
        if (property.FieldKind is PersistentFieldKind.String or PersistentFieldKind.Collection &&
            BitConverter.ToInt64(oldBytes, property.Offset) is var owned and not 0)
        {
            FreeInTransaction(owned);
        }
    }

    /// <summary>Points every reference to a forwarding block (in objects, collections and the root) at its new place.</summary>
    private void RewriteMovedReferences()
    {
        var cursor = _domain.Read<long>(PoolLayout.MigrationCursorOffset);
        var holders = new List<(long Offset, uint Type)>();
        _heap.ForEachAllocated((block, type) =>
        {
            if (block.Offset > cursor && (type is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex || _types.Get(type)?.Fields.Count > 0))
            {
                holders.Add((block.Offset, type));
            }
        });

        for (var start = 0; start < holders.Count; start += _migrationBatchObjects)
        {
            using var tx = BeginTransaction();
            var end = Math.Min(holders.Count, start + _migrationBatchObjects);
            for (var i = start; i < end; i++)
            {
                var (offset, type) = holders[i];
                foreach (var field in _types.Get(type)?.Fields ?? [])
                {
                    if (field.Kind == PersistentFieldKind.Reference)
                    {
                        Forward(offset + field.Offset);
                    }
                }

                foreach (var (_, owned, slot) in InternalChildren(offset, type).ToList())
                {
                    if (!owned)
                    {
                        Forward(slot);
                    }
                }
            }

            WriteValue(PoolLayout.MigrationCursorOffset, holders[end - 1].Offset);
            tx.Commit();
        }
    }

    private void Forward(long slot)
    {
        var reference = ReadValue<long>(slot);
        var target = BlockGeneration.TargetOf(reference);
        if (target != 0 && _heap.TryGetAllocated(target, out var block, out var type) && type == TypeTable.ForwardingTypeIndex &&
            BlockGeneration.Matches(BlockGeneration.OfReference(reference), block.Generation))
        {
            WriteValue(slot, _domain.Read<long>(target)); // a dangling reference stays dangling rather than reaching the moved object
        }
    }

    /// <summary>A stored reference as a migration hook reads it: a moved object is found at its new place.</summary>
    internal T ReadReferenceDuringMigration<T>(long reference) where T : PersistentObject, IPersistentObject<T> =>
        ReadReferenceAt<T>(Forwarded(reference));

    /// <summary>Whether the header records a migration under way (interrupted, when seen by anyone but the open running it).</summary>
    internal bool MigrationUnderWay => _domain.Read<ulong>(PoolLayout.MigrationTypesOffset) != 0;

    /// <summary>Refuses <paramref name="doing"/> (e.g. "compacting") while a migration is under way: its objects are part in one layout, part in the next.</summary>
    /// <exception cref="PoolCorruptedException">A schema migration is in progress.</exception>
    internal void ThrowIfMigrationUnderWay(string doing)
    {
        if (MigrationUnderWay)
        {
            throw new PoolCorruptedException(Path, $"a schema migration is in progress: open the pool with the program that started it to finish it before {doing}");
        }
    }

    /// <summary>
    /// The reference to where a migration moved the object <paramref name="reference"/> leads to, when it leads to the
    /// forwarding block the move left (until the migration rewrites every reference); else <paramref name="reference"/>.
    /// </summary>
    internal long Forwarded(long reference) =>
        _heap.TryGetAllocated(BlockGeneration.TargetOf(reference), out var block, out var type) && type == TypeTable.ForwardingTypeIndex &&
        BlockGeneration.Matches(BlockGeneration.OfReference(reference), block.Generation)
            ? _domain.Read<long>(block.Offset)
            : reference;

    /// <summary>
    /// Prefaults the stretches the objects at <paramref name="offsets"/> (in offset order) lie in, leaving out gaps
    /// of more than a chunk, so that a few objects far apart do not populate the pool between them.
    /// </summary>
    private void PrefaultForWrite(List<long> offsets, int size)
    {
        var start = offsets[0];
        var end = start + size;
        foreach (var offset in offsets)
        {
            if (offset - end > PoolHeap.ChunkSize)
            {
                _domain.PrefaultForWrite(start, end - start);
                start = offset;
            }

            end = offset + size;
        }

        _domain.PrefaultForWrite(start, end - start);
    }

    /// <summary>The allocated blocks of <paramref name="typeIndex"/> past <paramref name="after"/>, in offset order.</summary>
    private List<long> BlocksOfType(uint typeIndex, long after)
    {
        var offsets = new List<long>();
        _heap.ForEachAllocated((block, type) =>
        {
            if (type == typeIndex && block.Offset > after)
            {
                offsets.Add(block.Offset);
            }
        });
        return offsets;
    }

    private IEnumerable<List<long>> Batches(List<long> offsets)
    {
        for (var start = 0; start < offsets.Count; start += _migrationBatchObjects)
        {
            yield return offsets.GetRange(start, Math.Min(_migrationBatchObjects, offsets.Count - start));
        }
    }
}
