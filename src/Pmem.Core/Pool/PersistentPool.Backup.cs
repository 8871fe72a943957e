// PersistentPool (backup) -- a consistent copy of an open pool while other threads write, with a brief pause of writes.
using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;
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
    private const int BackupPiece = 256 << 10; // a buffer that stays in the core's cache between copy, hash and write
    private const int WritebackPieces = 16;
    private const int BackupWorkers = 4;
    private readonly Lock _backupLock = new();

    /// <summary>
    /// Copies the pool to <paramref name="destination"/> while it stays open and other threads go on writing. The copy
    /// holds every transaction committed before the call and none half-done: it opens as this pool would after a
    /// crash at one moment during the call (pending logs are replayed by the copy's first open).
    /// </summary>
    /// <remarks>
    /// The file is copied once while writers run, hashing each 256 KiB piece; then writes are held (commits wait for a
    /// lane, other writes in their slow path, commits in progress finish) while every piece is hashed again and those
    /// that changed are copied again. Writers wait only for that second pass, not for the whole copy. Pieces that lie
    /// in free chunks are not copied (they stay holes in the copy, zeroes to read; a writable open of it allocates
    /// them), so a backup costs what the pool holds rather than its size. Both passes run on up to four threads (the caller's and the
    /// thread pool's). The copy goes to a hidden temporary file beside the destination, is flushed to disk and then
    /// renamed into place, so a failed or interrupted backup leaves no partial file under the destination's name. One
    /// backup runs at a time per pool.
    /// </remarks>
    /// <param name="destination">The new file (a directory: a file of the pool's name in it).</param>
    /// <param name="overwrite">Replace an existing destination (atomically, by the rename).</param>
    /// <exception cref="IOException">The destination exists (without <paramref name="overwrite"/>), is the pool itself or its write-ahead log, is open by a program (a pool it has open is never replaced), or cannot be written; <see cref="DirectoryNotFoundException"/> when its directory does not exist.</exception>
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
        if (PoolFileNamedBy(destination, Path) is { } what)
        {
            throw new IOException($"{destination}: a backup cannot overwrite {what}.");
        }

        if (File.Exists(destination) && !overwrite)
        {
            throw new IOException($"{destination}: the destination exists (pass overwrite: true to replace it).");
        }

        if (!Directory.Exists(System.IO.Path.GetDirectoryName(destination)))
        {
            throw new DirectoryNotFoundException($"{destination}: the destination's directory does not exist.");
        }

        DurableFiles.DeleteAbandonedBeside(destination, "backup"); // what killed backups to this destination left
        var temporary = DurableFiles.TemporaryBeside(destination, "backup");
        var clock = Stopwatch.StartNew();
        using var replaced = overwrite ? DurableFiles.LockForReplacing(destination) : null; // a pool some program has open is never replaced under it
        lock (_backupLock)
        {
            try
            {
                long length, recopied;
                TimeSpan held;
                using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
                {
                    DurableFiles.CopyAccess(Path, temporary, owner: false); // before any byte: a copy of a private pool stays private
                    var allocated = _domain.Length;
                    file.SetLength(allocated); // what no pass writes stays a hole (zeroes; an open of the copy allocates them)
                    bool[] freeAtFirst;
                    lock (_heap.ChunkLock)
                    {
                        freeAtFirst = PiecesInFreeChunks(allocated);
                    }

                    var hashes = CopyAllPieces(file.SafeFileHandle, allocated, freeAtFirst);
                    var pause = Stopwatch.StartNew();
                    using (_commits.HoldWrites())
                    {
                        lock (_heap.ChunkLock) // the heap changes chunk headers outside the log under it
                        {
                            recopied = CopyChangedPieces(file.SafeFileHandle, hashes, freeAtFirst, out length);
                            if (file.Length != length)
                            {
                                file.SetLength(length); // the pool grew since the first pass began
                            }

                            ForEachLogOutsideSlots((external, bytes) =>
                            {
                                RandomAccess.Write(file.SafeFileHandle, _domain.GetSpan(external, (int)bytes), external);
                                recopied += bytes;
                            });
                        }
                    }

                    // The copy's applies are all in it (writes were held): it needs no write-ahead log.
                    RandomAccess.Write(file.SafeFileHandle, new byte[8], PoolLayout.WriteAheadLifeOffset);
                    held = pause.Elapsed;
                    _domain.ThrowIfDisposedAfterAccess(); // a copy of a pool closed meanwhile may hold its scratch memory
                    file.Flush(flushToDisk: true);
                }

                DurableFiles.Publish(temporary, destination, overwrite);
                return new PoolBackupResult(destination, length, recopied, held, clock.Elapsed);
            }
            catch (Exception e) when (e is IOException and not PoolException || FileSizeSignal.IsFileTooLarge(e))
            {
                // A full disk or a file-size limit: named by the destination, not the hidden file it was written as.
                File.Delete(temporary);
                throw new IOException($"{destination}: the backup cannot be written: {e.Message.Replace(temporary, destination, StringComparison.Ordinal)}", e);
            }
            catch
            {
                File.Delete(temporary);
                throw;
            }
        }
    }

    /// <summary>
    /// Which pieces lie wholly in the bodies of free chunks (under the heap's chunk lock): content nothing reads, which
    /// the copy leaves as holes (zeroes). Only their chunks' header lines matter, and those
    /// lie in other pieces.
    /// </summary>
    private bool[] PiecesInFreeChunks(long length)
    {
        var free = new bool[PieceCount(length)];
        _heap.ForEachFreeBody((offset, bytes) =>
        {
            for (var index = (offset + BackupPiece - 1) / BackupPiece; index < (offset + bytes) / BackupPiece && index < free.Length; index++)
            {
                free[index] = true;
            }
        });
        return free;
    }

    /// <summary>
    /// The first pass, while writers run: copies every piece of the mapping to <paramref name="file"/> through a
    /// buffer (but those in free chunks then, <paramref name="skip"/>) and returns each piece's hash. A piece is hashed
    /// exactly as it is written: memory read twice could differ, and a later change back would then hide a piece
    /// written in between. Each 4 MiB written is sent on to the disk at once, so the final fsync does not start the
    /// whole file's writeback.
    /// </summary>
    private ulong[] CopyAllPieces(SafeFileHandle file, long length, bool[] skip)
    {
        // The length the free pieces were found for: what the pool grows by meanwhile, the second pass copies.
        var hashes = new ulong[PieceCount(length)];
        var next = -1;
        OnWorkers(() =>
        {
            var buffer = GC.AllocateUninitializedArray<byte>(BackupPiece);
            for (int index; (index = Interlocked.Increment(ref next)) < hashes.Length;)
            {
                var offset = (long)index * BackupPiece;
                if (skip[index])
                {
                    continue;
                }

                var piece = buffer.AsSpan(0, PieceLength(length, offset));
                _domain.GetSpan(offset, piece.Length).CopyTo(piece);
                hashes[index] = XxHash3.HashToUInt64(piece);
                RandomAccess.Write(file, piece, offset);
                if ((index + 1) % WritebackPieces == 0)
                {
                    DurableFiles.StartWriteback(file, offset + BackupPiece - (WritebackPieces * (long)BackupPiece), WritebackPieces * (long)BackupPiece);
                }
            }
        });
        return hashes;
    }

    /// <summary>
    /// The second pass, while writes are held (memory stays as it is): hashes every piece again and copies those
    /// whose hash differs from the first pass's, that it left out while their chunks were free (unless they still
    /// are), or that the pool grew into since; returns the bytes copied.
    /// </summary>
    private long CopyChangedPieces(SafeFileHandle file, ulong[] hashes, bool[] skipped, out long length)
    {
        var total = _domain.Length;
        length = total;
        var count = PieceCount(total);
        var free = PiecesInFreeChunks(total);
        var written = 0L;
        var next = -1;
        OnWorkers(() =>
        {
            for (int index; (index = Interlocked.Increment(ref next)) < count;)
            {
                var offset = (long)index * BackupPiece;
                var piece = (ReadOnlySpan<byte>)_domain.GetSpan(offset, PieceLength(total, offset));
                if (free[index] || (index < hashes.Length && !skipped[index] && hashes[index] == XxHash3.HashToUInt64(piece)))
                {
                    continue;
                }

                RandomAccess.Write(file, piece, offset);
                Interlocked.Add(ref written, piece.Length);
            }
        });
        return written;
    }

    private static int PieceCount(long length) => (int)((length + BackupPiece - 1) / BackupPiece);

    private static int PieceLength(long length, long offset) => (int)Math.Min(BackupPiece, length - offset);

    /// <summary>
    /// Runs <paramref name="work"/> on up to <see cref="BackupWorkers"/> threads, the caller's among them (so it
    /// progresses even when the thread pool is busy); rethrows the first failure as it was thrown.
    /// </summary>
    private static void OnWorkers(Action work)
    {
        var workers = Math.Clamp(Environment.ProcessorCount, 1, BackupWorkers);
        try
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ => work());
        }
        catch (AggregateException failure)
        {
            ExceptionDispatchInfo.Throw(failure.InnerExceptions[0]);
            throw;
        }
    }
}
