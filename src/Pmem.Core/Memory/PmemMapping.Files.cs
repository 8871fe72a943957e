// PmemMapping (files) -- the file under a mapping: opening or creating it (O_EXCL, O_TMPFILE), the errors of open as
// exceptions, setting its size with its blocks allocated, and recognising a Device DAX character device.
using System.Runtime.InteropServices;
using System.Text;

namespace Pmem.Memory;

public sealed unsafe partial class PmemMapping
{
    private static FileDescriptorHandle OpenFile(string path, MapFlags flags, UnixFileMode mode, out string? createdPath)
    {
        createdPath = null;
        int fd;
        if ((flags & MapFlags.Create) != 0)
        {
            // O_EXCL first, so we know whether this call created the file (and must delete it on failure).
            fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC, (int)mode);
            if (fd >= 0)
            {
                createdPath = path;
                return new FileDescriptorHandle(fd);
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.EEXIST || (flags & MapFlags.Exclusive) != 0)
            {
                throw OpenFailure(path, errno, exclusive: (flags & MapFlags.Exclusive) != 0, creating: true);
            }
        }

        bool readOnly = (flags & MapFlags.PrivateCopy) != 0;
        fd = LibC.Open(path, (readOnly ? LibC.O_RDONLY : LibC.O_RDWR) | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw OpenFailure(path, Marshal.GetLastPInvokeError(), exclusive: false, readOnly);
        }

