// PersistentPool (files) -- creating and opening a pool file: mapping, locking, and no file left behind on failure.
using Pmem.Memory;

using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>Options for opening a pool file.</summary>
public sealed record PoolOpenOptions
{
    /// <summary>
    /// Largest size the pool may grow to by itself when full, for this open. 0 (the default): the limit the pool's
    /// creation recorded (<see cref="PoolCreateOptions.MaxSize"/>; pools created before it was recorded never grow by
    /// themselves). A negative value, or one at or below the pool's size: the pool never grows by itself in this open.
    /// </summary>
    public long MaxSize { get; init; }

    /// <summary>
    /// Persistent types to compare with the pool's stored schema (and migrate) when it opens, besides those the
    /// generator registers for every loaded assembly: hand-written types, or classes of an assembly not loaded yet.
    /// </summary>
    public IReadOnlyList<PersistentTypeInfo> Types { get; init; } = [];

    /// <summary>Migrations of changed classes that need a decision (see <see cref="PoolMigrations"/>).</summary>
    public PoolMigrations? Migrations { get; init; }

    /// <summary>
    /// Objects a migration converts per transaction (tests make it small to cross many batches); 0: 256 per 64 KiB of
    /// log slot.
    /// </summary>
    internal int MigrationBatchObjects { get; init; }

    /// <summary>
    /// Migrate a pool file on an ordinary file system in place, in synced transactions, rather than in a copy renamed
    /// over it (the default; see the README's "Changing your classes"). In place needs no room for a second copy and
    /// resumes after a crash from where it stopped, but pays a sync per batch of objects: several times slower. A
    /// migration through a copy that is interrupted starts again at the next open. Persistent memory always migrates
    /// in place.
    /// </summary>
    public bool MigrateInPlace { get; init; }

    /// <summary>Set for a migration's copy: the original's open checked what the migration reads (the copy holds the same bytes).</summary>
    internal bool MigrationInputsChecked { get; init; }

    /// <summary>
    /// Set by <see cref="PersistentPool.OpenReadOnly"/>: a migration interrupted in place (a crash, a hook that threw)
    /// does not refuse a reader that knows no version of the class being migrated (the tool): its objects read by
    /// their stored schemas, converted or not, and nothing is resumed.
    /// </summary>
    internal bool ReadsUnfinishedMigration { get; init; }

    /// <summary>
    /// On an ordinary file (not persistent memory), commit through a write-ahead log file beside the pool
    /// (<see cref="PersistentPool.WriteAheadLogPath"/>): each commit appends its log with one write and threads
    /// committing at once share one <c>fdatasync</c>, while the pool file's pages are synced only at checkpoints
    /// (when half the log is in use, when a write outside a transaction follows commits, and at close). Commits that
    /// wait for a disk then scale with threads, where an msync per commit does not (bench/RESULTS.md). A pool moves to
    /// format 10 the first time; after a clean close the pool file is whole without the log, after a crash the next
    /// open (with or without this option) replays it. Nothing changes on persistent memory or in process-crash pools.
    /// </summary>
    public bool WriteAheadLog { get; init; }

    /// <summary>Record bytes of a write-ahead log file this open creates (tests make it small to cross many checkpoints); 0: 64 MiB.</summary>
    internal long WriteAheadLogCapacity { get; init; }
}

public sealed partial class PersistentPool
{
    /// <summary>
    /// Creates a pool file of <paramref name="size"/> bytes and opens it. The file must not exist: creating never
    /// overwrites anything. If creation fails, no file is left behind.
    /// </summary>
    /// <param name="path">The new file.</param>
    /// <param name="layout">The layout name a later open must give (1–255 UTF-8 bytes).</param>
    /// <param name="size">Initial size in bytes (at least <see cref="MinimumSize"/>).</param>
    /// <param name="options">Durability mode, lanes and the size the pool may grow to.</param>
    /// <exception cref="PmemFileExistsException">The file exists.</exception>
    /// <exception cref="PmemFileNotFoundException">The directory does not exist.</exception>
    /// <exception cref="PmemAccessDeniedException">The directory is not writable.</exception>
    /// <exception cref="ArgumentException">The size or layout name is invalid, or the growth limit (<see cref="PoolCreateOptions.MaxSize"/>) is above 2^46 bytes or below the size.</exception>
    public static PersistentPool Create(string path, string layout, long size, PoolCreateOptions? options = null) =>
        CreateFile(path, layout, size, options ?? new PoolCreateOptions(), synced: true);

