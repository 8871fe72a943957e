using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Text;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

/// <summary>Options for creating a pool.</summary>
public sealed record PoolCreateOptions
{
    /// <summary>What the pool's writes survive; see <see cref="DurabilityMode"/>.</summary>
    public DurabilityMode Durability { get; init; } = DurabilityMode.PowerFailure;

    /// <summary>Number of lanes (commits that may run at once).</summary>
    public int LaneCount { get; init; } = PoolLayout.DefaultLaneCount;

    /// <summary>Bytes of redo log per lane, in three slots; a third of it bounds the log of one transaction.</summary>
    public int LaneSize { get; init; } = PoolLayout.DefaultLaneSize;

    /// <summary>Largest size the pool may grow to by itself when full (0 = never grows by itself).</summary>
    public long MaxSize { get; init; }
}

/// <summary>
/// A pool of persistent objects in one file (or one persistence domain): a checksummed header, a typed root object,
/// a crash-safe allocator, transactions and batches. Open it once per process; a second opener is refused.
/// </summary>
/// <remarks>
/// Writes through generated properties follow these rules: inside a transaction on this thread they join it; inside a
/// batch each is flushed and one drain ends the batch; otherwise each write is durable and failure-atomic when it
/// returns (values of at most 8 bytes in one aligned word by a single store and persist, wider values through a
/// one-entry redo log).
/// </remarks>
public sealed partial class PersistentPool : IDisposable
{
    private readonly PersistenceDomain _domain;
    private readonly Heap _heap;
    private readonly TypeTable _types;
    private readonly LaneSet _lanes;
    private readonly Lock _rootLock = new();
    private readonly Lock _growLock = new();
    private readonly long _maxSize;
    private readonly IDisposable? _ownedResource;
    private readonly Func<long, bool> _grow;
    private CommitPipeline _commits = null!; // made by Recover
    private bool _disposed;

    [ThreadStatic]
    private static AllocationCache? t_allocationCache;

    private PersistentPool(PersistenceDomain domain, string path, string layout, IDisposable? ownedResource, long maxSize)
    {
        _domain = domain;
        Path = path;
        Layout = layout;
        _ownedResource = ownedResource;
        _grow = GrowBy;
        var laneCount = domain.Read<int>(PoolLayout.LaneCountOffset);
        var laneSize = domain.Read<int>(PoolLayout.LaneSizeOffset);
        _lanes = new LaneSet(PoolLayout.LanesOffset, laneCount, laneSize);
        _types = new TypeTable(domain, path);
        _heap = new Heap(domain, path, domain.Read<long>(PoolLayout.HeapOffsetOffset), domain.Read<long>(PoolLayout.PoolSizeOffset), () => _commits.RetireAll(), sequence => _commits.RetireThrough(sequence));
        _maxSize = Math.Max(maxSize, domain.Read<long>(PoolLayout.PoolSizeOffset));
        Durability = (DurabilityMode)domain.Read<int>(PoolLayout.DurabilityOffset);
        Uuid = new Guid(domain.GetSpan(PoolLayout.UuidOffset, 16));
        FormatVersion = domain.Read<uint>(PoolLayout.VersionOffset);
        _logsMayBeSealed = FormatVersion >= PoolLayout.SealedLogsVersion && Durability == DurabilityMode.ProcessCrash;
    }

    /// <summary>The pool file's format version (new pools get the newest; older ones keep theirs).</summary>
    public uint FormatVersion { get; }

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

    /// <summary>The persistence domain the pool lives in (for tests and tools).</summary>
    public PersistenceDomain Domain => _domain;

    /// <summary>
    /// How many committed logs recovery replayed when the pool was opened: commits a crash may have interrupted
    /// before they were applied or retired (0 after a clean close).
    /// </summary>
    public int RecoveredTransactions { get; private set; }

    /// <summary>The smallest size a pool may be created with, for the default lane configuration.</summary>
    public static long MinimumSize => PoolLayout.MinimumPoolSize(PoolLayout.DefaultLaneCount, PoolLayout.DefaultLaneSize);

