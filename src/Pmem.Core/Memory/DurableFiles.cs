// DurableFiles -- making a file's contents and a directory entry durable (fsync), for publishing a file by rename.
using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>fsync of a file and of a directory: what publishing a new file by an atomic rename needs.</summary>
internal static class DurableFiles
{
    /// <summary>Makes <paramref name="path"/>'s contents and size durable.</summary>
    /// <exception cref="IOException">The file cannot be opened or synced.</exception>
    public static void SyncFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Flush(flushToDisk: true); // .NET: fsync for a file opened only to read as well
        if (LibC.Fsync((int)stream.SafeFileHandle.DangerousGetHandle()) != 0)
        {
            throw new IOException($"{path}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    /// <summary>Makes the entries of <paramref name="directory"/> durable: a rename into it survives a power failure.</summary>
    /// <exception cref="IOException">The directory cannot be opened or synced.</exception>
    public static void SyncDirectory(string directory)
    {
        var fd = LibC.Open(directory, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new IOException($"{directory}: cannot open the directory to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (LibC.Fsync(fd) != 0)
            {
                throw new IOException($"{directory}: fsync of the directory failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            LibC.Close(fd);
        }
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="replacement"/> (same directory) atomically: the rename is
    /// one step, so a crash leaves one file or the other, whole; then makes the rename durable.
    /// </summary>
    public static void Replace(string replacement, string path)
    {
        SyncFile(replacement);
        File.Move(replacement, path, overwrite: true);
        SyncDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
    }
}
