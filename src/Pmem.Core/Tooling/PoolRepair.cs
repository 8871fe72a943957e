// PoolRepair -- mending a damaged pool file: a dry run on a private copy, or a backup copy and then the repair itself.
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>One thing a repair does (or, in a dry run, would do).</summary>
/// <param name="Kind">
/// <c>null-reference</c> (a reference field or the root pointed to no object of its type), <c>null-string</c>,
/// <c>null-element</c> (a list element or dictionary value), <c>remove-entry</c> (a dictionary entry whose key was
/// bad), <c>drop-collection</c> (storage or header beyond repair: the owner's field reads as a new empty collection),
/// <c>recount-collection</c> (counts set from the storage), <c>rebuild-dictionary</c> (a table lookups would miss
/// entries of, rebuilt), <c>free-unreachable</c> (a block nothing finds; with <c>freeDetached</c>, any the root does not
/// reach), <c>free-unreadable</c> (an object the root does not reach that cannot be read), <c>drop-index</c> (an index
/// that disagrees with its objects), <c>rebuild-index</c> (a dropped index built again from the objects) or
/// <c>index-not-rebuilt</c> (a dropped unique index whose objects now repeat a value, or no room: it stays dropped).
/// </param>
/// <param name="Offset">The block changed or freed.</param>
/// <param name="Type">The durable type name of that block (<c>string</c>, <c>list</c>, … for the built-in kinds).</param>
/// <param name="Description">What is done and why.</param>
public sealed record PoolRepairAction(string Kind, long Offset, string Type, string Description);

/// <summary>What <see cref="PoolRepair.Run"/> did or would do.</summary>
/// <param name="Path">The pool file.</param>
/// <param name="Applied">False for a dry run: the file was not changed.</param>
/// <param name="BackupPath">Where the pool was copied before the repair (null for a dry run).</param>
/// <param name="Actions">The actions, in the order they are applied.</param>
public sealed record PoolRepairResult(string Path, bool Applied, string? BackupPath, IReadOnlyList<PoolRepairAction> Actions);

/// <summary>
/// Repair of a damaged pool — what <c>pmem check --repair</c> runs: nulls dangling and mistyped references, removes
/// dictionary entries with bad keys, drops collections whose storage cannot be trusted, recounts collections whose
/// counts disagree with their storage, and frees every block nothing finds (a string or collection no object holds),
/// until <see cref="PersistentPool.Check"/> is clean.
/// </summary>
/// <remarks>
/// Objects the root does not reach (<see cref="PoolCheckReport.Detached"/>: <c>pool.All&lt;T&gt;()</c> and indexes find
/// them) are kept, and checked and mended like the rest, unless <c>freeDetached</c> asks to free them as leaks (for a
/// program that finds its objects only from the root). Every change is made in transactions after the open's recovery,
/// so no committed transaction is dropped. The pool must not be open anywhere (<see cref="PoolLockedException"/>).
/// </remarks>
public static class PoolRepair
{
    /// <summary>Repairs an open pool in place (no copy, no backup): the actions taken.</summary>
    /// <param name="pool">The pool; no transaction may be running on it.</param>
    /// <param name="freeDetached">Also free the objects the root does not reach, with what they hold (by default they are kept: <c>All&lt;T&gt;()</c> finds them).</param>
    /// <exception cref="PoolCorruptedException">A schema migration is unfinished, or the damage is beyond these repairs (the actions until then are committed).</exception>
    public static IReadOnlyList<PoolRepairAction> Repair(PersistentPool pool, bool freeDetached = false)
    {
        ArgumentNullException.ThrowIfNull(pool);
        return [.. pool.Repair(freeDetached).Select(s => new PoolRepairAction(s.Kind, s.Offset, s.Type, s.Description))];
    }

    /// <summary>
    /// Repairs the pool file at <paramref name="path"/>. A dry run (<paramref name="apply"/> false) repairs a private copy
    /// in <paramref name="tempDirectory"/> (default: the system's) and deletes it: the file is not changed, and the actions
    /// listed are exactly those an apply would take. With <paramref name="apply"/> the file is first copied to
    /// <paramref name="backupPath"/> (default: <see cref="DefaultBackupPath"/>), synced, then opened and repaired.
    /// </summary>
    /// <param name="path">The pool file.</param>
    /// <param name="layout">Its layout name.</param>
    /// <param name="apply">False for a dry run on a private copy; true to back up and repair the file.</param>
    /// <param name="backupPath">Where an apply copies the pool first (must not exist).</param>
    /// <param name="tempDirectory">Where a dry run's private copy goes.</param>
    /// <param name="freeDetached">Also free the objects the root does not reach (see <see cref="Repair"/>).</param>
    /// <exception cref="PoolLockedException">The pool is open (in this or another process).</exception>
    /// <exception cref="PoolCorruptedException">Not a pool, or damaged beyond these repairs.</exception>
    /// <exception cref="IOException">The copy or backup cannot be written (the pool is unchanged), or the backup path exists.</exception>
    public static PoolRepairResult Run(string path, string layout, bool apply, string? backupPath = null, string? tempDirectory = null, bool freeDetached = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var copy = apply ? backupPath ?? UnusedBackupPath(path) : System.IO.Path.Combine(tempDirectory ?? System.IO.Path.GetTempPath(), $"pmem-repair-{Guid.NewGuid():N}.pool");
        if (!apply)
        {
            DurableFiles.Track(copy); // a dry run stopped by a signal leaves no private copy behind (see DurableFiles.DeleteUnfinished)
        }

        CopyUnderSharedLock(path, copy, publish: apply);
        PersistentPool pool;
        try
        {
            pool = PersistentPool.Open(apply ? path : copy, layout);
        }
        catch
        {
            DeleteCopy(copy); // nothing was changed: a backup of it is not needed
            throw;
        }

        try
        {
            return new PoolRepairResult(path, apply, apply ? copy : null, Repair(pool, freeDetached));
        }
        finally
        {
            pool.Dispose();
            if (!apply)
            {
                DeleteCopy(copy);
            }
        }
    }