    /// <summary>
    /// Formats a new pool in <paramref name="domain"/> (which the pool then owns) and opens it.
    /// </summary>
    /// <param name="domain">Zero-filled memory, e.g. a new file's mapping or a simulated domain.</param>
    /// <param name="layout">The layout name a later open must give (1–255 UTF-8 bytes).</param>
    /// <param name="options">Lanes, durability and growth.</param>
    /// <param name="description">Names the pool in exceptions (a file path, say).</param>
    /// <exception cref="ArgumentException">The layout name is empty or too long, or the domain is too small.</exception>
    public static PersistentPool Create(PersistenceDomain domain, string layout, PoolCreateOptions? options = null, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(domain);
        options ??= new PoolCreateOptions();
        var path = description ?? $"<{domain.GetType().Name}>";
        var layoutBytes = ValidateLayoutName(layout);
        if (options.LaneCount is < 1 or > 1024 || options.LaneSize < 4096 || options.LaneSize % 4096 != 0)
        {
            throw new ArgumentException($"{path}: lane count must be 1–1024 and lane size a positive multiple of 4096.", nameof(options));
        }

        var heapStart = PoolLayout.HeapStart(options.LaneCount, options.LaneSize);
        var chunks = (domain.Length - heapStart) / PoolLayout.ChunkSize;
        if (chunks < 4)
        {
            throw new ArgumentException($"{path}: a pool needs at least {PoolLayout.MinimumPoolSize(options.LaneCount, options.LaneSize)} bytes, the domain has {domain.Length}.", nameof(domain));
        }

        var poolSize = heapStart + chunks * PoolLayout.ChunkSize;

        // Everything but the magic first, drained; the magic last, so a crash mid-create leaves no valid pool.
        domain.Fill(0, 0, heapStart, PmemCopyFlags.NoDrain);
        domain.Write(PoolLayout.VersionOffset, PoolLayout.FormatVersion);
        domain.Write(PoolLayout.HeaderSizeOffset, (uint)PoolLayout.HeaderSize);
        Guid.NewGuid().TryWriteBytes(domain.GetSpan(PoolLayout.UuidOffset, 16));
        domain.Write(PoolLayout.CreatedOffset, DateTime.UtcNow.Ticks);
        domain.Write(PoolLayout.DurabilityOffset, (int)options.Durability);
        domain.Write(PoolLayout.LaneCountOffset, options.LaneCount);
        domain.Write(PoolLayout.LaneSizeOffset, options.LaneSize);
        domain.Write(PoolLayout.HeapOffsetOffset, heapStart);
        layoutBytes.CopyTo(domain.GetSpan(PoolLayout.LayoutNameOffset, PoolLayout.LayoutNameCapacity));
        domain.Write(PoolLayout.PoolSizeOffset, poolSize);
        domain.Write(PoolLayout.HeaderChecksumOffset, HeaderChecksum(domain, PoolLayout.Magic));
        domain.NotifyStore(0, PoolLayout.HeaderSize);
        domain.Flush(0, PoolLayout.HeaderSize);
        Heap.Format(domain, heapStart, poolSize);
        domain.Drain();
        domain.WriteDurable(PoolLayout.MagicOffset, PoolLayout.Magic);

        return Open(domain, layout, options.MaxSize, description);
    }

    /// <summary>Opens the pool in <paramref name="domain"/> (which the pool then owns), running recovery.</summary>
    /// <exception cref="PoolCorruptedException">Not a pool, truncated, or corrupted header, type table, logs or heap.</exception>
    /// <exception cref="PoolLayoutMismatchException">The pool has another layout name.</exception>
    /// <exception cref="PoolVersionException">The pool has a newer format version.</exception>
    public static PersistentPool Open(PersistenceDomain domain, string layout, long maxSize = 0, string? description = null) =>
        Open(domain, layout, maxSize, description, ownedResource: null);

