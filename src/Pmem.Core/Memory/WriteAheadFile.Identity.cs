// WriteAheadFile (identity) -- whether this log is the pool's: the life it was started for, and whether it was deleted while open.
using System.Buffers.Binary;
using System.IO.Hashing;

namespace Pmem.Memory;

internal sealed partial class WriteAheadFile
{
    // After the header's fields: the life id, then its checksum (0 and 0 in a file no life was stamped in).
    private const int LifeStampOffset = HeaderFieldsSize;
    private const int LifeStampSize = 16;

    /// <summary>
    /// The life the log was last started for (<see cref="StampLife"/>), or 0 when the file carries no stamp (written by
    /// an earlier release) or a damaged one. A pool whose header names another life is reading a log that is not its
    /// own: left beside another name of the same file (a hard link), or copied from elsewhere.
    /// </summary>
    public ulong StampedLife { get; private set; }

    /// <summary>
    /// Records <paramref name="life"/> in the header, synced, before the pool's header names it (see
    /// <see cref="StampedLife"/>): a crash between the two leaves a pool that names no life, which replays nothing.
    /// </summary>
    /// <exception cref="PmemIOException">The header cannot be written or synced.</exception>
    public void StampLife(ulong life)
    {
        Span<byte> stamp = stackalloc byte[LifeStampSize];
        BinaryPrimitives.WriteUInt64LittleEndian(stamp, life);
        BinaryPrimitives.WriteUInt64LittleEndian(stamp[8..], XxHash3.HashToUInt64(stamp[..8]));
        try
        {
            RandomAccess.Write(_file, stamp, LifeStampOffset);
        }
        catch (IOException e)
        {
            throw new PmemIOException($"write of the write-ahead log '{Path}' header failed: {e.Message}", Path, e.HResult);
        }

        Sync(_file, Path, fullSync: false);
        StampedLife = life;
    }

    /// <summary>The life a header's stamp names, or 0 for none (or a torn one).</summary>
    private static ulong ReadLifeStamp(ReadOnlySpan<byte> header)
    {
        var stamp = header.Slice(LifeStampOffset, LifeStampSize);
        var life = BinaryPrimitives.ReadUInt64LittleEndian(stamp);
        return life != 0 && BinaryPrimitives.ReadUInt64LittleEndian(stamp[8..]) == XxHash3.HashToUInt64(stamp[..8]) ? life : 0;
    }

    /// <summary>
    /// Throws when the file was deleted while open (its link count is 0): records synced into it are durable in a
    /// file no recovery can find, so none of them may count as committed.
    /// </summary>
    private void ThrowIfDeleted()
    {
        if (IsDeleted)
        {
            throw new PmemIOException(
                $"the write-ahead log '{Path}' was deleted while the pool was open: no commit can be made durable through it. Dispose the pool: its close writes the pool file whole without the log, and the next open starts a new one.",
                Path, 0);
        }
    }

    /// <summary>Whether the file was deleted (unlinked) while open: nothing in it can be found by a recovery.</summary>
    public bool IsDeleted => LibC.FileStatus((int)_file.DangerousGetHandle(), out var info) == 0 && info.Links == 0;
}