    /// <summary>The backup a repair makes by default: beside the pool, <c>&lt;pool&gt;.before-repair-&lt;UTC yyyyMMddHHmmss&gt;</c>.</summary>
    public static string DefaultBackupPath(string path) => $"{path}.before-repair-{DateTime.UtcNow:yyyyMMddHHmmss}";

    /// <summary><see cref="DefaultBackupPath"/>, or with <c>-2</c>, <c>-3</c>, … when a repair in the same second made that one.</summary>
    private static string UnusedBackupPath(string path)
    {
        var first = DefaultBackupPath(path);
        var backup = first;
        for (var n = 2; File.Exists(backup) || File.Exists(PersistentPool.WriteAheadLogPath(backup)); n++)
        {
            backup = $"{first}-{n}";
        }

        return backup;
    }

    /// <summary>
    /// Copies the file under a shared lock (refused while a pool holds it open), synced, with its write-ahead log if it
    /// has one. A backup (<paramref name="publish"/>) is written beside its name and renamed when whole, the log
    /// first: a full disk or a signal never leaves a truncated file under a backup's name. A failed copy is deleted.
    /// </summary>
    private static void CopyUnderSharedLock(string path, string destination, bool publish)
    {
        if (!File.Exists(path))
        {
            throw new PmemFileNotFoundException($"{path}: no such file", path, 2);
        }

        if (File.Exists(destination))
        {
            throw new IOException($"{destination}: the backup file exists");
        }

        // A read-only FileStream takes flock(LOCK_SH), which fails while an open pool holds LOCK_EX.
        var source = FileLockHolders.Open(path, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan) ?? throw new PoolLockedException(path);
        var log = PersistentPool.WriteAheadLogPath(path);
        var (copy, logCopy) = publish
            ? (DurableFiles.TemporaryBeside(destination, "repair"), DurableFiles.TemporaryBeside(PersistentPool.WriteAheadLogPath(destination), "repair"))
            : (destination, PersistentPool.WriteAheadLogPath(destination));
        try
        {
            using (source)
            {
                try
                {
                    WriteCopy(source, log, copy, logCopy, destination, publish);
                }
                catch (Exception e) when (FileWriteException.IsWriteFailure(e))
                {
                    throw new FileWriteException(publish ? destination : System.IO.Path.GetDirectoryName(destination)!, e);
                }
            }
        }
        catch
        {
            if (Directory.Exists(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(copy))))
            {
                DeleteCopy(copy);
                File.Delete(logCopy);
            }

            throw;
        }
    }

    /// <summary>Writes the copy (and its log), synced; a backup is published under its names, the log first.</summary>
    private static void WriteCopy(FileStream source, string log, string copy, string logCopy, string destination, bool publish)
    {
        using (var target = new FileStream(copy, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            DurableFiles.CopyAccess(source.Name, copy, owner: false); // before any byte: a copy of a private pool stays private
            source.CopyTo(target, 1 << 20);
            target.Flush(flushToDisk: true);
        }

        // After a crash the pool's write-ahead log holds commits the file lacks: the copy needs it beside it.
        var logPublished = false;
        if (File.Exists(log))
        {
            File.Copy(log, logCopy);
            DurableFiles.SyncFile(logCopy);
            if (publish)
            {
                DurableFiles.Publish(logCopy, PersistentPool.WriteAheadLogPath(destination), overwrite: false);
                logPublished = true;
            }
        }

        if (publish)
        {
            try
            {
                DurableFiles.Publish(copy, destination, overwrite: false);
            }
            catch when (logPublished)
            {
                File.Delete(PersistentPool.WriteAheadLogPath(destination)); // published before its pool: not a backup without it
                throw;
            }
        }
    }

    /// <summary>Deletes a copy this made, with its write-ahead log if it has one.</summary>
    private static void DeleteCopy(string copy)
    {
        File.Delete(copy);
        File.Delete(PersistentPool.WriteAheadLogPath(copy));
        DurableFiles.Finished(copy);
    }
}
