// PersistentPool (checks) -- statistics and the consistency check of the object graph, pmempool check's job.
using System.Diagnostics;
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
public sealed record PoolStatistics(long PoolSize, long HeapSize, long AllocatedBytes, long FreeChunkBytes, long ObjectCount, IReadOnlyDictionary<string, long> ObjectsPerType)
{
    /// <summary>The sizes, and the objects per type by name.</summary>
    public override string ToString() =>
        $"{ObjectCount} objects in {AllocatedBytes} of {HeapSize} heap bytes (pool {PoolSize}, {FreeChunkBytes} in free chunks): " +
        string.Join(", ", ObjectsPerType.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key} {pair.Value}"));
}

/// <summary>What <see cref="PersistentPool.Check"/> found.</summary>
/// <param name="ReachableObjects">Blocks reachable from the root through references, strings and collections (with the indexes and stored schemas).</param>
/// <param name="AllocatedObjects">Every allocated block.</param>
/// <param name="Unreachable">
/// Offsets of allocated blocks nothing finds: not the root, not an index, and no object of a persistent class holds
/// them (a string, collection or storage block left behind: a leak). Objects of persistent classes are never here:
/// <c>All&lt;T&gt;()</c> finds them (see <paramref name="Detached"/>).
/// </param>
/// <param name="Errors">Broken invariants: dangling or mistyped references, strings that do not fit their block.</param>
/// <param name="Detached">
/// Live blocks outside the root's graph, counted by durable type name: objects of persistent classes the root does not
/// reach (<c>All&lt;T&gt;()</c> and indexes find them) and the strings, collections and objects they hold. Not a
/// problem, and checked like the rest; in a program that finds its objects only from the root they are objects it
/// lost track of.
/// </param>
public sealed record PoolCheckReport(long ReachableObjects, long AllocatedObjects, IReadOnlyList<long> Unreachable, IReadOnlyList<string> Errors, IReadOnlyDictionary<string, long> Detached)
{
    /// <summary>True when there are no errors.</summary>
    public bool IsConsistent => Errors.Count == 0;

    /// <summary>True when there are no errors and no unreachable blocks (detached objects are not a problem).</summary>
    public bool IsClean => IsConsistent && Unreachable.Count == 0;

    /// <summary>How many blocks are detached (the sum of <see cref="Detached"/>).</summary>
    public long DetachedObjects => Detached.Values.Sum();

    /// <summary>The counts, and the first error.</summary>
    public override string ToString() =>
        $"{AllocatedObjects} allocated: {ReachableObjects} reachable from the root, {DetachedObjects} detached, {Unreachable.Count} unreachable; " +
        (Errors.Count == 0 ? "no errors" : $"{Errors.Count} error(s), the first: {Errors[0]}");
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
    /// Checks the object graph like <c>pmempool check</c> should: every reference resolves to an allocated object of a
    /// fitting type, every string fits its block, every collection header is possible, every owned block (a string, a
    /// collection, a collection's storage) has exactly one owner, every index agrees with its objects; and lists the
    /// allocated blocks nothing finds. The graph is walked from the root, then from every object of a persistent class
    /// the root does not reach (<see cref="PoolCheckReport.Detached"/>): those are live, <c>All&lt;T&gt;()</c> finds them.
    /// Never throws on a damaged pool: what it cannot read is reported. Other threads may go on using the pool: their
    /// writes are held back while the check walks (commits wait for it, writes outside transactions too; reads and
    /// work inside open transactions go on), as <see cref="Backup"/> holds them for its second pass, so the check sees
    /// every transaction whole or not at all. On a large pool that pause lasts the whole check
    /// (<c>bench/RESULTS.md</c>); to check without pausing writers, check a <see cref="Backup"/> opened read-only.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool is closed (before or during the check).</exception>
    public PoolCheckReport Check()
    {
        ThrowIfDisposed();
        PoolCheckReport report;
        if (IsReadOnly)
        {
            report = CheckGraph(null, fromRootOnly: false, out _);
        }
        else
        {
            lock (_backupLock) // one holder of the writes at a time
            {
                LetWritersCatchUp();
                var held = Stopwatch.GetTimestamp();
                // A type's first use commits its schema record, then reads the type table again: between the two, the
                // record is allocated and no entry the check knows owns it. Taken before the hold, as the type's commit does.
                lock (_types.AddLock)
                using (_commits.HoldWrites())
                {
                    report = CheckGraph(null, fromRootOnly: false, out _);
                }

                _lastCheckEnded = Stopwatch.GetTimestamp();
                _lastCheckHeld = Stopwatch.GetElapsedTime(held, _lastCheckEnded);
            }
        }

        _domain.ThrowIfDisposedAfterAccess(); // problems read from a pool closed meanwhile are not the pool's
        return report;
    }

