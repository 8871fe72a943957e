// PersistentPool (repair) -- mending what Check finds, in transactions: null bad slots, drop or recount collections, free leaks.
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

/// <summary>One thing a repair did.</summary>
/// <param name="Kind">
/// <c>null-reference</c>, <c>null-string</c>, <c>null-element</c>, <c>remove-entry</c>, <c>drop-collection</c>,
/// <c>recount-collection</c>, <c>rebuild-dictionary</c>, <c>free-unreachable</c>, <c>free-unreadable</c>, <c>drop-index</c>,
/// <c>rebuild-index</c> or <c>index-not-rebuilt</c>.
/// </param>
/// <param name="Offset">The block changed or freed.</param>
/// <param name="Type">The durable name of that block's type.</param>
/// <param name="Description">What was done and why, in a sentence.</param>
internal readonly record struct RepairStep(string Kind, long Offset, string Type, string Description);

public sealed partial class PersistentPool
{
    /// <summary>Rounds of check-and-fix: each fix can only make more blocks unreachable, freed in the next round.</summary>
    private const int MaxRepairRounds = 8;

    /// <summary>Changes per repair transaction per 64 KiB of log slot (see <see cref="PerLogSlot"/>): a bounded log.</summary>
    private const int RepairBatch = 256;

    /// <summary>
    /// Repairs what <see cref="Check"/> reports, round by round until it is clean: a slot that leads to no block of its
    /// kind (dangling, mistyped, or a second owner) is nulled, a dictionary entry whose key is such a slot removed, a
    /// collection whose storage or header cannot be trusted dropped from its owner (its contents reported lost), one
    /// whose count disagrees with its storage recounted; then every block nothing finds is freed, each alone (what a
    /// damaged block claims to own is not followed). Objects of persistent classes the root does not reach are kept
    /// (<c>All&lt;T&gt;()</c> finds them) unless <paramref name="freeDetached"/>. Every change is made in transactions,
    /// after recovery: no committed transaction is lost. An index that disagrees with its objects is dropped and, once
    /// the rest is clean, built again from them.
    /// </summary>
    /// <returns>What was done, in order.</returns>
    /// <exception cref="PoolCorruptedException">A schema migration is in progress, or the check still fails after the last round.</exception>
    internal List<RepairStep> Repair(bool freeDetached)
    {
        ThrowIfDisposed();
        ThrowIfMigrationUnderWay("repairing");

        var steps = new List<RepairStep>();
        var dropped = new List<IndexSlot>();
        for (var round = 0; round < MaxRepairRounds; round++)
        {
            var problems = new List<GraphProblem>();
            var report = CheckGraph(problems, freeDetached, out var through);
            if (problems.Count > 0)
            {
                FixProblems(problems, through, dropped, steps);
            }
            else if (report.Unreachable.Count > 0)
            {
                FreeUnreachable(report.Unreachable, freeDetached, steps);
            }
            else
            {
                RebuildDroppedIndexes(dropped, steps);
                return steps;
            }
        }

        var left = CheckGraph(null, freeDetached, out _);
        if (left.IsClean)
        {
            RebuildDroppedIndexes(dropped, steps);
            return steps;
        }

        throw new PoolCorruptedException(Path, $"the repair could not make the pool check clean in {MaxRepairRounds} rounds (left: {(left.Errors.Count > 0 ? left.Errors[0] : $"{left.Unreachable.Count} unreachable blocks")})");
    }

    private void FixProblems(List<GraphProblem> problems, IReadOnlyDictionary<long, (long Holder, long Slot)> through, List<IndexSlot> dropped, List<RepairStep> steps)
    {
        var cleared = new HashSet<long>(); // slots this round changed: a second problem at one slot is moot
        var rebuilt = new HashSet<long>(); // dictionaries this round rebuilt (or left for the next): their other problems are moot
        var batch = PerLogSlot(RepairBatch);
        for (var start = 0; start < problems.Count; start += batch)
        {
            using var tx = BeginTransaction();
            foreach (var problem in problems.Skip(start).Take(batch))
            {
                if (IsIndexProblem(problem))
                {
                    DropIndex(problem, cleared, dropped, steps);
                    continue;
                }

                if (problem.Kind == GraphProblemKind.DamagedCollection && TryRecount(problem.Target, problems, steps))
                {
                    continue;
                }

                if (problem.Kind == GraphProblemKind.DamagedCollection && TryRebuildDictionary(problem.Target, problems, rebuilt, steps))
                {
                    continue;
                }

                if (problem.Kind == GraphProblemKind.DamagedCollection)
                {
                    var type = _types.NameOf(_heap.TryGetAllocated(problem.Target, out _, out var t) ? t : 0);
                    if (cleared.Add(problem.Slot))
                    {
                        Unlink(problem.Target, through, cleared, steps, $"the {type} at {problem.Target} is damaged ({problem.Message}); dropped from its owner, {Claimed(problem.Target)} lost");
                    }

                    continue;
                }

                ClearSlot(problem, through, cleared, steps);
            }

            tx.Commit();
        }

        LoadIndexSlots();
    }

