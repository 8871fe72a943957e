// PoolExceptions -- the errors a pool reports, all PoolException (an IOException) naming the file.
using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>Base of every error about a pool file: carries the file's path (or a description of the memory it lives in).</summary>
public class PoolException : IOException
{
    /// <summary>Creates the exception.</summary>
    public PoolException(string path, string message, Exception? inner = null)
        : base($"{path}: {message}", inner)
    {
        PoolPath = path;
    }

    /// <summary>The pool file (or domain description) the error is about.</summary>
    public string PoolPath { get; }
}

/// <summary>
/// The file is not a pool, is truncated, or its header or heap metadata is corrupted (bad magic, bad checksum,
/// impossible sizes, an invalid chunk or allocation header, an invalid log). The file is left unchanged.
/// </summary>
public sealed class PoolCorruptedException(string path, string message) : PoolException(path, message);

/// <summary>The pool was created with another layout name than the one the program asked for. The file is left unchanged.</summary>
public sealed class PoolLayoutMismatchException(string path, string expected, string actual)
    : PoolException(path, $"the pool's layout is '{actual}', not '{expected}'")
{
    /// <summary>The layout name the caller asked for.</summary>
    public string ExpectedLayout { get; } = expected;

    /// <summary>The layout name recorded in the pool.</summary>
    public string ActualLayout { get; } = actual;
}

/// <summary>The pool was written in another format version than this library reads (newer, or an older one without a migration). The file is left unchanged.</summary>
public sealed class PoolVersionException(string path, uint version, uint oldestSupported, uint supported)
    : PoolException(path, version > supported
        ? $"format version {version} is newer than the newest supported version {supported}"
        : $"format version {version} is older than the oldest supported version {oldestSupported} and cannot be opened by this release")
{
    /// <summary>The version recorded in the file.</summary>
    public uint Version { get; } = version;

    /// <summary>The newest version this library reads (the one it gives new pools).</summary>
    public uint SupportedVersion { get; } = supported;

    /// <summary>The oldest version this library reads.</summary>
    public uint OldestSupportedVersion { get; } = oldestSupported;

    /// <summary>True when the file is of an older format than this library reads (false when it is newer).</summary>
    public bool IsOlder => Version < OldestSupportedVersion;
}

/// <summary>
/// Another opener (this process or another) holds the pool. The file is left unchanged. The message names the
/// holding processes when the OS tells (Linux: <c>/proc/locks</c>).
/// </summary>
public sealed class PoolLockedException : PoolException
{
    /// <summary>A pool at <paramref name="path"/> found locked; looks up who holds it.</summary>
    public PoolLockedException(string path)
        : this(path, FileLockHolders.Of(path))
    {
    }

    private PoolLockedException(string path, IReadOnlyList<FileLockHolder> holders)
        : base(path, holders.Count == 0
            ? "the pool is already open (it is locked by another opener)"
            : $"the pool is already open by {string.Join("; ", holders)}")
    {
        Holders = holders;
    }

    /// <summary>The processes holding the pool, as far as the OS tells (empty when it does not).</summary>
    public IReadOnlyList<FileLockHolder> Holders { get; }
}

/// <summary>
/// A write (a transaction, a batch, a property set, an allocation, a growth) on a pool opened with
/// <see cref="PersistentPool.OpenReadOnly"/>. Nothing is written.
/// </summary>
public sealed class PoolReadOnlyException(string path)
    : PoolException(path, "the pool was opened read-only; open it with PersistentPool.Open to change it");

/// <summary>
/// The pool has no room for an allocation and cannot grow further (it is at its maximum size, or growing the file
/// failed: the disk is full, for example, and then <see cref="Exception.InnerException"/> says why); the pool stays
/// consistent and keeps its size.
/// </summary>
public sealed class PoolOutOfSpaceException : PoolException
{
    /// <summary>Creates the exception for a pool at its maximum size.</summary>
    public PoolOutOfSpaceException(string path, long requested)
        : base(path, $"out of space: no room for {requested} bytes (grow the pool or raise its maximum size)") => RequestedBytes = requested;

    /// <summary>Creates the exception with what the pool was doing when it ran out of room (a migration).</summary>
    internal PoolOutOfSpaceException(string path, long requested, string message, PoolOutOfSpaceException inner)
        : base(path, message, inner) => RequestedBytes = requested;

    /// <summary>Creates the exception for a pool whose file could not grow.</summary>
    public PoolOutOfSpaceException(string path, long requested, Exception growthFailure)
        : base(path, $"out of space: no room for {requested} bytes, and the pool file could not grow ({growthFailure.Message})", growthFailure) => RequestedBytes = requested;

