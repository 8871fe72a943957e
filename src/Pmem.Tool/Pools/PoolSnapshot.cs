// PoolSnapshot -- a pool opened from a private copy of its file, so recovery and checks never write the original.
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tool.Output;

namespace Pmem.Tool.Pools;

/// <summary>
/// A pool opened from a copy of its file in an unnamed temporary file (<see cref="MapFlags.TempFile"/>: it has no name
/// and vanishes when the pool is disposed, even if the tool is killed). Opening runs recovery, which writes; it writes
/// the copy, so the original stays byte-identical. <see cref="PersistentPool.RecoveredTransactions"/> of the copy
/// tells how many committed logs awaited recovery in the original.
/// </summary>
internal sealed class PoolSnapshot : IDisposable
{
    private PoolSnapshot(PoolHeader header, long fileLength, PersistentPool pool)
    {
        Header = header;
        FileLength = fileLength;
        Pool = pool;
    }

    /// <summary>The original's header as stored (before recovery).</summary>
    public PoolHeader Header { get; }

    /// <summary>The original file's length.</summary>
    public long FileLength { get; }

    /// <summary>The opened copy.</summary>
    public PersistentPool Pool { get; }

    /// <summary>
    /// Opens <paramref name="path"/> for a command that only reads it, showing progress on <paramref name="console"/>:
    /// the one place every such command opens its pool (today a private copy; a true read-only open can replace it here).
    /// </summary>
    /// <inheritdoc cref="Open(string, string?, ProgressReporter?)" path="/exception" />
    public static PoolSnapshot OpenForReading(ToolConsole console, string path, string? tempDirectory) =>
        Open(path, tempDirectory, ProgressReporter.Start(console, "reading " + path));

    /// <summary>Copies <paramref name="path"/> under a shared lock and opens the copy with the layout name in its header.</summary>
    /// <param name="path">The pool file; only read.</param>
    /// <param name="tempDirectory">Where the unnamed copy lives (default: the system's temporary directory).</param>
    /// <param name="progress">Told how much of the file has been copied.</param>
    /// <exception cref="PoolException">Locked, not a pool, corrupted, unsupported version (what Open throws).</exception>
    /// <exception cref="IOException">The file or the temporary copy cannot be read or written.</exception>
    public static PoolSnapshot Open(string path, string? tempDirectory, ProgressReporter? progress)
    {
        using var file = PoolFile.Open(path);
        var header = file.Header;
        var length = file.Length;
        var directory = string.IsNullOrEmpty(tempDirectory) ? System.IO.Path.GetTempPath() : tempDirectory;

        // Allocated (not sparse): recovery writes the copy through the mapping, and a hole that cannot be filled on a
        // full file system would kill the process with SIGBUS instead of failing here.
        var mapping = PmemMapping.Map(directory, length, MapFlags.TempFile);
        MappedDomain? domain = null;
        try
        {
            // The file is allocated and reads as zeros: copy only the chunks that are not all zeros.
            file.CopyTo((offset, chunk) => chunk.CopyTo(mapping.GetSpan(offset, chunk.Length)), skipZeros: true, progress);
            progress?.Done();

            // The copy needs no durability: a process-crash domain never flushes or calls msync.
            domain = mapping.CreateDomain(DurabilityMode.ProcessCrash);
            if (!header.LayoutValid)
            {
                throw new PoolCorruptedException(path, header.ChecksumValid
                    ? "the header holds no valid layout name"
                    : "the pool header fails its checksum");
            }

            var pool = PersistentPool.Open(domain, header.Layout, maxSize: 0, description: path);
            return new PoolSnapshot(header, length, pool);
        }
        catch
        {
            if (domain is not null)
            {
                domain.Dispose();
            }
            else
            {
                mapping.Dispose();
            }

            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Pool.Dispose();
}
