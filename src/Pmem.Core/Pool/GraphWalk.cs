// GraphWalk -- the state of one walk of the object graph by Check, and the problems it records for a repair.
namespace Pmem.Pool;

/// <summary>What kind of broken invariant a <see cref="GraphProblem"/> is.</summary>
internal enum GraphProblemKind
{
    /// <summary>A slot holds an offset that is not an allocated block of the kind it must be (dangling or mistyped).</summary>
    BadEdge,

    /// <summary>An owned block (string, collection, storage, node) reached a second time through an owning slot.</summary>
    SecondOwner,

    /// <summary>A collection whose header or storage cannot be trusted (or whose counts disagree with its storage).</summary>
    DamagedCollection,

    /// <summary>A block that cannot be read: a string longer than its block, a field past the pool's end.</summary>
    Unreadable,

    /// <summary>An index that disagrees with its objects (an entry for no such object or another value, or a count that differs).</summary>
    DamagedIndex,
}

/// <summary>One broken invariant: where it was found and through which slot.</summary>
/// <param name="Kind">What is wrong.</param>
/// <param name="Holder">The block holding <paramref name="Slot"/> (0: the header's root word).</param>
/// <param name="Slot">The word at fault: the edge's slot, or the slot through which the damaged block was reached.</param>
/// <param name="Target">The offset the slot holds.</param>
/// <param name="Owned">Whether the slot owns its target (a string, collection, storage or node) rather than referencing an object.</param>
/// <param name="Message">The check's description.</param>
internal readonly record struct GraphProblem(GraphProblemKind Kind, long Holder, long Slot, long Target, bool Owned, string Message);

/// <summary>An allocated block as the heap's scan saw it: what a check needs of its allocation header, read once.</summary>
/// <param name="Type">Its type index.</param>
/// <param name="Generation">Its generation (references to it must carry it, or 0).</param>
/// <param name="Size">Its capacity in bytes.</param>
internal readonly record struct AllocatedBlock(uint Type, ushort Generation, long Size);

/// <summary>The working state of <see cref="PersistentPool.CheckGraph"/>.</summary>
internal sealed class GraphWalk(Dictionary<long, AllocatedBlock> allocated, List<GraphProblem>? found)
{
    /// <summary>Every allocated block, by offset.</summary>
    public Dictionary<long, AllocatedBlock> Allocated { get; } = allocated;

    /// <summary>Blocks reached so far.</summary>
    public HashSet<long> Reached { get; } = new(allocated.Count);

    /// <summary>Owned block → its owner.</summary>
    public Dictionary<long, long> Owners { get; } = new(allocated.Count / 2);

    /// <summary>Blocks to visit, with the slot that reached each and the block holding that slot.</summary>
    public Stack<(long Offset, long Slot, long Holder)> Pending { get; } = new();

    /// <summary>Each reached block → the block and slot it was first reached through (kept only when problems are recorded, for a repair).</summary>
    public Dictionary<long, (long Holder, long Slot)> Through { get; } = [];

    /// <summary>The check's messages.</summary>
    public List<string> Errors { get; } = [];

    public void Problem(GraphProblemKind kind, long holder, long slot, long target, bool owned, string message)
    {
        Errors.Add(message);
        found?.Add(new GraphProblem(kind, holder, slot, target, owned, message));
    }
}
