// PoolSnapshot -- a pool opened read-only (recovery in private pages), so reading it never writes the file.
using Pmem.Pool;
using Pmem.Tool.Output;

namespace Pmem.Tool.Pools;

/// <summary>
/// A pool opened with <see cref="PersistentPool.OpenReadOnly"/>: a shared lock, and recovery of unfinished commits in
/// pages private to the tool, so the file is never written. <see cref="PersistentPool.RecoveredTransactions"/> tells
/// how many committed logs awaited recovery in the file.
/// </summary>
internal sealed class PoolSnapshot : IDisposable
{
    private PoolSnapshot(PoolHeader header, long fileLength, PersistentPool pool)
    {
        Header = header;
        FileLength = fileLength;
        Pool = pool;
    }

    /// <summary>The file's header as stored (before recovery).</summary>
    public PoolHeader Header { get; }

    /// <summary>The file's length.</summary>
    public long FileLength { get; }

    /// <summary>The pool, opened read-only.</summary>
    public PersistentPool Pool { get; }

    /// <summary>
    /// Opens <paramref name="path"/> for a command that only reads it: the one place every such command opens its pool.
    /// </summary>
    /// <inheritdoc cref="Open(string, string?, ProgressReporter?)" path="/exception" />
    public static PoolSnapshot OpenForReading(ToolConsole console, string path, string? tempDirectory) =>
        Open(path, tempDirectory, ProgressReporter.Start(console, "reading " + path));

    /// <summary>Reads the header of <paramref name="path"/> and opens the pool read-only with the layout name in it.</summary>
    /// <param name="path">The pool file; only read.</param>
    /// <param name="tempDirectory">Unused since pools open read-only in place (kept for the <c>--temp-dir</c> option).</param>
    /// <param name="progress">Unused: opening reads only what it needs.</param>
    /// <exception cref="PoolException">Locked, not a pool, corrupted, unsupported version (what OpenReadOnly throws).</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static PoolSnapshot Open(string path, string? tempDirectory, ProgressReporter? progress)
    {
        _ = tempDirectory;
        PoolHeader header;
        long length;
        using (var file = PoolFile.Open(path))
        {
            header = file.Header;
            length = file.Length;
        }

        progress?.Done();
        if (!header.LayoutValid)
        {
            throw new PoolCorruptedException(path, header.ChecksumValid
                ? "the header holds no valid layout name"
                : "the pool header fails its checksum");
        }

        return new PoolSnapshot(header, length, PersistentPool.OpenReadOnly(path, header.Layout));
    }

    /// <inheritdoc />
    public void Dispose() => Pool.Dispose();
}
