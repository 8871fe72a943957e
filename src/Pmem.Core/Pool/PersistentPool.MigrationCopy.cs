// PersistentPool (migration through a copy) -- a pool file on an ordinary disk migrated in a copy beside it, published by rename.
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using Pmem.Log;
using Pmem.Memory;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>The file a migration through a copy builds beside the pool file: its path with <c>.migrating</c> appended.</summary>
    internal static string MigrationCopyPath(string file) => file + ".migrating";

    /// <summary>
    /// Whether an open that migrates should do it in a copy: only on an ordinary file (msync), where every migration
    /// transaction would otherwise sync its pages, and only with room on the file system for a second copy.
    /// </summary>
    private static bool MigratesThroughCopy(PersistenceDomain domain, EvolutionWork evolution, PoolOpenOptions options, string file) =>
        evolution.Migrates && !options.MigrateInPlace && domain is MsyncDomain && HasRoomForCopy(file, domain.Length);

    private static bool HasRoomForCopy(string file, long length)
    {
        try
        {
            var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file))!;
            return new DriveInfo(directory).AvailableFreeSpace > length + (length >> 4);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return true; // the OS does not say: the copy finds out, and the migration then runs in place
        }
    }

    /// <summary>
    /// Runs this recovered pool's schema evolution in a copy of its file and publishes the copy over the file: the file
    /// is copied, the copy opened without syncs (its stores reach the page cache; nothing reads it before it is whole),
    /// migrated and closed cleanly, synced once, and renamed over the pool file. This pool stays open and locked until
    /// then, so nobody writes the file meanwhile; a crash before the rename leaves the file as recovery left it, with
    /// the old schema (the copy is a leftover the next such open deletes), after it the migrated pool.
    /// </summary>
    /// <returns>What the migration reports for <see cref="MigratedAtOpen"/>; null when the file could not be copied
    /// (the copy is removed and this pool is untouched: the caller migrates in place).</returns>
    /// <remarks>Whatever the migration throws (a migration hook's exception, a full pool) propagates; the pool file is then unchanged.</remarks>
    /// <param name="target">The pool file itself, not a symbolic link to it: the copy is renamed over the file.</param>
    /// <param name="layout">The pool's layout name.</param>
    /// <param name="options">The open's types and migrations.</param>
    private IReadOnlyList<string>? MigrateInCopy(string target, string layout, PoolOpenOptions options)
    {
        if (OperatingSystem.IsWindows())
        {
            return null; // pool files are Linux's (mmap, flock); the copy needs its file modes
        }

        var copy = MigrationCopyPath(target);
        try
        {
            File.Delete(copy); // only an opener holding the pool's lock builds it: a crashed migration's leftover
            CopyMappingTo(copy, target);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DurableFiles.DeleteQuietly(copy); // no room, or no right to create a file beside it
            return null;
        }

        AbandonOpen(); // closes the original's commits as a close does; its lock stays held until the copy replaces it
        try
        {
            var migrated = MigrateCopy(copy, Path, layout, options);
            DurableFiles.CopyAccess(target, copy, owner: true); // the migrated pool is opened by whoever opened the old one
            DurableFiles.Replace(copy, target);
            return migrated;
        }
        catch
        {
            DurableFiles.DeleteQuietly(copy);
            throw;
        }
    }

    /// <summary>
    /// Copies the mapping into a new file (the pool file's own lock keeps other readers of it out, File.Copy too):
    /// every byte but the bodies of free chunks, which stay holes (the copy's open gives them blocks). Only logs too large for their slot lie in free chunks (in blocks reserved, not
    /// allocated) and recovery reads them even retired: whatever a slot's header names is copied too, damaged or not.
    /// The page cache holds the copy until the migrated copy is synced.
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    private void CopyMappingTo(string copy, string original)
    {
        using var file = new FileStream(copy, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0,
        });
        File.SetUnixFileMode(file.SafeFileHandle, File.GetUnixFileMode(original)); // the pool file's, not the umask's
        var length = _domain.Length;
        file.SetLength(length);

        long copied = 0;
        _heap.ForEachFreeBody((free, freeLength) =>
        {
            CopyRange(file.SafeFileHandle, copied, free - copied);
            copied = free + freeLength;
        });
        CopyRange(file.SafeFileHandle, copied, length - copied);
        ForEachLogOutsideSlots((external, bytes) => CopyRange(file.SafeFileHandle, external, bytes));
    }

    private void CopyRange(SafeFileHandle file, long offset, long length)
    {
        const int Piece = 4 << 20;
        for (var end = offset + length; offset < end; offset += Piece)
        {
            RandomAccess.Write(file, _domain.GetSpan(offset, (int)Math.Min(Piece, end - offset)), offset);
        }
    }

    /// <summary>Opens the copy (stores reach the page cache, nothing is synced), runs its evolution and closes it cleanly.</summary>
    private static IReadOnlyList<string> MigrateCopy(string copy, string description, string layout, PoolOpenOptions options)
    {
        var mapping = PmemMapping.Map(copy, 0, MapFlags.None, reserve: Math.Max(GrowthLimit(copy, options), new FileInfo(copy).Length));
        PersistenceDomain? domain = null;
        try
        {
            if (!mapping.TryLockExclusive())
            {
                throw new PoolLockedException(copy);
            }

            mapping.AllocateHoles(); // the free chunks the copy left out: a full disk fails before the migration

            domain = mapping.CreateDomain(DurabilityMode.ProcessCrash);
            using var pool = Open(domain, layout, options with { MigrateInPlace = true, MigrationInputsChecked = true }, description, readOnly: false);
            domain = null; // the pool owns it now
            return [.. pool.MigratedAtOpen];
        }
        catch
        {
            Unmap(mapping, domain);

            throw;
        }
    }
}
