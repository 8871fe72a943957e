// PersistentPool (indexes) -- the index directory at run time: which indexes are live, keeping them in step with the program, and the index lock.
using System.Collections.Concurrent;
using Pmem.Heap;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    private const int IndexBuildBatch = 1024; // per 64 KiB of log slot (see PerLogSlot), unless the log fills first

    private readonly object _indexSync = new(); // directory changes and builds, one at a time
    private volatile LiveIndex[] _liveIndexes = [];
    private volatile Dictionary<uint, LiveIndex[]> _liveIndexesByType = []; // read only; replaced with _liveIndexes
    private volatile IndexSlot[] _indexSlots = [];
    private readonly ConcurrentDictionary<PersistentTypeInfo, bool> _typesInStep = new(); // this session's program types whose indexes agree with the directory

    /// <summary>Every live (maintained) index.</summary>
    internal LiveIndex[] LiveIndexes => _liveIndexes;

    /// <summary>At open, after the replay: the directory is possible (before anything is written).</summary>
    private void ValidateIndexDirectory()
    {
        var directory = _domain.Read<long>(PoolLayout.IndexDirectoryOffset);
        if (directory != 0 && IndexDirectory.Problem(this, directory) is { } problem)
        {
            throw new PoolCorruptedException(Path, problem);
        }

        LoadIndexSlots();
    }

    private void LoadIndexSlots()
    {
        var slots = IndexDirectory.Read(_domain, _domain.Read<long>(PoolLayout.IndexDirectoryOffset));
        var live = new List<LiveIndex>();
        foreach (var slot in slots)
        {
            if (!slot.IsStale && _types.Get(slot.TypeIndex) is { IsRetired: false } stored &&
                stored.Schema?.Properties.FirstOrDefault(p => p.Offset == slot.PropertyOffset) is { } property)
            {
                live.Add(new LiveIndex(slot, property));
            }
        }

        _indexSlots = slots;
        _liveIndexesByType = live.GroupBy(index => index.Slot.TypeIndex).ToDictionary(group => group.Key, group => group.ToArray());
        _liveIndexes = [.. live];
    }

    /// <summary>The live indexes of objects of <paramref name="typeIndex"/> (empty for most types; made at load, not per New or Delete).</summary>
    internal LiveIndex[] LiveIndexesOf(uint typeIndex) =>
        _liveIndexes.Length != 0 && _liveIndexesByType.TryGetValue(typeIndex, out var indexes) ? indexes : [];

    /// <summary>The live index of the property at <paramref name="propertyOffset"/> of <paramref name="typeIndex"/>, or null.</summary>
    internal LiveIndex? LiveIndexAt(uint typeIndex, int propertyOffset)
    {
        foreach (var index in _liveIndexes)
        {
            if (index.Slot.TypeIndex == typeIndex && index.Slot.PropertyOffset == propertyOffset)
            {
                return index;
            }
        }

        return null;
    }

    /// <summary>
    /// Brings the directory in step with the program's declaration of <paramref name="type"/> (stored as
    /// <paramref name="typeIndex"/>): indexes it no longer declares (or declares otherwise) become stale and are freed;
    /// declared ones that are missing are built from the objects. Runs once per type and session, before any object
    /// of the type is written (every write reaches its object through this method first). Never in a read-only pool.
    /// </summary>
    /// <remarks>
    /// Open does it for every type the program registered. Inside a transaction only commits of their own are made
    /// (marking stale, claiming the index of a type without objects); a missing index over existing objects cannot be
    /// built there (its objects would be written before it is live), so that case throws.
    /// </remarks>
    /// <exception cref="InvalidOperationException">Inside a transaction: an index must be built over existing objects, or another thread is building one.</exception>
    private void KeepIndexesInStep(PersistentTypeInfo type, uint typeIndex)
    {
        if (_typesInStep.ContainsKey(type))
        {
            // Done this session already: another pool of the process holds the type's one-pool shortcut, so this one
            // asks its own record at each use (without a lock, and without taking the shortcut back and forth). Asked
            // before _indexSync, which this thread's transaction may not wait for: see below.
            return;
        }

        if (IsReadOnly)
        {
            InStep(type); // a read-only pool never changes its indexes: asking again finds nothing more to do
            return;
        }

        if (!type.HasIndexes && !Array.Exists(_indexSlots, s => s.TypeIndex == typeIndex))
        {
            InStep(type); // nothing declared, nothing stored: nothing can appear for it this session
            return;
        }

        if ((uint)(_domain.Read<ulong>(PoolLayout.MigrationTypesOffset) >> 32) == typeIndex)
        {
            // Its objects are being migrated (a migration hook writes one): its indexes are built from every object once
            // the migration is done (PrepareIndexes), not claimed empty now and filled only by what hooks write.
            return;
        }

        var tx = CurrentTransaction();
        var inTransaction = tx is not null;
        if (!EnterIndexSync(tx))
        {
            throw new InvalidOperationException($"{Path}: another thread is building an index over existing objects and waits for the index lock this transaction holds, which first uses '{type.Name}'; use the class once outside a transaction first.");
        }

        try
        {
            if (_typesInStep.ContainsKey(type))
            {
                type.IndexesInStepPool = InstanceId;
                return;
            }

            var declared = type.Properties.Where(p => p.Index != PersistentIndexKind.None).ToList();
            var replaced = _indexSlots.Where(slot => slot.TypeIndex == typeIndex && !slot.IsStale &&
                (declared.FirstOrDefault(p => p.Offset == slot.PropertyOffset) is not { } property ||
                 property.HasUniqueIndex != slot.IsUnique || property.HasHashedIndex != slot.IsHashed || (!inTransaction && HasUnprefixedStrings(slot)))).ToList();
            if (!inTransaction)
            {
                // A unique index about to be built over values held twice is refused before anything changes (an index
                // it replaces is kept).
                foreach (var property in declared.Where(p => p.HasUniqueIndex && (LiveIndexAt(typeIndex, p.Offset) is not { } live || replaced.Contains(live.Slot))))
                {
                    ThrowIfHeldTwice(type, typeIndex, property);
                }
            }

            foreach (var slot in replaced)
            {
                SetIndexFlags(slot, slot.Flags | IndexDirectory.StaleFlag, inTransaction: false);
            }

            var missing = declared.Where(property => LiveIndexAt(typeIndex, property.Offset) is null).ToList();
            var hasObjects = missing.Count > 0 && new OffsetsOfType(this, typeIndex, _types.Get(typeIndex)!.Size).Any();
            if (inTransaction)
            {
                if (hasObjects)
                {
                    throw new InvalidOperationException(
                        $"{Path}: '{type.Name}' declares an index ({missing[0].Name}) the pool has not built, and its first use this session is inside a transaction: " +
                        "open the pool with the class known (load its assembly before Open, or list it in PoolOpenOptions.Types), or use the class once outside a transaction.");
                }

                foreach (var property in missing)
                {
                    ClaimIndexSlot(typeIndex, property, stale: false); // no objects: complete as claimed
                }

                InStep(type); // stale trees wait for the next open
                return;
            }

            FreeStaleIndexes();
            foreach (var property in missing)
            {
                if (hasObjects)
                {
                    BuildIndex(typeIndex, property);
                }
                else
                {
                    // Complete as claimed, without the index lock, which a transaction waiting for the directory may hold.
                    ClaimIndexSlot(typeIndex, property, stale: false);
                }
            }

            InStep(type);
        }
        finally
        {
            Monitor.Exit(_indexSync);
        }
    }

    /// <summary>
    /// Takes <see cref="_indexSync"/> for a first use. A transaction that holds the index lock waits for it only while
    /// its holder does not wait for that lock (a build over existing objects does, each batch): waiting then would
    /// deadlock, and it gives up instead. Another thread's first use of a class without objects only claims entries,
    /// without the index lock, and a transaction's first use waits for it (an outside tester's two threads first using
    /// two indexed classes without objects met a refusal in 200 of 200 runs when neither was so).
    /// </summary>
    /// <returns>False when giving up.</returns>
    private bool EnterIndexSync(TransactionState? tx)
    {
        if (tx is null || !HoldsIndexLock(tx))
        {
            Monitor.Enter(_indexSync);
            return true;
        }

        while (!Monitor.TryEnter(_indexSync, TimeSpan.FromMilliseconds(1)))
        {
            if (_indexSyncAwaitsIndexLock)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True while the holder of <see cref="_indexSync"/> waits for the index lock (see <see cref="EnterIndexSync"/>).</summary>
    private volatile bool _indexSyncAwaitsIndexLock;

    /// <summary>Whether a build holding the directory waits for the index lock now (for tests).</summary>
    internal bool IndexBuildAwaitsIndexLock => _indexSyncAwaitsIndexLock;

    /// <summary>Refuses a unique index on <paramref name="property"/> before it is built, when its objects' values repeat (one scan, writing nothing).</summary>
    /// <exception cref="PersistentUniqueConstraintException">Two objects of <paramref name="typeIndex"/> hold one value of <paramref name="property"/>.</exception>
    private void ThrowIfHeldTwice(PersistentTypeInfo type, uint typeIndex, PersistentPropertyInfo property)
    {
        if (FirstHeldTwice(typeIndex, property, out var holder, out var value) != 0)
        {
            throw new PersistentUniqueConstraintException(Path, type.Name, property.Name, value, holder);
        }
    }

    /// <summary>
    /// The first object of <paramref name="typeIndex"/> whose value of <paramref name="property"/> an earlier one
    /// (<paramref name="holder"/>) holds, defaults exempt as a unique index exempts them; 0 when none. Reads only.
    /// </summary>
    internal long FirstHeldTwice(uint typeIndex, PersistentPropertyInfo property, out long holder, out string value) =>
        IndexMaintenance.Instance!.FirstDuplicate(this, property, new OffsetsOfType(this, typeIndex, _types.Get(typeIndex)!.Size), out holder, out value);

    /// <summary>
    /// Whether the slot's tree keys strings without prefixes (<see cref="KeyOrder.Ordinal"/>, as pools before
    /// <see cref="KeyOrder.OrdinalPrefixed"/> built them): such an index is rebuilt like one newly declared, so that
    /// its lookups stop reading a string at every comparison.
    /// </summary>
    private bool HasUnprefixedStrings(IndexSlot slot) =>
        !slot.IsHashed && ReadValue<long>(slot.TreeWord) is var tree and not 0 && ReadValue<int>(tree + SortedLayout.KeyOrderOffset) == (int)(KeyOrder.Ordinal | SortedLayout.ObjectOffsetOrder);

    private void InStep(PersistentTypeInfo type)
    {
        _typesInStep.TryAdd(type, true);
        Volatile.Write(ref type.IndexesInStepPool, InstanceId);
    }

    /// <summary>
    /// At open, after migrations (writable pools): frees what a crash left stale, drops the indexes of retired types,
    /// and brings every stored type the program knows in step (so indexes added to classes are built now, not at a
    /// first use that may run inside a transaction).
    /// </summary>
    /// <exception cref="PersistentUniqueConstraintException">A property newly declared unique holds one value in two objects.</exception>
    private void PrepareIndexes(PoolOpenOptions options)
    {
        if (IsReadOnly)
        {
            return;
        }

        TidyIndexes();
        foreach (var type in options.Types.Concat(PersistentTypeRegistry.All))
        {
            if ((type.HasIndexes || _indexSlots.Length > 0) && _types.Find(type.TypeId) is { } stored && stored.HasLayoutOf(type) && stored.Version == type.Version)
            {
                TypeIndex(type);
            }
        }
    }

    private void TidyIndexes()
    {
        if (_indexSlots.Length == 0)
        {
            return;
        }

        lock (_indexSync)
        {
            foreach (var slot in _indexSlots.Where(s => !s.IsStale && _types.Get(s.TypeIndex) is not { IsRetired: false, Schema: not null }))
            {
                SetIndexFlags(slot, slot.Flags | IndexDirectory.StaleFlag, inTransaction: false);
            }

            FreeStaleIndexes();
        }
    }

    /// <summary>
    /// Frees every stale index tree and its entry, one transaction each. A tree too damaged to free is left to a
    /// repair (its blocks become unreachable): a stale index is garbage, and open must not fail over it.
    /// </summary>
    private void FreeStaleIndexes()
    {
        foreach (var slot in _indexSlots.Where(s => s.IsStale))
        {
            try
            {
                Atomically(slot, slot =>
                {
                    foreach (var (word, _) in slot.OwnedWords)
                    {
                        if (ReadValue<long>(word) is var block and not 0)
                        {
                            FreeInTransaction(block); // a header owns its nodes (or table) and strings
                        }
                    }

                    ClearIndexEntry(slot.Slot);
                });
            }
            catch (PoolCorruptedException)
            {
                Atomically(slot.Slot, ClearIndexEntry);
            }
        }

        LoadIndexSlots();
    }

    /// <summary>Empties directory entry <paramref name="slot"/> in the running transaction (its tree, if any, is the caller's to free or to leave to a repair).</summary>
    private void ClearIndexEntry(int slot) =>
        WriteBytesInTransaction(IndexDirectory.EntryOffset(_domain.Read<long>(PoolLayout.IndexDirectoryOffset), slot), new byte[IndexDirectory.EntrySize]);

    /// <summary>
    /// Claims an entry (stale while it fills), adds every object in batches, and makes it live with the last batch:
    /// a crash before that leaves a stale entry for the next open to free.
    /// </summary>
    /// <exception cref="PersistentUniqueConstraintException">A unique index finds two objects with one value (the entry is freed).</exception>
    private void BuildIndex(uint typeIndex, PersistentPropertyInfo property)
    {
        var slot = ClaimIndexSlot(typeIndex, property, stale: true);
        var building = new LiveIndex(slot, property);
        var objects = new OffsetsOfType(this, typeIndex, _types.Get(typeIndex)!.Size).ToList();
        try
        {
            var batch = PerLogSlot(IndexBuildBatch);
            var next = 0;
            do
            {
                using var tx = BeginTransaction();
                EnterIndexLock();
                var end = Math.Min(objects.Count, next + batch);
                while (next < end && !LogNearsSlot())
                {
                    building.Tree(this).Add(objects[next++]);
                }

                if (next >= objects.Count)
                {
                    SetIndexFlags(slot, slot.Flags & ~IndexDirectory.StaleFlag, inTransaction: true);
                }

                tx.Commit();
            }
            while (next < objects.Count);
        }
        catch (PersistentUniqueConstraintException)
        {
            FreeStaleIndexes(); // the claimed entry is still stale: its last batch rolled back
            throw;
        }

        LoadIndexSlots();
    }

    /// <summary>
    /// A free directory entry, claimed for <paramref name="property"/> in a commit of its own (the directory made first
    /// if there is none): stale while a build fills it, or live at once for a type without objects.
    /// </summary>
    private IndexSlot ClaimIndexSlot(uint typeIndex, PersistentPropertyInfo property, bool stale)
    {
        var directory = _domain.Read<long>(PoolLayout.IndexDirectoryOffset);
        if (directory == 0)
        {
            directory = CreateIndexDirectory();
        }

        var used = _indexSlots.Select(s => s.Slot).ToHashSet();
        var free = Enumerable.Range(0, IndexDirectory.Capacity).FirstOrDefault(s => !used.Contains(s), -1);
        if (free < 0)
        {
            throw new InvalidOperationException($"{Path}: the pool holds {IndexDirectory.Capacity} indexes, as many as it can; remove [Indexed] from a property to index '{property.Name}'.");
        }

        var flags = (stale ? IndexDirectory.StaleFlag : 0) | (property.HasUniqueIndex ? IndexDirectory.UniqueFlag : 0) |
            (property.HasHashedIndex ? IndexDirectory.HashFlag : 0);
        var entry = IndexDirectory.EntryOffset(directory, free);
        var redo = RentRedo();
        redo.Set(entry + IndexDirectory.TypeIndexOffset, ((ulong)(uint)property.Offset << 32) | typeIndex);
        redo.Set(entry + IndexDirectory.FlagsOffset, (ulong)flags);
        if (property.HasHashedIndex)
        {
            LogFormatUpgrade(redo, PoolLayout.HashedIndexVersion);
        }

        CommitRedo(redo);
        FormatVersion = _domain.Read<uint>(PoolLayout.VersionOffset);
        LoadIndexSlots();
        return _indexSlots.First(s => s.Slot == free);
    }

    /// <summary>Allocates the directory and points the header to it in one commit, upgrading an older format.</summary>
    private long CreateIndexDirectory()
    {
        var redo = RentRedo();
        var block = ReserveZeroed(IndexDirectory.Size);
        _domain.Write(block.Offset, IndexDirectory.Magic);
        _domain.Write(block.Offset + IndexDirectory.CapacityOffset, IndexDirectory.Capacity);
        _domain.Flush(block.Offset, IndexDirectory.HeaderSize);
        _heap.LogAllocate(redo, block, TypeTable.IndexDirectoryTypeIndex);
        RequireDurable(redo, block.Offset, IndexDirectory.HeaderSize);
        redo.Set(PoolLayout.IndexDirectoryOffset, (ulong)block.Offset);
        LogFormatUpgrade(redo, PoolLayout.IndexVersion);
        CommitOrRelease(redo, block);
        FormatVersion = _domain.Read<uint>(PoolLayout.VersionOffset);
        return block.Offset;
    }

    private void SetIndexFlags(IndexSlot slot, uint flags, bool inTransaction)
    {
        var word = slot.TreeWord + IndexDirectory.FlagsOffset;
        if (inTransaction)
        {
            WriteBytesInTransaction(word, BitConverter.GetBytes((ulong)flags));
            return;
        }

        var redo = RentRedo();
        redo.Set(word, (ulong)flags);
        CommitRedo(redo);
        LoadIndexSlots();
    }
}
