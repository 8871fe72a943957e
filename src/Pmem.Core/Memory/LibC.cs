using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>The libc calls the engine needs (Linux, x86-64 and arm64 share these constants).</summary>
/// <remarks>
/// <c>[SuppressGCTransition]</c> is used only for calls that are short and never block (mprotect, flock with
/// LOCK_NB, fstat); msync, open, fallocate and mmap of a file may block on I/O and keep the normal transition.
/// </remarks>
internal static unsafe partial class LibC
{
    private const string Lib = "libc";

    public const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    public const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_SHARED_VALIDATE = 0x03, MAP_FIXED = 0x10,
        MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000, MAP_SYNC = 0x80000, MAP_FIXED_NOREPLACE = 0x100000;
    public const int MS_SYNC = 4;
    public const int O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000,
        O_DIRECTORY = 0x10000, O_TMPFILE = 0x400000 | O_DIRECTORY;
    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;
    public const int ENOENT = 2, EINTR = 4, EACCES = 13, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
        EROFS = 30, EWOULDBLOCK = 11, EPERM = 1, EOPNOTSUPP = 95, ENOMEM = 12, EXDEV = 18, EMLINK = 31;

    public static readonly void* MAP_FAILED = (void*)-1;

    /// <summary>The part of <c>struct stat</c> the engine reads, filled by <see cref="FileStatus(int, out FileInfo)"/>.</summary>
    public struct FileInfo
    {
        public long Size;
        public long Blocks; // of 512 bytes: fewer than the size needs when the file is sparse
        public uint Mode;
        public ulong RDev;
        public ulong Inode;
        public uint Links; // 0 once the file was deleted while open
        public uint DevMajor;
        public uint DevMinor;
        public uint Uid;
        public uint Gid;
    }

    public const uint S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFCHR = 0x2000, S_IFDIR = 0x4000;

    [LibraryImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    /// <summary>madvise: map a range's pages writable now, in one call (Linux 5.14 and later; EINVAL before).</summary>
    public const int MADV_POPULATE_WRITE = 23;

    /// <summary>madvise: fault a range's pages in for reading now; a page that cannot be had is an error (EFAULT), not SIGBUS (Linux 5.14 and later).</summary>
    public const int MADV_POPULATE_READ = 22;

    public const int SEEK_DATA = 3, SEEK_HOLE = 4;

    [LibraryImport(Lib, EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);

    /// <summary>statfs's f_type of tmpfs (and /dev/shm): a file system that needs a page of memory to read a hole.</summary>
    public const long TMPFS_MAGIC = 0x01021994;

    [LibraryImport(Lib, EntryPoint = "fstatfs", SetLastError = true)]
    private static partial int Fstatfs(int fd, byte* buffer);

    /// <summary>The file system type (statfs's f_type, the struct's first word on 64-bit Linux) of an open file; 0 when unknown.</summary>
    public static long FileSystemType(int fd)
    {
        var buffer = stackalloc byte[256]; // struct statfs is 120 bytes on x86-64 and arm64
        return Fstatfs(fd, buffer) == 0 ? *(long*)buffer : 0;
    }

    [LibraryImport(Lib, EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(void* address, nuint length, int advice);

    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Munmap(void* address, nuint length);

    [LibraryImport(Lib, EntryPoint = "mprotect", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Mprotect(void* address, nuint length, int protection);

    [LibraryImport(Lib, EntryPoint = "msync", SetLastError = true)]
    public static partial int Msync(void* address, nuint length, int flags);

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    [LibraryImport(Lib, EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int Fdatasync(int fd);

    [LibraryImport(Lib, EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(int fd, long offset, long length, uint flags);

    public const uint SYNC_FILE_RANGE_WRITE = 2;

    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    /// <summary>Returns the error number itself (0 on success); it does not set errno.</summary>
    [LibraryImport(Lib, EntryPoint = "posix_fallocate")]
    public static partial int PosixFallocate(int fd, long offset, long length);

    [LibraryImport(Lib, EntryPoint = "flock", SetLastError = true)]
    [SuppressGCTransition]
    public static partial int Flock(int fd, int operation);

    [LibraryImport(Lib, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unlink(string path);

    /// <summary>link: a second name for a file; fails with EEXIST if the new name exists (never replaces it).</summary>
    [LibraryImport(Lib, EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Link(string existing, string newPath);

    [LibraryImport(Lib, EntryPoint = "mkstemp", SetLastError = true)]
    public static partial int Mkstemp(byte* template);

    [LibraryImport(Lib, EntryPoint = "fchmod", SetLastError = true)]
    public static partial int Fchmod(int fd, int mode);

    [LibraryImport(Lib, EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chown(string path, uint owner, uint group);

    [LibraryImport(Lib, EntryPoint = "sysconf")]
    [SuppressGCTransition]
    public static partial long Sysconf(int name);

    public const int _SC_PAGESIZE = 30;

    // struct stat on x86-64 and arm64 glibc differ; statx has one layout everywhere, so use it.
    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_BASIC_STATS = 0x7ff;

    /// <summary>fstat through statx(fd, "", AT_EMPTY_PATH); returns -1 with errno set on failure.</summary>
    public static int FileStatus(int fd, out FileInfo info) => FileStatus(fd, "", AT_EMPTY_PATH, out info);

    /// <summary>stat of a path through statx; returns -1 with errno set on failure.</summary>
    public static int FileStatus(string path, out FileInfo info) => FileStatus(AT_FDCWD, path, 0, out info);

    private const int AT_FDCWD = -100;

    private static int FileStatus(int dirfd, string path, int flags, out FileInfo info)
    {
        // struct statx is 256 bytes: stx_nlink (u32) at 16, stx_uid/gid (u32) at 20/24, stx_mode (u16) at 28, stx_ino (u64) at 32, stx_size (u64) at 40, stx_blocks (u64)
        // at 48, stx_rdev_major/minor (u32) at 128/132, stx_dev_major/minor (u32) at 136/140.
        byte* buffer = stackalloc byte[256];
        info = default;
        if (Statx(dirfd, path, flags, STATX_BASIC_STATS, buffer) != 0)
        {
            return -1;
        }

        info.Inode = *(ulong*)(buffer + 32);
        info.Links = *(uint*)(buffer + 16); // stx_nlink
        info.DevMajor = *(uint*)(buffer + 136);
        info.DevMinor = *(uint*)(buffer + 140);
        info.Mode = *(ushort*)(buffer + 28);
        info.Uid = *(uint*)(buffer + 20);
        info.Gid = *(uint*)(buffer + 24);
        info.Size = *(long*)(buffer + 40);
        info.Blocks = *(long*)(buffer + 48);
        info.RDev = ((ulong)*(uint*)(buffer + 128) << 32) | *(uint*)(buffer + 132);
        return 0;
    }

    /// <summary>Page size of the running system.</summary>
    public static readonly nuint PageSize = QueryPageSize();

    private static nuint QueryPageSize()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 4096;
        }

        long size = Sysconf(_SC_PAGESIZE);
        return size > 0 ? (nuint)size : 4096;
    }

    /// <summary>"errno N (text)" for messages.</summary>
    public static string Describe(int errno) => $"errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}";
}