    internal static PersistentPool Open(PersistenceDomain domain, string layout, long maxSize, string? description, IDisposable? ownedResource)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var path = description ?? $"<{domain.GetType().Name}>";
        ValidateLayoutName(layout);
        ValidateHeader(domain, path, layout);
        var pool = new PersistentPool(domain, path, layout, ownedResource, maxSize);
        pool.Recover();
        return pool;
    }

    private static byte[] ValidateLayoutName(string layout)
    {
        ArgumentException.ThrowIfNullOrEmpty(layout);
        var bytes = Encoding.UTF8.GetBytes(layout);
        if (bytes.Length >= PoolLayout.LayoutNameCapacity || bytes.Contains((byte)0))
        {
            throw new ArgumentException($"A layout name is 1–{PoolLayout.LayoutNameCapacity - 1} UTF-8 bytes without NUL; '{layout}' is {bytes.Length}.", nameof(layout));
        }

        return bytes;
    }

    /// <summary>Checks everything about the header without writing anything.</summary>
    private static void ValidateHeader(PersistenceDomain domain, string path, string layout)
    {
        if (domain.Length < PoolLayout.HeaderSize)
        {
            throw new PoolCorruptedException(path, $"not a pool: {domain.Length} bytes is shorter than a pool header");
        }

        if (domain.Read<ulong>(PoolLayout.MagicOffset) != PoolLayout.Magic)
        {
            throw new PoolCorruptedException(path, "not a pool (no pool signature at the start of the file)");
        }

        var version = domain.Read<uint>(PoolLayout.VersionOffset);
        if (version is < PoolLayout.OldestReadableVersion or > PoolLayout.FormatVersion)
        {
            throw new PoolVersionException(path, version, PoolLayout.OldestReadableVersion, PoolLayout.FormatVersion);
        }

        if (domain.Read<ulong>(PoolLayout.HeaderChecksumOffset) != HeaderChecksum(domain, PoolLayout.Magic))
        {
            throw new PoolCorruptedException(path, "the pool header fails its checksum");
        }

        if (version == 0 || domain.Read<uint>(PoolLayout.HeaderSizeOffset) != PoolLayout.HeaderSize)
        {
            throw new PoolCorruptedException(path, $"the header declares format version {version} and header size {domain.Read<uint>(PoolLayout.HeaderSizeOffset)}");
        }

        var stored = domain.GetSpan(PoolLayout.LayoutNameOffset, PoolLayout.LayoutNameCapacity);
        var end = stored.IndexOf((byte)0);
        var storedLayout = Encoding.UTF8.GetString(end < 0 ? stored : stored[..end]);
        if (storedLayout != layout)
        {
            throw new PoolLayoutMismatchException(path, layout, storedLayout);
        }

        var laneCount = domain.Read<int>(PoolLayout.LaneCountOffset);
        var laneSize = domain.Read<int>(PoolLayout.LaneSizeOffset);
        var heapStart = domain.Read<long>(PoolLayout.HeapOffsetOffset);
        var durability = domain.Read<int>(PoolLayout.DurabilityOffset);
        if (laneCount is < 1 or > 1024 || laneSize < 4096 || laneSize % 4096 != 0 || heapStart != PoolLayout.HeapStart(laneCount, laneSize) || !Enum.IsDefined((DurabilityMode)durability))
        {
            throw new PoolCorruptedException(path, "the header's lane, heap or durability fields are impossible");
        }

        var poolSize = domain.Read<long>(PoolLayout.PoolSizeOffset);
        if (poolSize < heapStart + 4L * PoolLayout.ChunkSize || (poolSize - heapStart) % PoolLayout.ChunkSize != 0)
        {
            throw new PoolCorruptedException(path, $"the header records an impossible pool size {poolSize}");
        }

        if (poolSize > domain.Length)
        {
            throw new PoolCorruptedException(path, $"the pool is truncated: the header records {poolSize} bytes, the file has {domain.Length}");
        }
    }

    internal static ulong HeaderChecksum(PersistenceDomain domain, ulong magic)
    {
        var hash = new XxHash64();
        Span<byte> magicBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(magicBytes, magic);
        hash.Append(magicBytes);
        hash.Append(domain.GetSpan(8, PoolLayout.ChecksummedBytes - 8));
        return hash.GetCurrentHashAsUInt64();
    }

    // ---------------------------------------------------------------- surface for generated code

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal T ReadValue<T>(long offset) where T : unmanaged
    {
        // With no transaction open on this pool (the common case for reads) the thread-static is not even read.
        return Volatile.Read(ref _openTransactions) == 0 ? _domain.Read<T>(offset) : ReadThroughTransaction<T>(offset);
    }

    private T ReadThroughTransaction<T>(long offset) where T : unmanaged
    {
        var value = _domain.Read<T>(offset);
        return OwnTransaction() is { HasWrites: true } tx ? tx.Read(offset, value) : value;
    }

    /// <remarks>
    /// The paths taken on every call end in the write itself, and the rare ones (a transaction, a wide value, logs to
    /// retire first) are calls in tail position: nothing needs the offset or value after a call, so a caller's loop
    /// keeps them in registers rather than spilling them (see <see cref="PersistenceDomain.WriteAndFlush"/>).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal unsafe void WriteValue<T>(long offset, T value) where T : unmanaged
    {
        var scopes = TransactionState.OfThread; // one thread-static read tells both the transaction and the batch
        if (scopes is { Depth: > 0 } tx && ReferenceEquals(tx.Pool, this))
        {
            WriteInTransaction(tx, offset, value);
        }
        else if (sizeof(T) > 8 || (offset & 7) + sizeof(T) > 8)
        {
            WriteWide(offset, value);
        }
        else if (_commits.MustRetireBeforeUnloggedWrite)
        {
            WriteWordAfterRetiring(offset, value);
        }
        else
        {
            WriteWord(scopes, offset, value);
        }
    }

    /// <summary>
    /// A write within one aligned 8-byte word, outside a transaction: one store persists whole or not at all. In a
    /// batch it is flushed now and drained at the batch's end; otherwise it is durable on return.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteWord<T>(TransactionState? scopes, long offset, T value) where T : unmanaged
    {
        if (scopes is not null)
        {
            if (scopes.BatchPoolId == InstanceId)
            {
                _domain.WriteAndFlush(offset, value);
                return;
            }

            if (scopes.Commits is { AwaitsDrain: true } commits)
            {
                WriteDurableAndRecordDrain(commits, offset, value);
                return;
            }
        }

        _domain.WriteAndPersist(offset, value); // nothing is needed after the flush call: no spills (see WriteValue)
    }

    /// <summary>A durable word write whose drain also makes the thread's earlier applies or stored R durable.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteDurableAndRecordDrain<T>(CommitPipeline.ThreadCommits commits, long offset, T value) where T : unmanaged
    {
        _domain.WriteAndPersist(offset, value);
        _commits.AfterDrain(commits);
    }

    /// <summary>
    /// The write bypasses the log, so applied logs are made durable and retired first (see CommitPipeline); only the
    /// first such write after commits comes here.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteWordAfterRetiring<T>(long offset, T value) where T : unmanaged
    {
        _commits.RetireBeforeUnloggedWrite();
        WriteWord(TransactionState.OfThread, offset, value); // retiring may have made the thread's state
    }

    private void WriteInTransaction<T>(TransactionState tx, long offset, T value) where T : unmanaged
    {
        ThrowIfRolledBack(tx);
        if (tx.IsInOwnAllocation(offset, Unsafe.SizeOf<T>()))
        {
            // Nobody can see a block this transaction allocated: write it in place; commit's first drain covers it.
            _domain.Write(offset, value);
            _domain.Flush(offset, Unsafe.SizeOf<T>());
            return;
        }

        tx.Record(offset, value);
    }

    /// <summary>A value wider than one word: a one-entry redo log makes it failure-atomic.</summary>
    private void WriteWide<T>(long offset, T value) where T : unmanaged
    {
        var redo = RentRedo();
        redo.Set(offset, value);
        CommitRedo(redo);
    }

    internal string? ReadString(long fieldOffset)
    {
        var target = ReadValue<long>(fieldOffset);
        if (target == 0)
        {
            return null;
        }

        var capacity = ResolveBlock(target, TypeTable.StringTypeIndex, "string");
        var length = _domain.Read<int>(target);
        if (length < 0 || 8L + 2L * length > capacity)
        {
            throw new PoolCorruptedException(Path, $"the string at offset {target} claims {length} characters, more than its block holds");
        }

        return length == 0 ? string.Empty : new string(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(_domain.GetSpan(target + 8, length * 2)));
    }

    internal void WriteString(long fieldOffset, string? value)
    {
        var tx = TransactionState.Current;
        var inTransaction = tx is not null && ReferenceEquals(tx.Pool, this);
        if (inTransaction)
        {
            ThrowIfRolledBack(tx!);
        }

        var old = ReadValue<long>(fieldOffset);
        BlockReservation? created = null;
        if (value is not null)
        {
            var block = ReserveBlock(8L + 2L * value.Length);
            _domain.Write(block.Offset, value.Length);
            _domain.Write(block.Offset + 4, 0);
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(value.AsSpan()).CopyTo(_domain.GetSpan(block.Offset + 8, value.Length * 2));
            _domain.NotifyStore(block.Offset, 8L + 2L * value.Length);
            _domain.Flush(block.Offset, 8L + 2L * value.Length);
            created = block;
        }

        if (inTransaction)
        {
            if (created is { } block)
            {
                tx!.Allocations.Add(new AllocationRecord(block, TypeTable.StringTypeIndex, 8 + 2 * value!.Length));
            }

            WriteInTransaction(tx!, fieldOffset, created?.Offset ?? 0L);
            if (old != 0)
            {
                FreeInTransaction(tx!, old);
            }

            return;
        }

        var redo = RentRedo();
        if (created is { } newBlock)
        {
            _heap.LogAllocate(redo, newBlock, TypeTable.StringTypeIndex);
            redo.RequireDurable(newBlock.Offset, _domain.GetSpan(newBlock.Offset, 8 + 2 * value!.Length));
        }

        redo.Set(fieldOffset, created?.Offset ?? 0L);
        BlockReservation oldBlock = default;
        var freesOld = old != 0 && _heap.TryGetAllocated(old, out oldBlock, out _);
        if (freesOld)
        {
            _heap.LogFree(redo, oldBlock);
        }

        try
        {
            CommitRedo(redo);
        }
        catch
        {
            if (created is { } unused)
            {
                _heap.Release(unused, _commits.LastSequence);
            }

            throw;
        }

        if (freesOld)
        {
            _heap.Release(oldBlock, _commits.LastSequence);
        }
    }

    internal T? ReadReference<T>(long fieldOffset) where T : PersistentObject, IPersistentObject<T>
    {
        var target = ReadValue<long>(fieldOffset);
        if (target == 0)
        {
            return null;
        }

        ResolveBlock(target, _types.IndexOf(T.PersistentType), T.PersistentType.Name);
        return T.Attach(new ObjectHandle(this, target));
    }

    internal void WriteReference<T>(long fieldOffset, T? value) where T : PersistentObject, IPersistentObject<T>
    {
        if (value is not null && !ReferenceEquals(value.Pool, this))
        {
            throw new ArgumentException($"{Path}: a reference must point to an object in the same pool; the object lives in {value.Pool.Path}.", nameof(value));
        }

        WriteValue(fieldOffset, value?.Offset ?? 0L);
    }

    /// <summary>Checks that <paramref name="target"/> is an allocated block of <paramref name="typeIndex"/>; returns its capacity.</summary>
    private long ResolveBlock(long target, uint typeIndex, string expected)
    {
        var tx = TransactionState.Current;
        if (tx is not null && ReferenceEquals(tx.Pool, this) && tx.TryFindAllocation(target, out var own))
        {
            CheckType(target, own.TypeIndex, typeIndex, expected);
            return own.Block.Size;
        }

        if (!_heap.TryGetAllocated(target, out var block, out var stored))
        {
            throw new PersistentTypeMismatchException($"{Path}: offset {target} does not designate an allocated object (expected a {expected}).");
        }

        CheckType(target, stored, typeIndex, expected);
        return block.Size;
    }

    private void CheckType(long target, uint stored, uint expectedIndex, string expected)
    {
        if (stored != expectedIndex)
        {
            var actual = stored == TypeTable.StringTypeIndex ? "string" : _types.Get(stored)?.Name ?? $"type index {stored}";
            throw new PersistentTypeMismatchException($"{Path}: the object at offset {target} is a {actual}, not a {expected}.");
        }
    }

    // ---------------------------------------------------------------- objects

    /// <summary>
    /// Allocates a new zeroed object of type <typeparamref name="T"/>. Inside a transaction the allocation is undone if
    /// the transaction rolls back; outside, it is durable when this returns (reach it from the root or another object,
    /// or enumerate it later with <see cref="GetStatistics"/>).
    /// </summary>
    /// <exception cref="PoolOutOfSpaceException">No room and the pool cannot grow.</exception>
    public T New<T>() where T : PersistentObject, IPersistentObject<T>
    {
        ThrowIfDisposed();
        var type = T.PersistentType;
        var typeIndex = TypeIndexOf<T>();
        var tx = OwnTransaction();
        BlockReservation block;
        if (tx is not null)
        {
            // A prepared block here too: the commit's log then only sets its bit (and checks its content), the zeroes
            // and type index being durable already.
            ThrowIfRolledBack(tx);
            block = type.Size > Heap.MaxRunBlockSize ? ReserveZeroed(type.Size) : TakePrepared(typeIndex, type.Size);
            tx.Allocations.Add(new AllocationRecord(block, typeIndex, type.Size));
            return T.Attach(new ObjectHandle(this, block.Offset));
        }

        if (type.Size > Heap.MaxRunBlockSize)
        {
            var large = ReserveZeroed(type.Size);
            var redo = RentRedo();
            _heap.LogAllocate(redo, large, typeIndex);
            redo.RequireDurable(large.Offset, _domain.GetSpan(large.Offset, type.Size));
            CommitOrRelease(redo, large);
            return T.Attach(new ObjectHandle(this, large.Offset));
        }

        // A prepared block (zeroed, typed, drained) becomes allocated by setting its bitmap bit: one line, one drain.
        block = TakePrepared(typeIndex, type.Size);
        _heap.PublishPrepared(block);
        _domain.Drain();
        _commits.AfterDrain();
        return T.Attach(new ObjectHandle(this, block.Offset));
    }

    private BlockReservation TakePrepared(uint typeIndex, int size)
    {
        var cache = AllocationCacheOfThisThread();
        return cache.TryTake(typeIndex, out var block) ? block : PrepareBatch(cache, typeIndex, size);
    }

    /// <summary>The type's index in this pool, remembered per type for the pool that last asked (no lookup).</summary>
    private uint TypeIndexOf<T>() where T : PersistentObject, IPersistentObject<T>
    {
        var known = KnownTypeIndex<T>.Last;
        if (known is not null && ReferenceEquals(known.Types, _types))
        {
            return known.Index;
        }

        var index = _types.IndexOf(T.PersistentType); // checks the stored layout; an index never changes once given
        KnownTypeIndex<T>.Last = new KnownTypeIndex<T>(_types, index);
        return index;
    }

    private sealed class KnownTypeIndex<T>(TypeTable types, uint index)
    {
        public static KnownTypeIndex<T>? Last;

        public TypeTable Types { get; } = types;

        public uint Index { get; } = index;
    }

    private AllocationCache AllocationCacheOfThisThread()
    {
        var cache = t_allocationCache;
        if (cache is not null && ReferenceEquals(cache.Heap, _heap))
        {
            return cache;
        }

        return SwitchAllocationCache(cache);
    }

    private AllocationCache SwitchAllocationCache(AllocationCache? previous)
    {
        if (previous is not null)
        {
            // The thread moves to another pool: its prepared blocks go back, in volatile state only (nothing was
            // logged, and the other pool may be closed).
            previous.ReturnAll(0, mayReturnRuns: false);
            GC.SuppressFinalize(previous);
        }

        var cache = new AllocationCache(_heap);
        t_allocationCache = cache;
        return cache;
    }

    /// <summary>
    /// Reserves a batch of blocks, retires any log that mentions them (they may have been freed this session), zeroes
    /// them and stamps their type index with one drain; caches all but the one it returns.
    /// </summary>
    private BlockReservation PrepareBatch(AllocationCache cache, uint typeIndex, int size)
    {
        Span<BlockReservation> batch = stackalloc BlockReservation[AllocationCache.MaxBatch];
        batch = batch[..AllocationCache.BatchFor(Heap.BlockSizeOf(Heap.ClassFor(size)))];
        int count;
        long freedThrough;
        try
        {
            count = _heap.ReserveMany(size, batch, _grow, out freedThrough);
        }
        catch (PoolOutOfSpaceException) when (cache.HoldsBlocks)
        {
            // Blocks this thread prepared for other types may be the last free ones: give them back and try again.
            cache.ReturnAll(0);
            count = _heap.ReserveMany(size, batch, _grow, out freedThrough);
        }

        batch = batch[..count];
        try
        {
            // Before any store into a reused block: an unretired log that allocated it could verify its old content,
            // or one that freed it could clear its bit, over what this thread is about to make durable.
            _commits.RetireThrough(freedThrough);
            _heap.Prepare(batch, typeIndex, size);
            _domain.Drain();
            _commits.AfterDrain();
        }
        catch
        {
            foreach (var block in batch)
            {
                _heap.Release(block, freedThrough);
            }

            throw;
        }

        cache.Add(typeIndex, batch[1..]);
        return batch[0];
    }

    /// <summary>
    /// Frees <paramref name="obj"/> and the strings and collections it owns (not the objects it references). Inside a
    /// transaction the free happens at commit.
    /// </summary>
    /// <exception cref="ArgumentException">The object belongs to another pool.</exception>
    /// <exception cref="PersistentTypeMismatchException">The object is not allocated (already freed).</exception>
    public void Delete(PersistentObject obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        ThrowIfDisposed();
        if (!ReferenceEquals(obj.Pool, this))
        {
            throw new ArgumentException($"{Path}: the object belongs to another pool ({obj.Pool.Path}).", nameof(obj));
        }

        if (obj.Offset == _domain.Read<long>(PoolLayout.RootOffsetOffset))
        {
            throw new InvalidOperationException($"{Path}: the root object cannot be deleted.");
        }

        var tx = TransactionState.Current;
        Atomically(obj.Offset, FreeInTransaction);
    }

    /// <summary>The pool's root object, created (zeroed) on first use.</summary>
    /// <exception cref="PersistentTypeMismatchException">The root exists with another type.</exception>
    public T Root<T>() where T : PersistentObject, IPersistentObject<T>
    {
        ThrowIfDisposed();
        var typeIndex = _types.IndexOf(T.PersistentType);
        var root = ReadValue<long>(PoolLayout.RootOffsetOffset);
        if (root == 0)
        {
            lock (_rootLock)
            {
                root = ReadValue<long>(PoolLayout.RootOffsetOffset);
                if (root == 0)
                {
                    root = CreateRoot(T.PersistentType.Size, typeIndex);
                }
            }
        }

        var stored = ReadValue<uint>(PoolLayout.RootTypeOffset);
        if (stored != typeIndex)
        {
            throw new PersistentTypeMismatchException($"{Path}: the root object is a {_types.Get(stored)?.Name ?? $"type index {stored}"}, not a {T.PersistentType.Name}.");
        }

        return T.Attach(new ObjectHandle(this, root));
    }

    private long CreateRoot(int size, uint typeIndex)
    {
        var block = ReserveZeroed(size);
        var tx = TransactionState.Current;
        if (tx is not null && ReferenceEquals(tx.Pool, this))
        {
            tx.Allocations.Add(new AllocationRecord(block, typeIndex, size));
            tx.Record(PoolLayout.RootOffsetOffset, block.Offset);
            tx.Record(PoolLayout.RootTypeOffset, (ulong)typeIndex);
            return block.Offset;
        }

        var redo = RentRedo();
        _heap.LogAllocate(redo, block, typeIndex);
        redo.RequireDurable(block.Offset, _domain.GetSpan(block.Offset, size));
        redo.Set(PoolLayout.RootOffsetOffset, block.Offset);
        redo.Set(PoolLayout.RootTypeOffset, (ulong)typeIndex);
        CommitOrRelease(redo, block);
        return block.Offset;
    }

    private BlockReservation ReserveZeroed(long size)
    {
        var block = ReserveBlock(size);
        _domain.Fill(block.Offset, 0, size, PmemCopyFlags.NoDrain);
        return block;
    }

    private BlockReservation ReserveBlock(long size) => _heap.Reserve(size, _grow);

    private void FreeInTransaction(TransactionState tx, long offset)
    {
        uint typeIndex;
        var ownIndex = tx.Allocations.FindIndex(a => a.Block.Offset == offset);
        if (ownIndex >= 0)
        {
            typeIndex = tx.Allocations[ownIndex].TypeIndex;
        }
        else if (!_heap.TryGetAllocated(offset, out var allocated, out typeIndex))
        {
            throw new PersistentTypeMismatchException($"{Path}: offset {offset} does not designate an allocated object.");
        }
        else if (tx.Frees.Exists(f => f.Offset == offset))
        {
            return;
        }
        else
        {
            tx.Frees.Add(allocated);
        }

        // Owned strings and collections go with their object (read before a made-here block is released).
        foreach (var field in _types.Get(typeIndex)?.Fields ?? [])
        {
            if (field.Kind is PersistentFieldKind.String or PersistentFieldKind.Collection)
            {
                var owned = ReadValue<long>(offset + field.Offset);
                if (owned != 0)
                {
                    FreeInTransaction(tx, owned);
                }
            }
        }

        foreach (var (child, owned) in InternalChildren(offset, typeIndex).ToList())
        {
            if (owned)
            {
                FreeInTransaction(tx, child);
            }
        }

        if (ownIndex >= 0)
        {
            // Freed in the transaction that made it: simply never allocate it. (The owned frees above may have
            // shifted the list, so look the block up again.)
            ownIndex = tx.Allocations.FindIndex(a => a.Block.Offset == offset);
            var block = tx.Allocations[ownIndex].Block;
            tx.Allocations.RemoveAt(ownIndex);
            _heap.Release(block, _commits.LastSequence);
        }
    }

    // ---------------------------------------------------------------- transactions and batches

    /// <summary>Begins a transaction on this thread (or a nested scope of the running one).</summary>
    /// <exception cref="InvalidOperationException">This thread runs a transaction on another pool.</exception>
    public Transaction BeginTransaction()
    {
        ThrowIfDisposed();
        return new Transaction(TransactionState.Begin(this));
    }

    /// <summary>Begins a batch: each write is flushed as it is made and one drain at the end makes them durable.</summary>
    public Batch Batch()
    {
        ThrowIfDisposed();
        return Transactions.Batch.Begin(this);
    }

    internal void DrainBatch(TransactionState state)
    {
        _domain.Drain();
        _commits.AfterDrain(state.Commits);
    }

    internal void CommitTransaction(TransactionState tx)
    {
        if (tx.Allocations.Count == 0 && tx.Frees.Count == 0 && !tx.HasWrites)
        {
            return;
        }

        var redo = tx.RentRedo(); // the thread's state is at hand: no thread-static read
        foreach (var allocation in tx.Allocations)
        {
            _heap.LogAllocate(redo, allocation.Block, allocation.TypeIndex);
            redo.RequireDurable(allocation.Block.Offset, _domain.GetSpan(allocation.Block.Offset, allocation.ContentLength));
        }

        tx.AppendWrites(redo);
        foreach (var block in tx.Frees)
        {
            _heap.LogFree(redo, block);
        }

        CommitRedo(redo); // never empty: the early return above took the transactions with nothing to log

        tx.Allocations.Clear(); // now durable: a later rollback must not release them
        var freedThrough = _commits.LastSequence; // at or above this commit's sequence
        foreach (var block in tx.Frees)
        {
            _heap.Release(block, freedThrough);
        }

        tx.Frees.Clear();
    }

    internal void ReleaseReservations(TransactionState tx)
    {
        foreach (var allocation in tx.Allocations)
        {
            _heap.Release(allocation.Block, _commits.LastSequence);
        }

        tx.Allocations.Clear();
        tx.Frees.Clear();
    }

    private void ThrowIfRolledBack(TransactionState tx)
    {
        if (tx.RolledBack)
        {
            throw new TransactionAbortedException($"{Path}: the transaction was rolled back by a nested scope; no further changes can join it.");
        }
    }

    private static RedoBuilder RentRedo() => TransactionState.ForThread.RentRedo();

    private void CommitRedo(RedoBuilder redo)
    {
        ThrowIfDisposed();
        _commits.Commit(redo);
    }

    private void CommitOrRelease(RedoBuilder redo, BlockReservation block)
    {
        try
        {
            CommitRedo(redo);
        }
        catch
        {
            _heap.Release(block, _commits.LastSequence);
            throw;
        }
    }

    // ---------------------------------------------------------------- growth

    /// <summary>Grows the pool to at least <paramref name="newSize"/> bytes (rounded up to whole chunks).</summary>
    /// <exception cref="NotSupportedException">The pool's memory cannot grow (its domain was made without room).</exception>
    public void Grow(long newSize)
    {
        ThrowIfDisposed();
        lock (_growLock)
        {
            var current = Size;
            if (newSize <= current)
            {
                return;
            }

            var heapStart = _heap.HeapStart;
            var rounded = heapStart + ((newSize - heapStart + PoolLayout.ChunkSize - 1) / PoolLayout.ChunkSize) * PoolLayout.ChunkSize;
            if (rounded > _domain.Length)
            {
                _domain.Extend(rounded);
            }

            // The new chunks' free header first, then the size word that makes them part of the heap.
            _heap.FormatGrowth(rounded);
            _domain.WriteDurable(PoolLayout.PoolSizeOffset, rounded);
            _heap.AddChunks(rounded);
        }
    }

    private bool GrowBy(long bytes)
    {
        var current = Size;
        if (_maxSize <= current)
        {
            return false;
        }

        var target = Math.Min(_maxSize, Math.Max(current + bytes, current * 2));
        if (target - current < bytes)
        {
            return false;
        }

        try
        {
            Grow(target);
            return true;
        }
        catch (NotSupportedException)
        {
            return false;
        }
    }

    // ---------------------------------------------------------------- lifecycle

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Closes the pool: drains, unmaps and releases the lock. Objects of the pool must not be used afterwards.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        TransactionState.StopCountingOnThisThread(this); // (other threads' counts no longer matter)
        _commits.Close(); // a clean close leaves no log to replay
        _domain.Drain();
        _domain.Dispose();
        _ownedResource?.Dispose();
    }
}
