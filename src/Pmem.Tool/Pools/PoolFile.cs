// PoolFile -- a pool file opened for reading under a shared lock, so no opener can change it while the tool reads.
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tool.Output;

namespace Pmem.Tool.Pools;

/// <summary>
/// A pool file opened read-only with a shared <c>flock</c>: a pool holds an exclusive <c>flock</c> while it is open
/// (in any process), so taking the shared lock fails while the pool is open elsewhere, and an opener that comes while
/// the tool reads is refused with <see cref="PoolLockedException"/> until the tool is done.
/// </summary>
internal sealed partial class PoolFile : IDisposable
{
    private const int LOCK_SH = 1;
    private const int LOCK_NB = 4;
    private const int EWOULDBLOCK = 11; // EAGAIN on Linux

    private PoolFile(string path, FileStream stream, PoolHeader header)
    {
        Path = path;
        Stream = stream;
        Header = header;
    }

    /// <summary>The path as given.</summary>
    public string Path { get; }

    /// <summary>The file, positioned anywhere; read it with <see cref="CopyTo"/>.</summary>
    public FileStream Stream { get; }

    /// <summary>The header as stored.</summary>
    public PoolHeader Header { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length => Stream.Length;

    /// <summary>Opens <paramref name="path"/> for reading under a shared lock and reads its header.</summary>
    /// <exception cref="PoolLockedException">The pool is open in this or another process.</exception>
    /// <exception cref="PoolCorruptedException">Not a pool (too short, no signature).</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="NotRegularFileException">A directory, pipe, socket or device other than Device DAX.</exception>
    /// <exception cref="IOException">Any other failure to open or read.</exception>
    public static PoolFile Open(string path)
    {
        // Before any open: a FIFO's would block until a writer came, and a pipe cannot be read at offsets.
        FileKind.RequireRegularFile(path, allowDeviceDax: true);

        // .NET takes flock(LOCK_SH | LOCK_NB) itself for a read-only FileStream (unless file locking is disabled); a
        // forked child's copy of a lock this process released is waited out briefly, as an open does.
        var stream = FileLockHolders.Open(path, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan) ?? throw new PoolLockedException(path);
        try
        {
            // Take it ourselves as well, in case DOTNET_SYSTEM_IO_DISABLEFILELOCKING turned .NET's lock off.
            if (!FileLockHolders.TryLockPastForkedCopies(
                    () => Flock(stream.SafeFileHandle, LOCK_SH | LOCK_NB) == 0 || Marshal.GetLastPInvokeError() != EWOULDBLOCK,
                    () => FileLockHolders.MayBeForkedCopy(path)))
            {
                throw new PoolLockedException(path);
            }

            return new PoolFile(path, stream, PoolHeader.Read(stream, path));
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the whole file in 1 MiB chunks and hands each to <paramref name="write"/> with its offset: every chunk, or
    /// with <paramref name="skipZeros"/> only those that are not all zeros.
    /// </summary>
    public void CopyTo(Action<long, ReadOnlySpan<byte>> write, bool skipZeros, ProgressReporter? progress)
    {
        const int ChunkSize = 1 << 20;
        var buffer = new byte[ChunkSize];
        var length = Stream.Length;
        Stream.Position = 0;
        long offset = 0;
        while (offset < length)
        {
            var want = (int)Math.Min(ChunkSize, length - offset);
            var read = Stream.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
            if (read < want)
            {
                throw new IOException($"{Path}: the file shrank while it was read ({offset + read} of {length} bytes)");
            }

            var chunk = buffer.AsSpan(0, read);
            if (!skipZeros || chunk.ContainsAnyExcept((byte)0))
            {
                write(offset, chunk);
            }

            offset += read;
            progress?.Report(offset, length);
        }
    }

    /// <inheritdoc />
    public void Dispose() => Stream.Dispose();

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(SafeFileHandle fd, int operation);
}