    /// <summary>Whether a problem lies in an index (reached through the directory, or disagreeing with its objects).</summary>
    private bool IsIndexProblem(GraphProblem problem) =>
        problem.Kind == GraphProblemKind.DamagedIndex || (problem.Holder != 0 && problem.Holder == _domain.Read<long>(PoolLayout.IndexDirectoryOffset));

    /// <summary>Clears a damaged index's directory entry, noting what it indexed: its tree becomes unreachable (freed by the next round).</summary>
    private void DropIndex(GraphProblem problem, HashSet<long> cleared, List<IndexSlot> dropped, List<RepairStep> steps)
    {
        var directory = _domain.Read<long>(PoolLayout.IndexDirectoryOffset);
        var slot = (int)((problem.Slot - directory - IndexDirectory.HeaderSize) / IndexDirectory.EntrySize);
        var entry = IndexDirectory.EntryOffset(directory, slot);
        if (slot is < 0 or >= IndexDirectory.Capacity || !cleared.Add(entry))
        {
            return;
        }

        if (Array.Find(_indexSlots, s => s.Slot == slot) is { IsStale: false, TypeIndex: not 0 } definition)
        {
            dropped.Add(definition);
        }

        ClearIndexEntry(slot);
        steps.Add(new RepairStep("drop-index", directory, "(index directory)", $"index entry {slot} dropped ({problem.Message})"));
    }

    /// <summary>
    /// Builds the dropped indexes again over the repaired objects, so the pool leaves the repair with every index it had
    /// and its program's next open builds nothing. One that cannot be built (a unique index whose objects now repeat a
    /// value, or no room to grow) stays dropped, and the step says why.
    /// </summary>
    private void RebuildDroppedIndexes(List<IndexSlot> dropped, List<RepairStep> steps)
    {
        var directory = _domain.Read<long>(PoolLayout.IndexDirectoryOffset);
        foreach (var slot in dropped)
        {
            var kind = PersistentPropertyInfo.IndexKindOf(slot.IsUnique, slot.IsHashed);
            if (StoredIndexProperty(slot.TypeIndex, slot.PropertyOffset, kind) is not { } property)
            {
                continue; // the stored schema no longer has it: nothing to index
            }

            var name = $"the {(slot.IsUnique ? "unique " : "")}index of {_types.NameOf(slot.TypeIndex)}.{property.Name}";
            if (slot.IsUnique && FirstHeldTwice(slot.TypeIndex, property, out var holder, out var value) is var second and not 0)
            {
                steps.Add(new RepairStep("index-not-rebuilt", directory, "(index directory)",
                    $"{name} is not rebuilt: the objects at {holder} and {second} both hold {value}; a program declaring it unique cannot open the pool until one of them changes"));
                continue;
            }

            try
            {
                BuildIndexes([(slot.TypeIndex, slot.PropertyOffset, kind)]);
            }
            catch (PoolOutOfSpaceException e)
            {
                steps.Add(new RepairStep("index-not-rebuilt", directory, "(index directory)", $"{name} is not rebuilt ({e.Message}); the program builds it when it next opens the pool"));
                continue;
            }

            steps.Add(new RepairStep("rebuild-index", directory, "(index directory)", $"{name} rebuilt from its objects"));
        }
    }