    /// <summary>Creates the exception with a message of its own (what did not fit, and what to do).</summary>
    internal PoolOutOfSpaceException(string path, long requested, string message, Exception? inner)
        : base(path, message, inner) => RequestedBytes = requested;

    /// <summary>Bytes the failed allocation asked for.</summary>
    public long RequestedBytes { get; }
}

/// <summary>
/// A persistent type's stored layout differs from the compiled one (fields were added, removed or changed) and no
/// migration path exists.
/// </summary>
public sealed class PersistentLayoutMismatchException(string path, string typeName, ulong stored, ulong compiled)
    : PoolException(path, $"type '{typeName}' was stored with layout {stored:x16}, but the program's layout is {compiled:x16}")
{
    /// <summary>The type's durable name.</summary>
    public string TypeName { get; } = typeName;
}

/// <summary>
/// A transaction's log does not fit where it must go: with a write-ahead log (<see cref="PoolOpenOptions.WriteAheadLog"/>),
/// one record of the log file holds at most a quarter of it (16 MiB: about 160,000 new objects in one transaction).
/// Without one a pool never throws it: a log too large for its lane slot goes to a heap block
/// (<see cref="PoolOutOfSpaceException"/> when there is no room). The transaction is rolled back; nothing is written.
/// </summary>
public sealed class TransactionTooLargeException : PoolException
{
    /// <summary>A log of <paramref name="needed"/> bytes where a lane's slot holds <paramref name="capacity"/>.</summary>
    public TransactionTooLargeException(string path, long needed, long capacity)
        : this(path, needed, capacity, "a log slot holds")
    {
    }

    internal TransactionTooLargeException(string path, long needed, long capacity, string limit)
        : base(path, $"the transaction needs {needed} bytes of log but {limit} {capacity}")
    {
    }
}

/// <summary>
/// A persistent class changed in a way the pool cannot migrate by itself (or was written by a newer program): the
/// message names the type, each property, its stored and compiled shapes, and what to write. The file is unchanged.
/// </summary>
public sealed class PersistentSchemaException(string path, string typeName, IReadOnlyList<string> problems)
    : PoolException(path, $"the stored schema of '{typeName}' does not match the program: {string.Join("; ", problems)}")
{
    /// <summary>The durable name of the type.</summary>
    public string TypeName { get; } = typeName;

    /// <summary>Each problem, with its remedy.</summary>
    public IReadOnlyList<string> Problems { get; } = problems;

    /// <summary>
    /// Whether a changed class was stored by a release before schema records (format 3), so its stored properties are
    /// unknown: opening once with the program that wrote the pool records them, after which it migrates.
    /// </summary>
    public bool IsStoredSchemaUnknown => Problems.Any(problem => problem.Contains(SchemaPlan.UnknownStoredSchema, StringComparison.Ordinal));
}

/// <summary>
/// A unique index (<c>[Indexed(Unique = true)]</c>) would hold one value for two objects: the write that tried it
/// changed nothing (the running transaction rolls back when the exception leaves it); at open, a property newly
/// declared unique already holds a value twice, and the index is not built.
/// </summary>
public sealed class PersistentUniqueConstraintException(string path, string typeName, string propertyName, string value, long existingObject)
    : PoolException(path, $"'{typeName}.{propertyName}' is unique, and the object at offset {existingObject} holds {value} already")
{
    /// <summary>The durable name of the type.</summary>
    public string TypeName { get; } = typeName;

    /// <summary>The unique property.</summary>
    public string PropertyName { get; } = propertyName;

    /// <summary>The object that holds the value already.</summary>
    public long ExistingObject { get; } = existingObject;
}

/// <summary>
/// A migration hook (<see cref="PoolMigrations"/>) threw while an open migrated the pool; the hook's exception is the
/// <see cref="Exception.InnerException"/>. A migration through a copy of the file leaves the file as it was; one in
/// place (persistent memory, <c>ProcessCrash</c> pools, <see cref="PoolOpenOptions.MigrateInPlace"/>) stays
/// interrupted, its finished batches committed, until the program version that started it opens the pool with a hook
/// that no longer throws.
/// </summary>
public sealed class PersistentMigrationException(string path, string typeName, long objectOffset, Exception inner)
    : PoolException(path, $"the migration hook of '{typeName}' threw for the object at offset {objectOffset}: {inner.GetType().Name}: {inner.Message}", inner)
{
    /// <summary>The durable name of the class being migrated.</summary>
    public string TypeName { get; } = typeName;

    /// <summary>Where the object the hook was migrating is stored (<see cref="StoredObject.Offset"/>).</summary>
    public long ObjectOffset { get; } = objectOffset;
}
