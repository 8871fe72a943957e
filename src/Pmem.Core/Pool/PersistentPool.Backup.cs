// PersistentPool (backup) -- a consistent copy of an open pool while other threads write, with a brief pause of writes.
using System.Diagnostics;
using System.IO.Hashing;
using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>What <see cref="PersistentPool.Backup"/> did.</summary>
/// <param name="Destination">The full path of the copy.</param>
/// <param name="Bytes">The copy's length (the pool file's).</param>
/// <param name="RecopiedBytes">Bytes that changed during the first pass and were copied again while writes were held.</param>
/// <param name="WritesHeldFor">How long other threads' writes waited.</param>
/// <param name="Elapsed">The whole backup, including flushing the copy to disk.</param>
public sealed record PoolBackupResult(string Destination, long Bytes, long RecopiedBytes, TimeSpan WritesHeldFor, TimeSpan Elapsed);

public sealed partial class PersistentPool
{
    private const int BackupPiece = 1 << 20;
    private readonly Lock _backupLock = new();

    /// <summary>
    /// Copies the pool to <paramref name="destination"/> while it stays open and other threads go on writing. The copy
    /// holds every transaction committed before the call and none half-done: it opens as this pool would after a
    /// crash at one moment during the call (pending logs are replayed by the copy's first open).
    /// </summary>
    /// <remarks>
    /// The file is copied once while writers run, hashing each 1 MiB piece; then writes are held (commits wait for a
    /// lane, other writes in their slow path, commits in progress finish) while every piece is hashed again and those
    /// that changed are copied again. Writers wait only for that second pass, not for the whole copy. The copy goes to a
    /// hidden temporary file beside the destination, is flushed to disk and then renamed into place, so a failed or
    /// interrupted backup leaves no partial file under the destination's name. One backup runs at a time per pool.
    /// </remarks>
    /// <param name="destination">The new file (a directory: a file of the pool's name in it).</param>
    /// <param name="overwrite">Replace an existing destination (atomically, by the rename).</param>
    /// <exception cref="IOException">The destination exists (without <paramref name="overwrite"/>), is the pool itself, or cannot be written.</exception>
    /// <exception cref="ObjectDisposedException">The pool is closed.</exception>
    public PoolBackupResult Backup(string destination, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(destination);
        ThrowIfDisposed();
        if (Directory.Exists(destination))
        {
            destination = System.IO.Path.Combine(destination, System.IO.Path.GetFileName(Path));
        }

        destination = System.IO.Path.GetFullPath(destination);
        if (string.Equals(destination, System.IO.Path.GetFullPath(Path), StringComparison.Ordinal))
        {
            throw new IOException($"{destination}: a backup cannot overwrite the pool itself.");
        }

        if (File.Exists(destination) && !overwrite)
        {
            throw new IOException($"{destination}: the destination exists (pass overwrite: true to replace it).");
        }

        var directory = System.IO.Path.GetDirectoryName(destination)!;
        var temporary = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(destination)}.{Guid.NewGuid():N}.tmp");
        var clock = Stopwatch.StartNew();
        lock (_backupLock)
        {
            try
            {
                long length, recopied;
                TimeSpan held;
                using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
                {
                    var hashes = CopyPieces(file, hashes: null, out length, out _);
                    var pause = Stopwatch.StartNew();
                    using (_commits.HoldWrites())
                    {
                        lock (_heap.ChunkLock) // the heap changes chunk headers outside the log under it
                        {
                            CopyPieces(file, hashes, out length, out recopied);
                        }
                    }

                    held = pause.Elapsed;
                    file.Flush(flushToDisk: true);
                }

                DurableFiles.Publish(temporary, destination, overwrite);
                return new PoolBackupResult(destination, length, recopied, held, clock.Elapsed);
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }
        }
    }

    /// <summary>
    /// Writes every piece of the mapping to <paramref name="file"/> (first pass, <paramref name="hashes"/> null), or only
    /// the pieces whose hash differs from the first pass's (second pass); returns the pieces' hashes.
    /// </summary>
    private List<ulong> CopyPieces(FileStream file, List<ulong>? hashes, out long length, out long written)
    {
        length = _domain.Length;
        written = 0;
        var seen = new List<ulong>((int)(length / BackupPiece) + 1);
        var buffer = hashes is null ? new byte[BackupPiece] : [];
        for (long offset = 0; offset < length; offset += BackupPiece)
        {
            // The first pass hashes exactly the bytes it writes: memory read twice could differ, and a later change
            // back would then hide a piece written in between. While writes are held the memory stays as it is.
            var piece = (ReadOnlySpan<byte>)_domain.GetSpan(offset, (int)Math.Min(BackupPiece, length - offset));
            if (hashes is null)
            {
                piece.CopyTo(buffer);
                piece = buffer.AsSpan(0, piece.Length);
            }

            var hash = XxHash3.HashToUInt64(piece);
            var index = seen.Count;
            seen.Add(hash);
            if (hashes is not null && index < hashes.Count && hashes[index] == hash)
            {
                continue;
            }

            RandomAccess.Write(file.SafeFileHandle, piece, offset);
            written += piece.Length;
        }

        if (file.Length != length)
        {
            file.SetLength(length); // the pool grew (or, in a second pass, had grown) since the first pass began
        }

        return seen;
    }
}