    private long _lastCheckEnded; // under _backupLock
    private TimeSpan _lastCheckHeld;

    /// <summary>
    /// Checks back to back would hold writes back nearly all the time (a woken writer takes longer to run than the
    /// next check to begin): a check starts no sooner after the last one ended than that one held writes.
    /// </summary>
    private void LetWritersCatchUp()
    {
        var wait = _lastCheckHeld - Stopwatch.GetElapsedTime(_lastCheckEnded);
        if (_lastCheckEnded != 0 && wait > TimeSpan.Zero)
        {
            Thread.Sleep(TimeSpan.FromMilliseconds(Math.Ceiling(wait.TotalMilliseconds)));
        }
    }

    /// <summary>
    /// The check, also recording each problem with the block and the slot it was found through (for repairs).
    /// <paramref name="fromRootOnly"/>: objects the root does not reach are not walked, and are unreachable. It keeps
    /// bits per cache line of the pool and asks the heap about each block it meets, not a map of every block.
    /// </summary>
    internal PoolCheckReport CheckGraph(List<GraphProblem>? found, bool fromRootOnly, out IReadOnlyDictionary<long, (long Holder, long Slot)> through)
    {
        var walk = new GraphWalk(Size, found);
        var (reachedAllocated, detached) = Traverse(walk, fromRootOnly);
        if (walk.SecondOwners.Count > 0)
        {
            NameFirstOwners(walk, fromRootOnly);
        }

        CheckIndexes(walk);
        var unreachable = new List<long>();
        var allocated = 0L;
        _heap.ForEachAllocated((block, _) =>
        {
            allocated++;
            if (!walk.Reached.Contains(block.Offset))
            {
                unreachable.Add(block.Offset); // in offset order: the heap is scanned in order
            }
        });

        through = walk.Through;
        return new PoolCheckReport(reachedAllocated, allocated, unreachable, walk.Errors, DetachedByName(detached));
    }

    /// <summary>Counts by durable name: a class mid-way through a migration has two layouts of one name.</summary>
    private Dictionary<string, long> DetachedByName(Dictionary<uint, long> detached)
    {
        var byName = new Dictionary<string, long>();
        foreach (var (type, count) in detached)
        {
            var name = _types.NameOf(type);
            byName[name] = byName.GetValueOrDefault(name) + count;
        }

        return byName;
    }

    /// <summary>Walks from the root, the index directory and the schema records, then (unless <paramref name="fromRootOnly"/>) from each detached object.</summary>
    /// <returns>The allocated blocks the root reaches, and those first reached from detached objects, by type.</returns>
    private (long Reached, Dictionary<uint, long> Detached) Traverse(GraphWalk walk, bool fromRootOnly)
    {
        var root = _domain.Read<long>(PoolLayout.RootOffsetOffset);
        if (root != 0)
        {
            walk.Pending.Push((root, PoolLayout.RootOffsetOffset, 0));
        }

        if (_domain.Read<long>(PoolLayout.IndexDirectoryOffset) is var directory and not 0)
        {
            walk.Pending.Push((directory, PoolLayout.IndexDirectoryOffset, 0)); // the header owns the directory, the directory its trees
        }

        var reached = Walk(walk, null);
        foreach (var stored in _types.Types)
        {
            // The type table owns the schema records (checked at open); the object graph does not reach them.
            if (stored.SchemaOffset != 0 && walk.Reached.Add(stored.SchemaOffset) && _heap.TryGetAllocatedHeader(stored.SchemaOffset, out _))
            {
                reached++;
            }
        }

        var detached = new Dictionary<uint, long>();
        if (!fromRootOnly)
        {
            _heap.ForEachAllocated((block, type) =>
            {
                if (type >= TypeTable.FirstUserTypeIndex && _types.Get(type) is not null && !walk.Reached.Contains(block.Offset))
                {
                    walk.Pending.Push((block.Offset, GraphWalk.DetachedSlot, GraphWalk.DetachedSlot));
                    Walk(walk, detached);
                }
            });
        }

        return (reached, detached);
    }

