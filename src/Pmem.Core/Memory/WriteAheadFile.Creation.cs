// WriteAheadFile (creation) -- a new log file: written in full beside its name and renamed, or nothing left behind.
using System.Buffers.Binary;
using System.IO.Hashing;

namespace Pmem.Memory;

internal sealed partial class WriteAheadFile
{
    private static void Create(string path, long capacity, string? accessOf)
    {
        if (capacity <= 0 || capacity % 4096 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a positive multiple of 4 KiB");
        }

        // Written in full rather than allocated: writes into allocated-but-unwritten extents would make every
        // fdatasync journal an extent change as well.
        var temporary = DurableFiles.TemporaryBeside(path, "wal"); // not <path>.new: a pool name near NAME_MAX leaves no room for it
        try
        {
            using (var file = File.OpenHandle(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None))
            {
                var zeroes = new byte[1 << 20];
                for (long at = 0; at < HeaderSize + capacity; at += zeroes.Length)
                {
                    RandomAccess.Write(file, zeroes.AsSpan(0, (int)Math.Min(zeroes.Length, HeaderSize + capacity - at)), at);
                }

                Span<byte> header = stackalloc byte[HeaderFieldsSize];
                BinaryPrimitives.WriteUInt64LittleEndian(header, Magic);
                BinaryPrimitives.WriteUInt32LittleEndian(header[VersionOffset..], Version);
                BinaryPrimitives.WriteInt64LittleEndian(header[CapacityOffset..], capacity);
                BinaryPrimitives.WriteUInt64LittleEndian(header[ChecksumOffset..], XxHash3.HashToUInt64(header[..ChecksumOffset]));
                RandomAccess.Write(file, header, 0);
                Sync(file, temporary, fullSync: true);
            }

            if (accessOf is not null)
            {
                DurableFiles.CopyAccess(accessOf, temporary, owner: true); // whoever may open the pool may open its log
            }

            DurableFiles.Publish(temporary, path, overwrite: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException || FileSizeSignal.IsFileTooLarge(e))
        {
            // A full disk or a file-size limit must not leave a log-sized file behind (an outside tester's 36 MiB).
            try
            {
                File.Delete(temporary);
                DurableFiles.Finished(temporary);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // the first failure is the one to report
            }

            throw e switch
            {
                PmemIOException => e,
                UnauthorizedAccessException => new PmemAccessDeniedException($"cannot create the write-ahead log '{path}': {e.Message}", path, 13),
                _ when FileSizeSignal.IsFileTooLarge(e) => new PmemIOException($"cannot create the write-ahead log '{path}': File too large (past the process's file-size limit, ulimit -f)", path, 27),
                _ => new PmemIOException($"cannot create the write-ahead log '{path}': {e.Message}", path, e.HResult),
            };
        }
    }
}
