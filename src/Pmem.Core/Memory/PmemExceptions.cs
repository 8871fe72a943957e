namespace Pmem.Memory;

/// <summary>
/// An operating-system call of the engine failed (open, mmap, ftruncate, fallocate, msync, flock...). The base of
/// the engine's I/O exceptions; the message names the path and the OS error.
/// </summary>
/// <remarks>
/// Hierarchy: <see cref="PmemIOException"/> (any OS failure) with the subclasses <see cref="PmemFileExistsException"/>
/// (exclusive create of an existing file) and <see cref="PmemAccessDeniedException"/> (no write permission, read-only
/// file system). A missing file throws <see cref="PmemFileNotFoundException"/>, which derives from
/// <see cref="FileNotFoundException"/> so ordinary handlers catch it; all of them are <see cref="IOException"/>s.
/// Invalid arguments (negative or zero lengths where one is required) throw <see cref="ArgumentOutOfRangeException"/>,
/// and an unsupported OS or CPU throws <see cref="PlatformNotSupportedException"/>.
/// </remarks>
public class PmemIOException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, including the path and the OS error.</param>
    /// <param name="path">The file involved, if any.</param>
    /// <param name="errorCode">The <c>errno</c> value, or 0 when the failure was found by the engine itself.</param>
    public PmemIOException(string message, string? path, int errorCode)
        : base(message)
    {
        Path = path;
        ErrorCode = errorCode;
    }

    /// <summary>The file involved, if any.</summary>
    public string? Path { get; }

    /// <summary>The OS error number (<c>errno</c>), or 0 when the engine detected the problem itself.</summary>
    public int ErrorCode { get; }

    /// <summary>Builds the exception for a failed call, choosing the subclass from the error number.</summary>
    internal static Exception FromErrno(string operation, string? path, int errno)
    {
        string message = path is null
            ? $"{operation} failed: {LibC.Describe(errno)}"
            : $"{operation} of '{path}' failed: {LibC.Describe(errno)}";
        return errno switch
        {
            LibC.ENOENT => new PmemFileNotFoundException(message, path, errno),
            LibC.EEXIST => new PmemFileExistsException(message, path, errno),
            LibC.EACCES or LibC.EPERM or LibC.EROFS => new PmemAccessDeniedException(message, path, errno),
            _ => new PmemIOException(message, path, errno),
        };
    }
}

/// <summary>The file exists but <see cref="MapFlags.Exclusive"/> asked for a new one (<c>EEXIST</c>).</summary>
public sealed class PmemFileExistsException : PmemIOException
{
    /// <summary>Creates the exception.</summary>
    public PmemFileExistsException(string message, string? path, int errorCode)
        : base(message, path, errorCode)
    {
    }
}

/// <summary>The file cannot be opened for reading and writing: no permission or a read-only file system (<c>EACCES</c>, <c>EPERM</c>, <c>EROFS</c>).</summary>
public sealed class PmemAccessDeniedException : PmemIOException
{
    /// <summary>Creates the exception.</summary>
    public PmemAccessDeniedException(string message, string? path, int errorCode)
        : base(message, path, errorCode)
    {
    }
}

/// <summary>The file (or the directory for a temporary file) does not exist and <see cref="MapFlags.Create"/> was not given (<c>ENOENT</c>).</summary>
public sealed class PmemFileNotFoundException : FileNotFoundException
{
    /// <summary>Creates the exception.</summary>
    public PmemFileNotFoundException(string message, string? path, int errorCode)
        : base(message, path)
    {
        Path = path;
        ErrorCode = errorCode;
    }

    /// <summary>The missing path.</summary>
    public string? Path { get; }

    /// <summary>The OS error number (<c>ENOENT</c> = 2).</summary>
    public int ErrorCode { get; }
}
