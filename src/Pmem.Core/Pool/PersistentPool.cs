// PersistentPool -- the pool facade: its state and properties; each subject is a partial file beside this one.
using Pmem.Heap;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Transactions;

namespace Pmem.Pool;

/// <summary>
/// A pool of persistent objects in one file (or one persistence domain): a checksummed header, a typed root object,
/// a crash-safe allocator, transactions and batches. Open it once per process; a second opener is refused.
/// </summary>
/// <remarks>
/// Writes through generated properties follow these rules: inside a transaction on this thread they join it; inside a
/// batch each is flushed and one drain ends the batch; otherwise each write is durable and failure-atomic when it
/// returns (values of at most 8 bytes in one aligned word by a single store and persist, wider values through a
/// one-entry redo log).
/// <para>The pool is libpmemobj's obj.c: a facade over the layers below it (see <c>docs/architecture.md</c>), split into
/// partial files by subject: <c>Lifecycle</c> (create, open, close), <c>Files</c>, <c>Recovery</c>, <c>Fields</c>
/// (the surface generated code calls), <c>Strings</c>, <c>Objects</c> (New, Delete, Root), <c>Allocation</c>,
/// <c>Transactions</c>, <c>Collections</c>, <c>Queries</c> (<c>All&lt;T&gt;</c>), <c>Growth</c>, <c>Checks</c>, and <c>Context</c> (what the heap and the
/// transaction layer get from it).</para>
/// </remarks>
public sealed partial class PersistentPool : IDisposable
{
    private readonly PersistenceDomain _domain;
    private readonly PoolHeap _heap;
    private readonly TypeTable _types;
    private readonly LaneSet _lanes;
    private readonly Lock _rootLock = new();
    private readonly long _maxSize;
    private CommitPipeline _commits = null!; // made by Recover
    private bool _disposed;
    private int _closing; // 1 once Dispose started: two threads disposing at once close it once

    [ThreadStatic]
    private static AllocationCache? t_allocationCache;

    private PersistentPool(PersistenceDomain domain, string path, string layout, long maxSize)
    {
        _domain = domain;
        Path = path;
        Layout = layout;
        _lanes = PoolLayout.LanesOf(domain.GetSpan(0, PoolLayout.HeaderSize)); // a replayed log never moves a pool across version 9
        _types = new TypeTable(domain, path);
        _heap = new PoolHeap(domain, path, domain.Read<long>(PoolLayout.HeapOffsetOffset), domain.Read<long>(PoolLayout.PoolSizeOffset), this);
        _maxSize = Math.Max(maxSize, domain.Read<long>(PoolLayout.PoolSizeOffset));
        Durability = (DurabilityMode)domain.Read<int>(PoolLayout.DurabilityOffset);
        Uuid = new Guid(domain.GetSpan(PoolLayout.UuidOffset, 16));
        FormatVersion = domain.Read<uint>(PoolLayout.VersionOffset);
        _logsMayBeSealed = FormatVersion >= PoolLayout.SealedLogsVersion && Durability == DurabilityMode.ProcessCrash;
    }

    /// <summary>The pool file's format version (new pools get the newest; older ones keep theirs).</summary>
    public uint FormatVersion
    {
        get;
        private set
        {
            field = value;
            _heap.StampsGenerations = value >= PoolLayout.GenerationsVersion;
            _heap.ClassCount = ClassCountOf(value);
        }
    }

    /// <summary>The size classes a pool of format <paramref name="formatVersion"/> knows.</summary>
    internal static int ClassCountOf(uint formatVersion) =>
        formatVersion >= PoolLayout.MidSizeRunsVersion ? SizeClasses.Count : SizeClasses.LegacyCount;

    // A process-crash pool of version 3 or later may hold sealed logs (RedoLog.WriteLog); the commit pipeline writes
    // them only when the domain keeps the process's stores in order, as a ProcessCrashDomain's shared mapping does.
    private readonly bool _logsMayBeSealed;

    /// <summary>The pool file's path (or a description of the domain it lives in).</summary>
    public string Path { get; }

    /// <summary>The layout name the pool was created with.</summary>
    public string Layout { get; }

    /// <summary>The pool's unique identity, set at creation.</summary>
    public Guid Uuid { get; }

    /// <summary>What the pool's writes survive.</summary>
    public DurabilityMode Durability { get; }

    /// <summary>The pool's current size in bytes.</summary>
    public long Size => _domain.Read<long>(PoolLayout.PoolSizeOffset);

    /// <summary>
    /// The persistence domain the pool lives in, for this assembly's tests and benchmarks: a store through it bypasses
    /// the log. Tools use <see cref="Inspect"/>.
    /// </summary>
    internal PersistenceDomain Domain => _domain;

    /// <summary>
    /// How many committed logs recovery replayed when the pool was opened: commits a crash may have interrupted
    /// before they were applied or retired (0 after a clean close).
    /// </summary>
    public int RecoveredTransactions { get; private set; }

    /// <summary>The smallest size a pool may be created with, for the default lane configuration.</summary>
    public static long MinimumSize => PoolLayout.MinimumPoolSize(PoolLayout.DefaultLaneCount, PoolLayout.DefaultLaneSize);
}