    /// <summary>
    /// Names the first owner in each second-owner problem: a second walk, in the same order, notes the first owner of
    /// those blocks alone (a damaged pool pays for it; a sound one keeps no owner map).
    /// </summary>
    private void NameFirstOwners(GraphWalk walk, bool fromRootOnly)
    {
        var again = new GraphWalk(Size, null, [.. walk.SecondOwners.Select(second => second.Target)]);
        Traverse(again, fromRootOnly);
        foreach (var (problem, target, owner, expected) in walk.SecondOwners)
        {
            if (again.FirstOwners.TryGetValue(target, out var first))
            {
                walk.Reword(problem, $"the {expected} at {target} has two owners: the {_types.NameOf(TypeAt(first))} at {first} and the {_types.NameOf(TypeAt(owner))} at {owner}");
            }
        }
    }

    /// <summary>The allocated block at <paramref name="offset"/>, as the heap holds it now.</summary>
    private bool TryGetAllocatedBlock(long offset, out AllocatedBlock block)
    {
        if (!_heap.TryGetAllocated(offset, out var reservation, out var type))
        {
            block = default;
            return false;
        }

        block = new AllocatedBlock(type, reservation.Generation, reservation.Size);
        return true;
    }

    /// <summary>The type index of the allocated block at <paramref name="offset"/>; 0 for none.</summary>
    private uint TypeAt(long offset) => _heap.TryGetAllocatedHeader(offset, out var header) ? BlockGeneration.TypeOf(header) : 0;

    /// <summary>Visits every block the pending ones lead to; counts the allocated blocks reached (by type, when <paramref name="byType"/> is given).</summary>
    private long Walk(GraphWalk walk, Dictionary<uint, long>? byType)
    {
        (walk.Visited, walk.VisitedByType) = (0, byType);
        while (walk.Pending.Count > 0)
        {
            var (offset, slot, holder) = walk.Pending.Pop();
            Visit(offset, slot, holder, walk);
        }

        return walk.Visited;
    }

    /// <summary>Checks a block reached through <paramref name="slot"/> of <paramref name="holder"/> the first time it is reached, and queues what it leads to.</summary>
    private void Visit(long offset, long slot, long holder, GraphWalk walk)
    {
        if (!walk.Reached.Add(offset))
        {
            return;
        }

        if (!TryGetAllocatedBlock(offset, out var block))
        {
            walk.Problem(GraphProblemKind.BadEdge, holder, slot, offset, false, $"offset {offset} is referenced but not allocated");
            return;
        }

        if (walk.Found && block.Type is TypeTable.ListTypeIndex or TypeTable.DictionaryTypeIndex or TypeTable.SortedDictionaryTypeIndex)
        {
            walk.Through[offset] = (holder, slot); // a repair unlinks a damaged collection from its owner through it
        }

        walk.Visited++;
        if (walk.VisitedByType is { } byType)
        {
            byType[block.Type] = byType.GetValueOrDefault(block.Type) + 1;
        }

        try
        {
            CheckBlock(offset, block, holder, slot, walk);
        }
        catch (PoolException e)
        {
            walk.Problem(GraphProblemKind.Unreadable, holder, slot, offset, false, $"the block at {offset} cannot be read: {e.Message}");
        }
    }

    /// <summary>The types recorded in the pool, as the type table holds them (tests; the public view is <see cref="Inspect"/>).</summary>
    internal IReadOnlyList<StoredType> StoredTypes => _types.Types;
}
