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

/// <summary>
/// A set of block offsets kept as one bit per cache line of the pool, in segments of 1 MiB of pool made on first use:
/// marking a million reached blocks takes a few hundred KiB instead of a hash set's tens of MiB. Offsets no block
/// can start at (a damaged word's) are kept apart.
/// </summary>
internal sealed class BlockSet(long poolSize)
{
    private const int SegmentShift = 20;
    private const int LineShift = 6;
    private readonly ulong[]?[] _segments = new ulong[]?[(Math.Max(poolSize, 0) >> SegmentShift) + 1];
    private HashSet<long>? _others;

    /// <summary>Adds <paramref name="offset"/>; false when it was there already.</summary>
    public bool Add(long offset)
    {
        if (!IsLine(offset))
        {
            return (_others ??= []).Add(offset);
        }

        ref var word = ref Word(_segments[offset >> SegmentShift] ??= new ulong[1 << (SegmentShift - LineShift - 6)], offset, out var bit);
        if ((word & bit) != 0)
        {
            return false;
        }

        word |= bit;
        return true;
    }

    /// <summary>Whether <paramref name="offset"/> was added.</summary>
    public bool Contains(long offset) => IsLine(offset)
        ? _segments[offset >> SegmentShift] is { } segment && (Word(segment, offset, out var bit) & bit) != 0
        : _others?.Contains(offset) == true;

    private bool IsLine(long offset) => offset >= 0 && (offset & ((1 << LineShift) - 1)) == 0 && (offset >> SegmentShift) < _segments.Length;

    private static ref ulong Word(ulong[] segment, long offset, out ulong bit)
    {
        var line = (int)((offset & ((1L << SegmentShift) - 1)) >> LineShift);
        bit = 1UL << (line & 63);
        return ref segment[line >> 6];
    }
}

/// <summary>
/// What a collection property's schema says its block must be: the collection's type index and, for lists and
/// dictionaries, the kinds of its element (or key) and value slots (null: not checked).
/// </summary>
internal readonly record struct CollectionKind(uint TypeIndex, string Name, SlotKind? First, SlotKind? Second)
{
    /// <summary>The kind a schema's storage type (<c>list&lt;string&gt;</c>, <c>dictionary&lt;string,System.Int64&gt;</c>, <c>sorted&lt;…&gt;</c>, <c>set&lt;…&gt;</c>) names; null for another.</summary>
    public static CollectionKind? Of(string storageType)
    {
        var open = storageType.IndexOf('<');
        if (open < 0 || !storageType.EndsWith('>'))
        {
            return null;
        }

        var arguments = storageType[(open + 1)..^1].Split(',');
        return storageType[..open] switch
        {
            "list" => new(TypeTable.ListTypeIndex, "list", SlotOf(arguments[0]), null),
            "dictionary" when arguments.Length == 2 => new(TypeTable.DictionaryTypeIndex, "dictionary", SlotOf(arguments[0]), SlotOf(arguments[1])),
            "sorted" or "set" => new(TypeTable.SortedDictionaryTypeIndex, "sorted collection", null, null),
            _ => null,
        };
    }

    private static SlotKind SlotOf(string element) => element switch
    {
        "string" => SlotKind.String,
        "reference" => SlotKind.Reference,
        _ => SlotKind.Raw,
    };
}

/// <summary>The working state of <see cref="PersistentPool.CheckGraph"/>: bits and stacks, no map of every block.</summary>
/// <param name="poolSize">The pool's size (the sets' extent).</param>
/// <param name="found">Where problems are recorded for a repair (null for a plain check).</param>
/// <param name="ownersWanted">The owned blocks whose first owner a second walk looks for (see <see cref="SecondOwners"/>).</param>
internal sealed class GraphWalk(long poolSize, List<GraphProblem>? found, HashSet<long>? ownersWanted = null)
{
    /// <summary>The holder and slot a detached object is reached through: none (a repair has no slot to clear for it).</summary>
    public const long DetachedSlot = -1;

    /// <summary>Blocks reached so far.</summary>
    public BlockSet Reached { get; } = new(poolSize);

    /// <summary>Blocks reached through an owning slot: a second owning slot is a second owner.</summary>
    public BlockSet Owned { get; } = new(poolSize);

    /// <summary>
    /// Second owners found: the problem's index in <see cref="Errors"/>, the owned block, the second owner and what the
    /// block is. The first owner is not kept for every block; a second walk finds it for these alone.
    /// </summary>
    public List<(int Problem, long Target, long Owner, string Expected)> SecondOwners { get; } = [];

    /// <summary>In the second walk: each wanted block's first owner.</summary>
    public Dictionary<long, long> FirstOwners { get; } = [];

    /// <summary>Blocks to visit, with the slot that reached each and the block holding that slot.</summary>
    public Stack<(long Offset, long Slot, long Holder)> Pending { get; } = new();

    /// <summary>Each reached collection → the block and slot it was first reached through (kept only for a repair, which unlinks damaged ones).</summary>
    public Dictionary<long, (long Holder, long Slot)> Through { get; } = [];

    /// <summary>Allocated blocks visited by the current <c>Walk</c>.</summary>
    public long Visited { get; set; }

    /// <summary>Where the current <c>Walk</c> counts what it visits by type index (the detached part), or null.</summary>
    public Dictionary<uint, long>? VisitedByType { get; set; }

    /// <summary>Whether problems are recorded for a repair.</summary>
    public bool Found => found is not null;

    /// <summary>The check's messages.</summary>
    public List<string> Errors { get; } = [];

    /// <summary>Per stored type, its collection properties' expected kinds by field offset (from its schema), made on first use.</summary>
    public Dictionary<uint, Dictionary<int, CollectionKind>> CollectionKinds { get; } = [];

    /// <summary>Marks an owning edge to <paramref name="target"/>; false when the block had an owner already.</summary>
    public bool AddOwner(long target, long owner)
    {
        if (!Owned.Add(target))
        {
            return false;
        }

        if (ownersWanted?.Contains(target) == true)
        {
            FirstOwners[target] = owner;
        }

        return true;
    }

    public void Problem(GraphProblemKind kind, long holder, long slot, long target, bool owned, string message)
    {
        Errors.Add(message);
        found?.Add(new GraphProblem(kind, holder, slot, target, owned, message));
    }

    /// <summary>Replaces the message of the problem at <paramref name="index"/> (a second owner's, once its first owner is known).</summary>
    public void Reword(int index, string message)
    {
        Errors[index] = message;
        if (found is not null)
        {
            found[index] = found[index] with { Message = message };
        }
    }
}