    /// <summary>Makes a bad slot harmless, as its holder allows: null it, remove its dictionary entry, or drop its collection.</summary>
    private void ClearSlot(GraphProblem problem, IReadOnlyDictionary<long, (long Holder, long Slot)> through, HashSet<long> cleared, List<RepairStep> steps)
    {
        var (holder, slot) = (problem.Holder, problem.Slot);
        if (holder == GraphWalk.DetachedSlot && cleared.Add(problem.Target))
        {
            // An object only All<T>() finds, unreadable itself (a field past the pool's end): no slot leads to it.
            _heap.TryGetAllocated(problem.Target, out var block, out var unreadableType);
            TransactionCommit.FreeAlone(CurrentTransactionOrThrow(), problem.Target);
            var unreadable = _types.NameOf(unreadableType);
            steps.Add(new RepairStep("free-unreadable", problem.Target, unreadable, $"freed the {unreadable} at {problem.Target} ({block.Size} bytes), which the root does not reach and which cannot be read: {problem.Message}"));
            return;
        }

        if (holder == GraphWalk.DetachedSlot || !cleared.Add(slot))
        {
            return;
        }

        if (holder == 0)
        {
            WriteValue(slot, 0L);
            steps.Add(new RepairStep("null-reference", 0, "root", $"the root pointed to {problem.Target}: {problem.Message}; the pool now has no root"));
            return;
        }

        _heap.TryGetAllocated(holder, out _, out var type);
        var name = _types.NameOf(type);
        if (type is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex)
        {
            var storageSlot = holder + CollectionLayout.StorageOffset;
            if (slot == storageSlot || (type == TypeTable.SortedDictionaryTypeIndex && problem.Owned))
            {
                Unlink(holder, through, cleared, steps, $"the {name} at {holder} holds a bad block ({problem.Message}); dropped from its owner, {Claimed(holder)} lost");
            }
            else if (type == TypeTable.DictionaryTypeIndex && IsDictionaryKey(holder, slot, out var entry))
            {
                WriteBytesInTransaction(entry, new byte[(int)DictionaryEntrySize(holder)]);
                WriteValue(entry, 1UL); // removed: probing goes on past it
                WriteValue(holder + CollectionLayout.CountOffset, ReadValue<long>(holder + CollectionLayout.CountOffset) - 1);
                steps.Add(new RepairStep("remove-entry", holder, name, $"the {name} at {holder}: removed the entry whose key was bad ({problem.Message})"));
            }
            else
            {
                WriteValue(slot, 0L);
                steps.Add(new RepairStep("null-element", holder, name, $"the {name} at {holder}: the element at {slot} set to null ({problem.Message})"));
            }

            return;
        }

        var field = _types.Get(type)?.Fields.FirstOrDefault(f => holder + f.Offset == slot);
        WriteValue(slot, 0L);
        var (kind, what) = field?.Kind switch
        {
            PersistentFieldKind.String => ("null-string", "string"),
            PersistentFieldKind.Collection => ("drop-collection", "collection"),
            _ => ("null-reference", "reference"),
        };
        steps.Add(new RepairStep(kind, holder, name, $"the {name} at {holder}: its {what} at +{slot - holder} set to null ({problem.Message})"));
    }

    /// <summary>Drops a collection from the object that owns it (the field reads as a new empty collection); its blocks become unreachable.</summary>
    private void Unlink(long header, IReadOnlyDictionary<long, (long Holder, long Slot)> through, HashSet<long> cleared, List<RepairStep> steps, string description)
    {
        if (!through.TryGetValue(header, out var owner))
        {
            return;
        }

        cleared.Add(owner.Slot);
        WriteValue(owner.Slot, 0L);
        _heap.TryGetAllocated(header, out _, out var type);
        steps.Add(new RepairStep("drop-collection", header, _types.NameOf(type), description));
    }

    /// <summary>
    /// Rebuilds a dictionary whose table holds its entries but whose capacity, counts or stored hashes are wrong (see
    /// <see cref="DictionaryTables.TryRebuild"/>): every entry kept. While other problems lie inside it (bad keys or
    /// values, fixed at their slots this round), it waits for the next round rather than move entries under them.
    /// False when it cannot be rebuilt (then it is recounted or dropped as before).
    /// </summary>
    private bool TryRebuildDictionary(long header, List<GraphProblem> problems, HashSet<long> rebuilt, List<RepairStep> steps)
    {
        if (rebuilt.Contains(header))
        {
            return true;
        }

        if (!_heap.TryGetAllocated(header, out _, out var type) || type != TypeTable.DictionaryTypeIndex)
        {
            return false;
        }

        var storage = ReadValue<long>(header + CollectionLayout.StorageOffset);
        if (problems.Any(p => p.Kind != GraphProblemKind.DamagedCollection && (p.Holder == header || (storage != 0 && p.Target == storage))))
        {
            if (problems.Any(p => p.Target == storage && p.Kind == GraphProblemKind.SecondOwner))
            {
                return false; // storage another collection holds too: not this dictionary's to rewrite
            }

            rebuilt.Add(header);
            return true;
        }

        if (!DictionaryTables.TryRebuild(this, header, out var description))
        {
            return false;
        }

        rebuilt.Add(header);
        steps.Add(new RepairStep("rebuild-dictionary", header, _types.NameOf(type), description));
        return true;
    }

