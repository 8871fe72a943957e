// FileKind -- what a path names (a regular file, a pipe, a device...), found with statx before anything opens it.
using System.Runtime.InteropServices;

namespace Pmem.Tool.Pools;

/// <summary>
/// Checks that an input path names a regular file before the tool opens it: opening a FIFO for reading blocks until a
/// writer comes (the tool would hang), and a pipe cannot seek (a pool is read at offsets). .NET does not tell a FIFO
/// from a regular file (both read as <see cref="FileAttributes.Normal"/>), hence <c>statx</c>, which never opens the
/// file.
/// </summary>
internal static partial class FileKind
{
    private const int AT_FDCWD = -100;
    private const uint STATX_TYPE = 0x1;
    private const int StatxSize = 256;
    private const int ModeOffset = 0x1C;      // stx_mode (u16)
    private const int RdevMajorOffset = 0x80; // stx_rdev_major (u32), then stx_rdev_minor
    private const int S_IFMT = 0xF000, S_IFREG = 0x8000, S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000, S_IFSOCK = 0xC000;

    /// <summary>
    /// Throws <see cref="NotRegularFileException"/> unless <paramref name="path"/> (its link followed) is a regular file,
    /// or with <paramref name="allowDeviceDax"/> a Device DAX character device (which the library maps as a pool).
    /// A path that does not exist, or cannot be examined, passes: the open that follows names that failure itself.
    /// </summary>
    /// <exception cref="NotRegularFileException">A pipe, socket, directory or other device.</exception>
    public static void RequireRegularFile(string path, bool allowDeviceDax)
    {
        if (Describe(path, allowDeviceDax) is { } what)
        {
            throw new NotRegularFileException(path, what);
        }
    }

    /// <summary>Null for a regular file (or an allowed Device DAX), or what else the path is ("a pipe or FIFO").</summary>
    internal static string? Describe(string path, bool allowDeviceDax)
    {
        Span<byte> buffer = stackalloc byte[StatxSize];
        try
        {
            if (Statx(AT_FDCWD, path, 0, STATX_TYPE, ref MemoryMarshal.GetReference(buffer)) != 0)
            {
                return null; // missing, no permission, or statx refused (old kernel, seccomp): the open will say
            }
        }
        catch (EntryPointNotFoundException)
        {
            return null; // a C library older than glibc 2.28: no check, as before
        }

        var mode = BitConverter.ToUInt16(buffer[ModeOffset..]) & S_IFMT;
        return mode switch
        {
            S_IFREG => null,
            S_IFDIR => "a directory",
            S_IFIFO => "a pipe or FIFO",
            S_IFSOCK => "a socket",
            S_IFBLK => "a block device",
            S_IFCHR when allowDeviceDax && IsDeviceDax(BitConverter.ToUInt32(buffer[RdevMajorOffset..]), BitConverter.ToUInt32(buffer[(RdevMajorOffset + 4)..])) => null,
            S_IFCHR => allowDeviceDax ? "a character device that is not Device DAX" : "a character device",
            _ => "not a file",
        };
    }

    /// <summary>Device DAX as the library recognises it (PmemMapping): /sys/dev/char/M:m/subsystem names "dax".</summary>
    private static bool IsDeviceDax(uint major, uint minor)
    {
        try
        {
            var subsystem = new DirectoryInfo($"/sys/dev/char/{major}:{minor}/subsystem").ResolveLinkTarget(returnFinalTarget: true);
            return subsystem is not null && subsystem.Name.StartsWith("dax", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}

/// <summary>An input path names something other than a regular file: the tool refuses it before opening it.</summary>
internal sealed class NotRegularFileException(string path, string what)
    : IOException($"{path}: not a regular file ({what})")
{
    /// <summary>The path as given.</summary>
    public string Path { get; } = path;
}