        return new FileDescriptorHandle(fd);
    }

    private static Exception OpenFailure(string path, int errno, bool exclusive, bool readOnly = false, bool creating = false) => errno switch
    {
        LibC.ENOENT when creating => new PmemFileNotFoundException($"'{path}' cannot be created: its directory does not exist ({LibC.Describe(errno)}).", path, errno),
        LibC.ENOENT => new PmemFileNotFoundException($"'{path}' does not exist ({LibC.Describe(errno)}).", path, errno),
        LibC.EEXIST when exclusive => new PmemFileExistsException($"'{path}' already exists, and creating never overwrites a file ({LibC.Describe(errno)}).", path, errno),
        LibC.EISDIR => new PmemIOException($"'{path}' is a directory ({LibC.Describe(errno)}); use MapFlags.TempFile to map an unnamed file in it.", path, errno),
        LibC.EACCES or LibC.EPERM or LibC.EROFS => new PmemAccessDeniedException($"'{path}' cannot be opened for {(readOnly ? "reading" : "reading and writing")} ({LibC.Describe(errno)}).", path, errno),
        _ => PmemIOException.FromErrno("open", path, errno),
    };

    private static FileDescriptorHandle OpenTempFile(string directory, UnixFileMode mode)
    {
        int fd = LibC.Open(directory, LibC.O_TMPFILE | LibC.O_RDWR | LibC.O_CLOEXEC, (int)mode);
        if (fd >= 0)
        {
            return new FileDescriptorHandle(fd);
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno == LibC.ENOTDIR)
        {
            throw new PmemIOException($"'{directory}' is not a directory; MapFlags.TempFile needs one ({LibC.Describe(errno)}).", directory, errno);
        }

        if (errno is LibC.ENOENT or LibC.EACCES or LibC.EPERM or LibC.EROFS)
        {
            throw OpenFailure(directory, errno, exclusive: false);
        }

        // The file system has no O_TMPFILE: create a unique file and unlink it at once, as libpmem does.
        byte[] template = Encoding.UTF8.GetBytes(System.IO.Path.Combine(directory, "pmem.XXXXXX") + "\0");
        fixed (byte* t = template)
        {
            fd = LibC.Mkstemp(t);
            if (fd < 0)
            {
                throw PmemIOException.FromErrno("mkstemp in", directory, Marshal.GetLastPInvokeError());
            }

            LibC.Unlink(Encoding.UTF8.GetString(template, 0, template.Length - 1));
        }

        LibC.Fchmod(fd, (int)mode);
        return new FileDescriptorHandle(fd);
    }

    /// <summary>
    /// Gives the holes of a sparse file (a backup, a copy made with <c>cp --sparse</c>) their blocks, up to
    /// <paramref name="used"/> bytes (what the pool uses: a growth a crash cut short leaves a longer file, whose tail
    /// gets its blocks when a growth reaches it), so that a full disk fails here and not as SIGBUS at a later store
    /// into the mapping. Does nothing for an allocated file.
    /// </summary>
    /// <exception cref="PmemIOException">The file system has no room for the file's blocks.</exception>
    internal void AllocateHoles(long used = long.MaxValue)
    {
        if (LibC.FileStatus(_file.Fd, out var info) == 0 && (info.Mode & LibC.S_IFMT) == LibC.S_IFREG && info.Blocks * 512 < info.Size)
        {
            AllocateRange(0, Math.Min(used, info.Size));
        }
    }

    /// <summary>Allocates the file's blocks from <paramref name="start"/> to <paramref name="end"/> (inside the file; quick where they are).</summary>
    /// <exception cref="PmemIOException">The file system has no room for them.</exception>
    internal void AllocateRange(long start, long end)
    {
        if (end <= start || IsDeviceDax || IsPrivateCopy)
        {
            return;
        }

        int error = LibC.PosixFallocate(_file.Fd, start, end - start);
        if (error != 0)
        {
            throw PmemIOException.FromErrno($"posix_fallocate of {end - start} bytes at {start}", Path, error);
        }
    }

    /// <summary>
    /// For a copy-on-write mapping of a sparse file on tmpfs: faults its holes in now, so that a full tmpfs, which needs
    /// a page to read a hole, fails here with an error instead of SIGBUS at a later read, which ends the process. Only
    /// the holes: the file's data is read when it is used. Does nothing for an allocated file, on other file systems
    /// (a hole reads as zeros there), or before Linux 5.14.
    /// </summary>
    /// <exception cref="PmemIOException">A hole cannot be read (no room for its page).</exception>
    internal void PopulateHolesForReading()
    {
        if (LibC.FileStatus(_file.Fd, out var info) != 0 || (info.Mode & LibC.S_IFMT) != LibC.S_IFREG || info.Blocks * 512 >= info.Size ||
            LibC.FileSystemType(_file.Fd) != LibC.TMPFS_MAGIC)
        {
            return;
        }

        var length = Math.Min(info.Size, Length);
        for (var data = 0L; data < length;)
        {
            var hole = LibC.Lseek(_file.Fd, data, LibC.SEEK_HOLE);
            if (hole < 0 || hole >= length)
            {
                return;
            }

            var next = LibC.Lseek(_file.Fd, hole, LibC.SEEK_DATA); // ENXIO: the hole runs to the end
            var end = next < 0 ? length : Math.Min(next, length);
            var start = hole & ~(Environment.SystemPageSize - 1L);
            if (LibC.Madvise((byte*)Address + start, (nuint)(end - start), LibC.MADV_POPULATE_READ) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EINVAL)
                {
                    return; // a kernel without it: reading stays as it was
                }

                throw new PmemIOException(
                    $"'{Path}' is a sparse file whose holes cannot be read (at offset {hole}: {LibC.Describe(errno)}); the file system may be out of space (a full tmpfs needs a page to read a hole)", Path, errno);
            }

            data = end;
        }
    }

    private static void SetFileSize(int fd, string path, long currentSize, long length, bool sparse)
    {
        if (currentSize != length && LibC.Ftruncate(fd, length) != 0)
        {
            throw PmemIOException.FromErrno($"ftruncate to {length} bytes", path, Marshal.GetLastPInvokeError());
        }

        if (!sparse)
        {
            // Allocate the blocks now, so a full disk fails here and not as SIGBUS on a later store.
            int error = LibC.PosixFallocate(fd, 0, length);
            if (error != 0)
            {
                throw PmemIOException.FromErrno($"posix_fallocate of {length} bytes", path, error);
            }
        }
    }

    /// <summary>Device DAX: /sys/dev/char/M:m/subsystem names "dax"; the size is in .../size; the region's deep_flush is found by the device path.</summary>
    private static (bool IsDeviceDax, long Size, string? DeepFlushFile) ProbeDeviceDax(string path, ulong rdev)
    {
        string sysDevice = $"/sys/dev/char/{rdev >> 32}:{rdev & 0xFFFFFFFF}";
        try
        {
            var subsystem = new DirectoryInfo(System.IO.Path.Combine(sysDevice, "subsystem")).ResolveLinkTarget(returnFinalTarget: true);
            if (subsystem is null || !subsystem.Name.StartsWith("dax", StringComparison.Ordinal))
            {
                return (false, 0, null);
            }

            long size = long.Parse(File.ReadAllText(System.IO.Path.Combine(sysDevice, "size")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            string? deepFlush = null;
            var device = new DirectoryInfo(System.IO.Path.Combine(sysDevice, "device")).ResolveLinkTarget(returnFinalTarget: true);
            for (var dir = device as DirectoryInfo; dir is not null; dir = dir.Parent)
            {
                if (dir.Name.StartsWith("region", StringComparison.Ordinal) && dir.Name.Length > 6 && char.IsAsciiDigit(dir.Name[6]))
                {
                    string candidate = $"/sys/bus/nd/devices/{dir.Name}/deep_flush";
                    deepFlush = File.Exists(candidate) ? candidate : null;
                    break;
                }
            }

            return (true, size, deepFlush);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new PmemIOException($"'{path}' looks like Device DAX but its size could not be read from {sysDevice}: {e.Message}", path, 0);
        }
    }
}
