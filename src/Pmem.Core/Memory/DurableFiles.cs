// DurableFiles -- making a file's contents and a directory entry durable (fsync), for publishing a file by rename.
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pmem.Memory;

/// <summary>fsync of a file and of a directory: what publishing a new file by an atomic rename needs (backups, compactions).</summary>
internal static partial class DurableFiles
{
    /// <summary>
    /// Whether two paths name one file: the same full path, or (on Linux, both existing) the same device and inode, so
    /// a symbolic or hard link to a file counts as the file.
    /// </summary>
    public static bool IsSameFile(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal) ||
        (OperatingSystem.IsLinux() && LibC.FileStatus(a, out var first) == 0 && LibC.FileStatus(b, out var second) == 0 &&
         (first.DevMajor, first.DevMinor, first.Inode) == (second.DevMajor, second.DevMinor, second.Inode));

    /// <summary>
    /// Locks an existing <paramref name="destination"/> (flock, exclusive) until disposed, so that it is replaced only
    /// while no program has it open: an open pool holds that lock, and a rename over it would leave the program writing
    /// a file nobody can open again. Null when the destination does not exist (or cannot be read, so cannot be a pool
    /// someone else opened).
    /// </summary>
    /// <exception cref="IOException">An opener holds the destination now; the message names the processes.</exception>
    public static FileStream? LockForReplacing(string destination)
    {
        try
        {
            if (!File.Exists(destination))
            {
                return null;
            }

            if (FileLockHolders.Open(destination, FileAccess.Read, FileShare.None, FileOptions.None) is { } held)
            {
                return held;
            }
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            return null;
        }

        var holders = FileLockHolders.Of(destination);
        throw new IOException($"{destination}: the destination is open by {(holders.Count == 0 ? "another program" : string.Join("; ", holders))}; it is not replaced.");
    }

    /// <summary>Makes <paramref name="path"/>'s contents and size durable.</summary>
    /// <exception cref="IOException">The file cannot be opened or synced, or an opener holds it exclusively.</exception>
    public static void SyncFile(string path)
    {
        // A pool just closed may stay locked for a moment by a child another thread is starting: waited out.
        using var stream = FileLockHolders.Open(path, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.None)
            ?? throw new IOException($"{path}: cannot be synced, another opener holds it");
        if (LibC.Fsync((int)stream.SafeFileHandle.DangerousGetHandle()) != 0)
        {
            throw PmemIOException.FromErrno("fsync", path, Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Starts writing a range of <paramref name="file"/> to disk without waiting for it, so that a later fsync finds
    /// less to do while a long copy is still producing the rest (Linux; elsewhere, and where it fails, nothing).
    /// </summary>
    public static void StartWriteback(SafeFileHandle file, long offset, long length)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = LibC.SyncFileRange((int)file.DangerousGetHandle(), offset, length, LibC.SYNC_FILE_RANGE_WRITE);
        }
    }

    /// <summary>Makes the entries of <paramref name="directory"/> durable: a rename into it survives a power failure.</summary>
    /// <exception cref="IOException">The directory cannot be opened or synced.</exception>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = LibC.Open(directory, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw PmemIOException.FromErrno("open of the directory", directory, Marshal.GetLastPInvokeError());
        }

        try
        {
            if (LibC.Fsync(fd) != 0)
            {
                throw PmemIOException.FromErrno("fsync of the directory", directory, Marshal.GetLastPInvokeError());
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// Renames <paramref name="temporary"/> (already flushed to disk) to <paramref name="destination"/> and makes the
    /// rename durable: after a crash the destination holds either its old content or the new, whole.
    /// </summary>
    /// <exception cref="IOException">The rename or the directory sync failed.</exception>
    public static void Publish(string temporary, string destination, bool overwrite)
    {
        File.Move(temporary, destination, overwrite);
        Finished(temporary);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
    }

    /// <summary>
    /// Renames <paramref name="temporary"/> (its content durable already) to <paramref name="destination"/> only if no
    /// file has that name, atomically (a hard link, then the temporary name removed: <see cref="File.Move(string, string, bool)"/>
    /// checks, then renames, and two such renames both succeed), and makes the name durable.
    /// </summary>
    /// <exception cref="PmemFileExistsException">The destination exists.</exception>
    /// <exception cref="IOException">The link, or the directory sync, failed (<see cref="PmemFileNotFoundException"/>: the temporary is gone).</exception>
    public static void PublishNew(string temporary, string destination)
    {
        if (LibC.Link(temporary, destination) == 0)
        {
            File.Delete(temporary);
        }
        else if (Marshal.GetLastPInvokeError() is var errno && errno is LibC.EPERM or LibC.EOPNOTSUPP or LibC.EXDEV or LibC.EMLINK)
        {
            File.Move(temporary, destination, overwrite: false); // a file system without hard links: the check-then-rename is all there is
        }
        else
        {
            throw PmemIOException.FromErrno("link", destination, errno);
        }

        Finished(temporary);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
    }

    /// <summary>
    /// Gives <paramref name="copy"/> the permission bits of <paramref name="original"/> and, with <paramref name="owner"/>,
    /// its owner and group: a file that replaces another (a compaction, a migration's copy) or sits beside it (its
    /// write-ahead log) must not change who may open the pool, and a copy of a private pool stays private. The owner
    /// is given as far as this process may (root, or a group it is in); a change it may not make is left undone.
    /// </summary>
    public static void CopyAccess(string original, string copy, bool owner)
    {
        if (!OperatingSystem.IsLinux() || LibC.FileStatus(original, out var source) != 0)
        {
            return;
        }

        if (owner && LibC.FileStatus(copy, out var made) == 0 && (made.Uid, made.Gid) != (source.Uid, source.Gid))
        {
            _ = LibC.Chown(copy, source.Uid, source.Gid) == 0 || LibC.Chown(copy, uint.MaxValue, source.Gid) == 0; // (uid_t)-1: the group alone
        }

        File.SetUnixFileMode(copy, (UnixFileMode)(source.Mode & 0x1FF)); // after the chown, which may clear mode bits
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="replacement"/> (same directory) atomically: syncs the
    /// replacement, renames it over the path, and makes the rename durable. With <paramref name="overwrite"/> false
    /// the path must not exist yet (the rename fails if it does).
    /// </summary>
    public static void Replace(string replacement, string path, bool overwrite = true)
    {
        SyncFile(replacement);
        Publish(replacement, path, overwrite);
    }
}