    /// <summary>Sets a collection's counts from its storage when they are all that is wrong; false when more is.</summary>
    private bool TryRecount(long header, List<GraphProblem> problems, List<RepairStep> steps)
    {
        if (problems.Count(p => p.Target == header && p.Kind == GraphProblemKind.DamagedCollection) != 1 ||
            !_heap.TryGetAllocated(header, out _, out var type))
        {
            return false;
        }

        var count = ReadValue<long>(header + CollectionLayout.CountOffset);
        if (type == TypeTable.DictionaryTypeIndex && CollectionLayout.LiveEntries(this, header, out var used) is var live and >= 0 && live != count)
        {
            WriteValue(header + CollectionLayout.CountOffset, live);
            WriteValue(header + CollectionLayout.UsedOffset, used);
            steps.Add(new RepairStep("recount-collection", header, _types.NameOf(type), $"the dictionary at {header} counted {count} entries; its table holds {live}: count set to {live}"));
            return true;
        }

        if (type == TypeTable.SortedDictionaryTypeIndex && SortedLayout.Problem(this, header) is null)
        {
            var damage = new List<string>();
            var nodes = SortedLayout.Children(this, header, damage).Where(c => _heap.TryGetAllocated(c.Offset, out _, out var t) && t == TypeTable.SortedNodeTypeIndex).Select(c => c.Offset).ToList();
            if (damage.Count != 1 || !damage[0].StartsWith($"the sorted dictionary at {header} counts", StringComparison.Ordinal))
            {
                return false; // more than the totals is wrong
            }

            long entries = nodes.Where(n => ReadValue<int>(n + SortedLayout.NodeLevelOffset) == 0).Sum(n => (long)ReadValue<int>(n + SortedLayout.NodeEntryCountOffset));
            WriteValue(header + CollectionLayout.CountOffset, entries);
            WriteValue(header + SortedLayout.NodeCountOffset, (long)nodes.Count);
            steps.Add(new RepairStep("recount-collection", header, _types.NameOf(type), $"the sorted dictionary at {header} counted {count} entries; its tree holds {entries} in {nodes.Count} nodes: counts set"));
            return true;
        }

        return false;
    }

    /// <summary>
    /// Frees every unreachable block alone (each is in the list itself; what a damaged one claims to own is not
    /// followed). Objects go first, each with its index entries in the same transaction: removing an entry reads the
    /// object's indexed string, which must not have been freed by an earlier batch.
    /// </summary>
    private void FreeUnreachable(IReadOnlyList<long> blocks, bool freeDetached, List<RepairStep> steps)
    {
        var unreachable = blocks.OrderBy(offset => TypeAt(offset) < TypeTable.FirstUserTypeIndex).ToList(); // stable: objects first, each kind in offset order
        var batch = PerLogSlot(RepairBatch);
        for (var start = 0; start < unreachable.Count; start += batch)
        {
            using var tx = BeginTransaction();
            foreach (var offset in unreachable.Skip(start).Take(batch))
            {
                _heap.TryGetAllocated(offset, out var block, out var type);
                RemoveFromIndexes(offset); // in the same transaction: an interrupted repair leaves no entry for a freed object
                TransactionCommit.FreeAlone(CurrentTransactionOrThrow(), offset);
                var name = _types.NameOf(type);
                var why = freeDetached ? "the root does not reach it" : "nothing holds it: not the root, an index, nor an object of a persistent class";
                steps.Add(new RepairStep("free-unreachable", offset, name, $"freed the {name} at {offset} ({block.Size} bytes): {why}"));
            }

            tx.Commit();
        }
    }

    private string Claimed(long header) => $"{ReadValue<long>(header + CollectionLayout.CountOffset)} element(s) it claimed";

    private bool IsDictionaryKey(long header, long slot, out long entry)
    {
        var storage = ReadValue<long>(header + CollectionLayout.StorageOffset);
        var size = DictionaryEntrySize(header);
        entry = storage + (slot - storage) / size * size;
        return slot == entry + CollectionLayout.EntryHashSize;
    }

    private long DictionaryEntrySize(long header) =>
        CollectionLayout.EntryHashSize + (long)ReadValue<int>(header + CollectionLayout.KeySizeOffset) + ReadValue<int>(header + CollectionLayout.ValueSizeOffset);
}