    /// <summary>
    /// Creates a pool file whose stores reach the page cache without a flush or sync (a process-crash domain over a pool
    /// that records <paramref name="options"/>' durability): for a file nobody reads before its writer closes it and
    /// publishes it with <see cref="DurableFiles.Replace"/>, which syncs it once.
    /// </summary>
    internal static PersistentPool CreateUnsynced(string path, string layout, long size, PoolCreateOptions options) =>
        CreateFile(path, layout, size, options, synced: false);

    private static PersistentPool CreateFile(string path, string layout, long size, PoolCreateOptions options, bool synced)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var minimum = PoolLayout.MinimumPoolSize(options.LaneCount, options.LaneSize);
        if (size < minimum)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"{path}: a pool needs at least {minimum} bytes.");
        }

        ValidateLayoutName(layout);
        ThrowIfInvalidGrowthLimit(options, path, size);
        var reserve = Math.Max(size, options.MaxSize);
        string? hidden = null; // an unsynced pool is a hidden file already: its caller publishes it
        var mapping = synced ? MapUnderHiddenName(path, size, reserve, out hidden) : MapForGrowth(path, size, MapFlags.Create | MapFlags.Exclusive, reserve);
        PersistenceDomain? domain = null;
        var named = hidden is null;
        try
        {
            if (!mapping.TryLockExclusive())
            {
                throw new PoolLockedException(path);
            }

            domain = mapping.CreateDomain(synced ? options.Durability : DurabilityMode.ProcessCrash);
            Format(domain, layout, options, path);
            if (hidden is not null)
            {
                Publish(mapping, hidden, path);
                named = true;
            }

            return Open(domain, layout, OpenOptionsAfterCreate(options), path);
        }
        catch
        {
            Unmap(mapping, domain);
            File.Delete(named ? path : hidden!); // we created it (Exclusive, or renamed without replacing), so nothing of anyone else's is lost
            throw;
        }
    }

    private const string CreatePurpose = "create";

    /// <summary>
    /// Maps a new pool file under a hidden name beside <paramref name="path"/>, renamed into place once whole: a process
    /// killed mid-create then leaves no file under the name that neither an open nor a create would take, and the next
    /// create of that name deletes what it left. When the hidden name cannot be made, the path itself is mapped (as
    /// before), so that errors such as a missing directory or a taken name name the path.
    /// </summary>
    private static PmemMapping MapUnderHiddenName(string path, long size, long reserve, out string? hidden)
    {
        hidden = null;
        if (!System.IO.Path.Exists(path) && Directory.Exists(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))))
        {
            DurableFiles.DeleteAbandonedBeside(path, CreatePurpose);
            var temporary = DurableFiles.TemporaryBeside(path, CreatePurpose);
            try
            {
                var mapping = MapForGrowth(temporary, size, MapFlags.Create | MapFlags.Exclusive, reserve);
                hidden = temporary;
                return mapping;
            }
            catch (IOException)
            {
                DurableFiles.Finished(temporary); // not made: the path's own attempt below reports why
            }
        }

        return MapForGrowth(path, size, MapFlags.Create | MapFlags.Exclusive, reserve);
    }

    /// <summary>Renames the formatted pool into place, never over a file another creator made meanwhile, durably.</summary>
    private static void Publish(PmemMapping mapping, string hidden, string path)
    {
        try
        {
            DurableFiles.PublishNew(hidden, path);
        }
        catch (IOException) when (System.IO.Path.Exists(path) || new FileInfo(path).LinkTarget is not null || !File.Exists(hidden))
        {
            // Taken meanwhile; or another process creating the same name at the same moment took the hidden file for
            // a killed create's and deleted it, before this one locked it: then that one is making the pool.
            throw new PmemFileExistsException($"'{path}' already exists, or another process is creating it at the same moment; creating never overwrites a file.", path, LibC.EEXIST);
        }

        mapping.Renamed(path);
    }

    /// <summary>
    /// Opens a pool file, checking its header, type table, logs and heap before writing anything, then completing
    /// unfinished commits. The file stays locked against other openers until the pool is disposed.
    /// </summary>
    /// <param name="path">The pool file.</param>
    /// <param name="layout">The layout name the pool was created with.</param>
    /// <param name="options">The size the pool may grow to.</param>
    /// <exception cref="PmemFileNotFoundException">The file does not exist.</exception>
    /// <exception cref="PmemAccessDeniedException">The file is not writable.</exception>
    /// <exception cref="PoolLockedException">Another opener holds the pool.</exception>
    /// <exception cref="PoolCorruptedException">Not a pool, truncated, or corrupted (the file is left unchanged).</exception>
    /// <exception cref="PoolLayoutMismatchException">The pool has another layout name (the file is left unchanged).</exception>
    /// <exception cref="PoolVersionException">The pool has a newer format version (the file is left unchanged).</exception>
    /// <exception cref="ArgumentOutOfRangeException">The options' growth limit is above 2^46 bytes.</exception>
    /// <exception cref="PersistentSchemaException">A changed class needs a migration the program does not register, or the pool was written by a newer program (the file is left unchanged).</exception>
    /// <exception cref="PersistentMigrationException">A migration hook of <see cref="PoolOpenOptions.Migrations"/> threw (its exception is the inner one).</exception>
    /// <exception cref="PersistentUniqueConstraintException">A property newly declared unique holds one value in two objects.</exception>
    public static PersistentPool Open(string path, string layout, PoolOpenOptions? options = null) =>
        OpenFile(path, layout, options ?? new PoolOpenOptions(), readOnly: false);

    /// <summary>
    /// Opens a pool file for reading only: the file is opened read-only under a shared lock (other read-only openers
    /// may read beside it; a writer is refused while it is held, and a pool open for writing refuses this) and is
    /// never written. Recovery of unfinished commits, a format upgrade and schema migrations run as at
    /// <see cref="Open(string, string, PoolOpenOptions?)"/>, but in pages private to this process (copy-on-write), so
    /// the pool reads as the next writer will find it. Every write then throws <see cref="PoolReadOnlyException"/>.
    /// </summary>
    /// <param name="path">The pool file (it may be on a read-only file system).</param>
    /// <param name="layout">The layout name the pool was created with.</param>
    /// <param name="options">Types and migrations, as for <see cref="Open(string, string, PoolOpenOptions?)"/>; the pool never grows.</param>
    /// <exception cref="PmemFileNotFoundException">The file does not exist.</exception>
    /// <exception cref="PmemAccessDeniedException">The file is not readable.</exception>
    /// <exception cref="PoolLockedException">The pool is open for writing (in this process or another).</exception>
    /// <exception cref="PoolCorruptedException">Not a pool, truncated, or corrupted.</exception>
    /// <exception cref="PoolLayoutMismatchException">The pool has another layout name.</exception>
    /// <exception cref="PoolVersionException">The pool has a newer format version.</exception>
    /// <exception cref="PersistentSchemaException">A changed class needs a migration the program does not register.</exception>
    public static PersistentPool OpenReadOnly(string path, string layout, PoolOpenOptions? options = null) =>
        OpenFile(path, layout, (options ?? new PoolOpenOptions()) with { MaxSize = -1, ReadsUnfinishedMigration = true }, readOnly: true);

    /// <summary>
    /// The size an open of <paramref name="file"/> lets the pool grow to: <paramref name="options"/>' limit, or when it
    /// gives none the one the pool's creation recorded, read from the file before it is mapped (the mapping reserves
    /// room for it). 0 when the file has none it can read; an impossible one is refused by the header check.
    /// </summary>
    private static long GrowthLimit(string file, PoolOpenOptions options)
    {
        if (options.MaxSize != 0)
        {
            return options.MaxSize;
        }

        try
        {
            using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            Span<byte> word = stackalloc byte[8];
            return RandomAccess.Read(handle, word, PoolLayout.GrowthLimitOffset) == 8 && BitConverter.ToInt64(word) is var limit and > 0 and <= PoolLayout.MaxGrowthLimit ? limit : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0; // the mapping reports what is wrong with the file
        }
    }

    /// <summary>
    /// Maps a pool file with <paramref name="reserve"/> bytes of address space for its growth; when the process has no
    /// room that large left (several pools with limits of tens of TiB, or a damaged limit word), the file alone: the
    /// pool opens and cannot grow past it in this open (growth then throws, and allocations run out of space).
    /// </summary>
    private static PmemMapping MapForGrowth(string path, long length, MapFlags flags, long reserve)
    {
        try
        {
            return PmemMapping.Map(path, length, flags, reserve: reserve);
        }
        catch (PmemIOException e) when (e.ErrorCode == LibC.ENOMEM && reserve > Math.Max(length, 0))
        {
            return PmemMapping.Map(path, length, flags); // a failed create removed the file it made
        }
    }

    /// <summary>After a failed create or open: the domain if one was made (it owns the mapping), else the mapping.</summary>
    private static void Unmap(PmemMapping mapping, PersistenceDomain? domain)
    {
        if (domain is not null)
        {
            domain.Dispose();
        }
        else
        {
            mapping.Dispose();
        }
    }

    /// <summary>
    /// Maps and locks the file (exclusive and shared for writing; shared and copy-on-write for reading only), opens the
    /// pool in it, and unmaps it again if anything fails.
    /// </summary>
    private static PersistentPool OpenFile(string path, string layout, PoolOpenOptions options, bool readOnly)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ValidateLayoutName(layout);
        if (options.MaxSize > PoolLayout.MaxGrowthLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxSize, $"{path}: the growth limit (MaxSize) must be at most {PoolLayout.MaxGrowthLimit} bytes.");
        }

        var info = new FileInfo(path);
        info = info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info; // the file, not a link to it
        if (info.Exists && info.Length < PoolLayout.HeaderSize && !Directory.Exists(path))
        {
            throw new PoolCorruptedException(path, $"not a pool: {info.Length} bytes is shorter than a pool header");
        }

        var mapping = readOnly
            ? PmemMapping.Map(path, 0, MapFlags.PrivateCopy)
            : MapForGrowth(path, 0, MapFlags.None, Math.Max(GrowthLimit(info.FullName, options), info.Exists ? info.Length : 0));
        PersistenceDomain? domain = null;
        IReadOnlyList<string>? migrated;
        PersistentPool original;
        try
        {
            if (!(readOnly ? mapping.TryLockShared() : mapping.TryLockExclusive()))
            {
                throw new PoolLockedException(path);
            }

            if (readOnly)
            {
                mapping.PopulateHolesForReading(); // a hole a full tmpfs cannot back fails here, not as SIGBUS on a read
            }

            if (!readOnly && mapping.Length >= PoolLayout.HeaderSize && BitConverter.ToUInt64(mapping.GetSpan(PoolLayout.MagicOffset, 8)) == PoolLayout.Magic)
            {
                // A pool's only (a foreign sparse file is refused below, as it is), and only what the header says it uses.
                var used = BitConverter.ToInt64(mapping.GetSpan(PoolLayout.PoolSizeOffset, 8));
                mapping.AllocateHoles(used > 0 ? used : long.MaxValue);
            }

            // The durability mode picks the domain; a nonsense value is refused by the header check that follows.
            // Private pages need no flush nor msync: the process-crash domain only orders stores.
            var durability = (DurabilityMode)BitConverter.ToInt32(mapping.GetSpan(PoolLayout.DurabilityOffset, 4));
            domain = mapping.CreateDomain(readOnly ? DurabilityMode.ProcessCrash : Enum.IsDefined(durability) ? durability : DurabilityMode.PowerFailure);
            (original, var evolution) = OpenRecovered(domain, layout, options, path);
            migrated = !readOnly && MigratesThroughCopy(domain, evolution, options, info.FullName) ? original.MigrateInCopy(info.FullName, layout, options) : null;
            if (migrated is null)
            {
                original.FinishOpen(evolution, options, readOnly);
                if (readOnly)
                {
                    original._commits.RefuseWrites();
                }

                return original;
            }
        }
        catch
        {
            Unmap(mapping, domain);

            throw;
        }

        // The migrated copy is the pool file now: the open starts again on it, and only then is the replaced file's
        // lock let go (an opener could otherwise take the new file in between), with its mapping and pages.
        try
        {
            var pool = OpenFile(path, layout, options with { MigrateInPlace = true }, readOnly: false);
            pool._migratedAtOpen.AddRange(migrated);
            pool.RecoveredTransactions = original.RecoveredTransactions;
            return pool;
        }
        finally
        {
            domain.Dispose();
        }
    }
}
