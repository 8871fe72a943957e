// DurableFiles -- making a new file's name durable: fsync of the directory that holds it, after a rename.
using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>Helpers for files written whole and then renamed into place (backups, compactions).</summary>
internal static class DurableFiles
{
    /// <summary>
    /// Renames <paramref name="temporary"/> (already flushed to disk) to <paramref name="destination"/> and makes the
    /// rename durable by syncing the directory: after a crash the destination holds either its old content or the new.
    /// </summary>
    /// <exception cref="IOException">The rename or the directory sync failed.</exception>
    public static void Publish(string temporary, string destination, bool overwrite)
    {
        File.Move(temporary, destination, overwrite);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
    }

    /// <summary>fsync of a directory, so that names created or renamed in it survive a power failure.</summary>
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
}
