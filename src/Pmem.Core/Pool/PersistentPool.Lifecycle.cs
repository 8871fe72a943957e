// PersistentPool (lifecycle) -- creating and opening a pool in a domain, validating its header, closing it.
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Hashing;
using System.Text;
using Pmem.Heap;
using Pmem.Memory;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
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
        Format(domain, layout, options, description);
        return Open(domain, layout, OpenOptionsAfterCreate(options), description);
    }

    /// <summary>How a pool just formatted is opened: with its creation's growth limit and write-ahead log.</summary>
    private static PoolOpenOptions OpenOptionsAfterCreate(PoolCreateOptions options) => new() { MaxSize = options.MaxSize, WriteAheadLog = options.WriteAheadLog };

    /// <summary>Writes an empty pool into <paramref name="domain"/>, its magic last and durable: before that no open takes it for a pool.</summary>
    private static void Format(PersistenceDomain domain, string layout, PoolCreateOptions options, string? description)
    {
        var path = description ?? $"<{domain.GetType().Name}>";
        var layoutBytes = ValidateLayoutName(layout);
        if (options.LaneCount is < 1 or > 1024 || options.LaneSize < 4096 || options.LaneSize % 4096 != 0)
        {
            throw new ArgumentException($"{path}: lane count must be 1–1024 and lane size a positive multiple of 4096.", nameof(options));
        }

        ThrowIfInvalidGrowthLimit(options, path, domain.Length);

        var heapStart = PoolLayout.HeapStart(options.LaneCount, options.LaneSize);
        var chunks = (domain.Length - heapStart) / PoolLayout.ChunkSize;
        if (chunks < 4)
        {
            throw new ArgumentException($"{path}: a pool needs at least {PoolLayout.MinimumPoolSize(options.LaneCount, options.LaneSize)} bytes, the domain has {domain.Length}.", nameof(domain));
        }

        var poolSize = heapStart + chunks * PoolLayout.ChunkSize;

        // Everything but the magic first, drained; the magic last, so a crash mid-create leaves no valid pool.
        domain.Fill(0, 0, heapStart, PmemCopyFlags.NoDrain);
        domain.Write(PoolLayout.VersionOffset, options.FormatVersion);
        domain.Write(PoolLayout.HeaderSizeOffset, (uint)PoolLayout.HeaderSize);
        Guid.NewGuid().TryWriteBytes(domain.GetSpan(PoolLayout.UuidOffset, 16));
        domain.Write(PoolLayout.CreatedOffset, DateTime.UtcNow.Ticks);
        domain.Write(PoolLayout.DurabilityOffset, (int)options.Durability);
        domain.Write(PoolLayout.LaneCountOffset, options.LaneCount);
        domain.Write(PoolLayout.LaneSizeOffset, options.LaneSize);
        domain.Write(PoolLayout.HeapOffsetOffset, heapStart);
        layoutBytes.CopyTo(domain.GetSpan(PoolLayout.LayoutNameOffset, PoolLayout.LayoutNameCapacity));
        domain.Write(PoolLayout.PoolSizeOffset, poolSize);
        domain.Write(PoolLayout.GrowthLimitOffset, options.MaxSize);
        domain.Write(PoolLayout.HeaderChecksumOffset, HeaderChecksum(domain, PoolLayout.Magic));
        domain.NotifyStore(0, PoolLayout.HeaderSize);
        domain.Flush(0, PoolLayout.HeaderSize);
        PoolHeap.Format(domain, heapStart, poolSize);
        domain.Drain();
        domain.WriteDurable(PoolLayout.MagicOffset, PoolLayout.Magic);
    }

    /// <summary>Opens the pool in <paramref name="domain"/> (which the pool then owns), running recovery.</summary>
    /// <exception cref="PoolCorruptedException">Not a pool, truncated, or corrupted header, type table, logs or heap.</exception>
    /// <exception cref="PoolLayoutMismatchException">The pool has another layout name.</exception>
    /// <exception cref="PoolVersionException">The pool has a newer format version.</exception>
    public static PersistentPool Open(PersistenceDomain domain, string layout, long maxSize = 0, string? description = null) =>
        Open(domain, layout, new PoolOpenOptions { MaxSize = maxSize }, description);

    /// <summary>
    /// Opens the pool in <paramref name="domain"/>: validates it, completes unfinished commits, then compares the
    /// program's persistent types with the stored schema and migrates the changed ones (see <see cref="PoolOpenOptions"/>).
    /// </summary>
    /// <param name="domain">The memory holding the pool.</param>
    /// <param name="layout">The layout name the pool was created with.</param>
    /// <param name="options">Growth limit, types and migrations.</param>
    /// <param name="description">How exceptions name the pool (default: the domain's type).</param>
    /// <exception cref="PoolCorruptedException">Not a pool, or corrupted (the memory is left unchanged).</exception>
    /// <exception cref="PoolLayoutMismatchException">The pool has another layout name.</exception>
    /// <exception cref="PoolVersionException">The pool has a newer format version.</exception>
    /// <exception cref="PersistentSchemaException">A changed class needs a migration the program does not register, or the pool was written by a newer program (nothing is written).</exception>
    /// <exception cref="PersistentMigrationException">A migration hook of <see cref="PoolOpenOptions.Migrations"/> threw (its exception is the inner one).</exception>
    public static PersistentPool Open(PersistenceDomain domain, string layout, PoolOpenOptions options, string? description = null) =>
        Open(domain, layout, options, description, readOnly: false);

    /// <summary>Opens the pool; one opened <paramref name="readOnly"/> (in private pages) changes its format for nobody.</summary>
    private static PersistentPool Open(PersistenceDomain domain, string layout, PoolOpenOptions options, string? description, bool readOnly)
    {
        var (pool, evolution) = OpenRecovered(domain, layout, options, description);
        pool.FinishOpen(evolution, options, readOnly);
        return pool;
    }

    /// <summary>Validates the header and recovers: the pool is consistent, its schema's evolution planned, not run.</summary>
    private static (PersistentPool Pool, EvolutionWork Evolution) OpenRecovered(PersistenceDomain domain, string layout, PoolOpenOptions options, string? description)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(options);
        var path = description ?? $"<{domain.GetType().Name}>";
        ValidateLayoutName(layout);
        ValidateHeader(domain, path, layout);
        // 0: the limit the pool's creation recorded (checked above); negative: none (a read-only open never grows).
        var maxSize = options.MaxSize != 0 ? options.MaxSize : domain.Read<long>(PoolLayout.GrowthLimitOffset);
        var pool = new PersistentPool(domain, path, layout, maxSize);
        pool._migrationBatchObjects = options.MigrationBatchObjects > 0 ? options.MigrationBatchObjects : pool.PerLogSlot(256);
        return (pool, pool.Recover(options));
    }

    /// <summary>
    /// Finishes the heap's recovery (free runs and spans a crash left), runs the planned evolution, prepares the
    /// indexes and (unless reading only) moves to the current format.
    /// </summary>
    private void FinishOpen(EvolutionWork evolution, PoolOpenOptions options, bool readOnly)
    {
        try
        {
            _heap.FinishRecovery();
            if (options.WriteAheadLog && !readOnly)
            {
                RequireWriteAheadFormat(); // before anything is written
            }

            EvolveSchema(evolution);
            PrepareIndexes(options);
            if (!readOnly)
            {
                MoveToCurrentFormat();
                if (options.WriteAheadLog)
                {
                    StartWriteAheadLog(options.WriteAheadLogCapacity > 0 ? options.WriteAheadLogCapacity : WriteAheadCapacity);
                }
            }
        }
        catch
        {
            AbandonOpen();
            throw;
        }
    }

    private static void ThrowIfInvalidGrowthLimit(PoolCreateOptions options, string path, long size)
    {
        if (options.MaxSize is < 0 or > PoolLayout.MaxGrowthLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxSize, $"{path}: the growth limit (MaxSize) must be 0–{PoolLayout.MaxGrowthLimit} bytes.");
        }

        if (options.MaxSize != 0 && options.MaxSize < size)
        {
            // Recorded, such a limit would read as "grows" while no open could ever grow the pool.
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxSize, $"{path}: the growth limit (MaxSize) is below the pool's size of {size} bytes; give 0 for a pool that never grows.");
        }
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
        if (version is < PoolLayout.OldestReadableVersion or > PoolLayout.NewestReadableVersion)
        {
            throw new PoolVersionException(path, version, PoolLayout.OldestReadableVersion, PoolLayout.NewestReadableVersion);
        }

        var checksum = domain.Read<ulong>(PoolLayout.HeaderChecksumOffset);
        if (checksum != HeaderChecksum(domain, PoolLayout.Magic) && !IsTornUpgrade(domain, version, checksum))
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

        if (domain.Read<long>(PoolLayout.GrowthLimitOffset) is var limit and (< 0 or > PoolLayout.MaxGrowthLimit))
        {
            throw new PoolCorruptedException(path, $"the header's growth limit (offset {PoolLayout.GrowthLimitOffset}) holds the impossible value {limit}");
        }

        if (poolSize > domain.Length)
        {
            throw new PoolCorruptedException(path, $"the pool is truncated: the header records {poolSize} bytes, the file has {domain.Length}");
        }
    }

    /// <summary>
    /// Whether the header is one a crash left in the middle of applying a format upgrade's log: the version and the
    /// checksum are on different lines, so one may be new and the other old. The replay then completes the pair;
    /// recovery checks the checksum again after it.
    /// </summary>
    private static bool IsTornUpgrade(PersistenceDomain domain, uint version, ulong checksum)
    {
        for (var other = PoolLayout.OldestReadableVersion; other <= PoolLayout.NewestReadableVersion; other++)
        {
            if (other != version && HeaderChecksumWithVersion(domain, other) == checksum)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The checksum the header would have with <paramref name="version"/> as its format version.</summary>
    private static ulong HeaderChecksumWithVersion(PersistenceDomain domain, uint version)
    {
        var header = domain.GetSpan(0, PoolLayout.ChecksummedBytes).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(PoolLayout.VersionOffset), version);
        return HeaderChecksum(header, PoolLayout.Magic);
    }

    internal static ulong HeaderChecksum(PersistenceDomain domain, ulong magic) =>
        HeaderChecksum(domain.GetSpan(0, PoolLayout.ChecksummedBytes), magic);

    /// <summary>The checksum of a header's first <see cref="PoolLayout.ChecksummedBytes"/> bytes, with <paramref name="magic"/> in place of its first word.</summary>
    internal static ulong HeaderChecksum(ReadOnlySpan<byte> header, ulong magic)
    {
        var hash = new XxHash64();
        Span<byte> magicBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(magicBytes, magic);
        hash.Append(magicBytes);
        hash.Append(header[8..PoolLayout.ChecksummedBytes]);
        return hash.GetCurrentHashAsUInt64();
    }

    internal void ThrowIfDisposed()
    {
        if (_disposed)
        {
            ThrowDisposed();
        }
    }

    // ObjectName is the pool file, as for its objects' and collections' accesses (the domain's), not the class name.
    [DoesNotReturn]
    private void ThrowDisposed() => throw new ObjectDisposedException(Path, "The pool was disposed: open it again to use it.");

    /// <summary>True when the pool was opened with <see cref="OpenReadOnly"/>: every write throws <see cref="PoolReadOnlyException"/>.</summary>
    public bool IsReadOnly => _commits.WritesRefused;

    private void ThrowIfReadOnly()
    {
        if (_commits.WritesRefused)
        {
            throw new PoolReadOnlyException(Path);
        }
    }

    /// <summary>
    /// Closes the pool: waits for commits under way, drains, unmaps and releases the lock. Its objects, transactions
    /// and collections throw <see cref="ObjectDisposedException"/> afterwards, on any thread. A read or write another
    /// thread makes just as the pool closes never ends the process: a read returns a value that was stored or throws
    /// <see cref="ObjectDisposedException"/>; a commit or write that returns normally is durable, and one that throws
    /// <see cref="ObjectDisposedException"/> may or may not have reached the file (as with a crash at that moment).
    /// </summary>
    public void Dispose()
    {
        if (_disposed || Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }

        _disposed = true;
        lock (_creations)
        {
            Monitor.PulseAll(_creations); // threads waiting for a collection creation or the index lock throw now (WaitForAnEnd)
        }

        TransactionState.StopCountingOnThisThread(this); // (other threads' counts no longer matter)
        _commits.Shut(); // commits under way end first; later writes throw ObjectDisposedException
        _commits.Close(TransactionState.OfThread?.Commits); // a clean close leaves no log to replay
        _domain.Drain();
        _domain.Dispose();
    }
}
