// FileWriteException -- a file a maintenance command writes (a backup, a copy, an export) could not be written: which one, and why.
namespace Pmem.Tooling;

/// <summary>
/// A file a maintenance command writes could not be written (its directory is missing or not writable, the disk is
/// full): <see cref="File"/> names it as its user knows it, the cause is the inner exception. The pool is unchanged.
/// Typed, so the tool reports "cannot write &lt;file&gt;" without reading messages for paths.
/// </summary>
internal sealed class FileWriteException(string file, Exception inner) : IOException($"{file}: {inner.Message}", inner)
{
    /// <summary>The file that could not be written (a backup's name, a directory for a private copy, a compaction's new file).</summary>
    public string File { get; } = file;

    /// <summary>
    /// <paramref name="e"/>, a failure to write <paramref name="hidden"/> (a temporary file), as one naming
    /// <paramref name="shown"/>, in its message too (.NET's messages name the path, some as <c>" : 'path'"</c>).
    /// </summary>
    public static FileWriteException Renamed(Exception e, string hidden, string shown)
    {
        var message = e.Message.Replace($" : '{hidden}'", "", StringComparison.Ordinal).Replace(hidden, shown, StringComparison.Ordinal);
        Exception inner = e switch
        {
            UnauthorizedAccessException => new UnauthorizedAccessException(message, e),
            DirectoryNotFoundException => new DirectoryNotFoundException(message, e),
            _ => new IOException(message, e),
        };
        return new FileWriteException(shown, inner);
    }

    /// <summary>Whether <paramref name="e"/> is a failure to write rather than the pool's complaint about its contents.</summary>
    public static bool IsWriteFailure(Exception e) =>
        (e is IOException or UnauthorizedAccessException && e is not Pmem.Pool.PoolException) || Pmem.Memory.FileSizeSignal.IsFileTooLarge(e);
}
