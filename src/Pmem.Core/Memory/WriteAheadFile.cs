// WriteAheadFile -- a pool's write-ahead log on an ordinary file: records appended with pwrite, group fdatasync.
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pmem.Memory;

/// <summary>
/// A circular file of records that many threads append to and make durable together: each committer writes its record
/// with <c>pwrite</c> at a position it reserved, and one of the waiting committers (the leader) calls <c>fdatasync</c>
/// for everyone whose record is written by then, while the others wait on a monitor.
/// </summary>
/// <remarks>
/// <para>
/// Positions (LSNs) grow for the file's life; a record at LSN x lies at <c>HeaderSize + x % capacity</c>, split at the
/// end of the file. Every record carries the id of the log's current life and its own LSN, under one checksum, so a
/// reader starting at a known LSN stops at the first record that is torn, left from an earlier lap, or left from an
/// earlier life (after a recovery the next life starts where the valid records ended, over records never made durable).
/// </para>
/// <para>
/// A record is durable once a sync that started after every record up to its end was written has finished: a hole
/// left by a committer still writing holds later records back, since a reader stops at the hole. A failed write or sync
/// fails the file for good (after a failed fdatasync the kernel may have dropped the dirty pages): every later call
/// throws.
/// </para>
/// </remarks>
internal sealed partial class WriteAheadFile : IDisposable
{
    /// <summary>Bytes before the first record: magic, version, capacity, checksum; the rest zero.</summary>
    public const int HeaderSize = 4096;

    /// <summary>Bytes of a record's frame, before its payload: life id, LSN, payload length, checksum.</summary>
    public const int FrameSize = 32;

    // A frame's fields: the life id at 0, then these; the checksum covers the bytes before it and the payload.
    private const int FrameLsnOffset = 8;
    private const int FrameLengthOffset = 16;
    private const int FrameReservedOffset = 20; // 0
    private const int FrameChecksumOffset = 24;

    private const ulong Magic = 0x314C41574D454D50; // "PMEMWAL1"
    private const uint Version = 1;

    // The header's fields (docs/pool-format.md): magic at 0, then these; the checksum covers the bytes before it.
    private const int VersionOffset = 8;
    private const int CapacityOffset = 16;
    private const int ChecksumOffset = 24;
    private const int HeaderFieldsSize = 32;

    private readonly object _gate = new();
    private readonly SortedDictionary<long, long> _writtenAhead = []; // records written past a hole: start → end
    private readonly SafeFileHandle _file;
    private ulong _life;
    private long _tail;        // the next record's LSN
    private long _written;     // every record below it is written
    private long _durable;     // every record below it is durable
    private long _reclaimed;   // records below it are no longer needed: their space may be reused
    private bool _syncing;
    private long _recordsWritten;    // records below _written: the records each sync carries, counted
    private long _recordsAtLastSync; // _recordsWritten when the last sync took its target
    private long _lastGroup;         // records the last sync carried
    private Exception? _failure;
    private long _syncCalls;

    private WriteAheadFile(string path, SafeFileHandle file, long capacity)
    {
        Path = path;
        _file = file;
        Capacity = capacity;
    }

    /// <summary>The file's path (named in exceptions).</summary>
    public string Path { get; }

    /// <summary>Bytes of records the file holds at once.</summary>
    public long Capacity { get; }

    /// <summary>fdatasync calls made so far (for tests and diagnostics).</summary>
    public long SyncCalls => Interlocked.Read(ref _syncCalls);

    /// <summary>
    /// Bytes a record of <paramref name="payloadLength"/> takes: its frame and its payload padded to 8 bytes, so every
    /// record starts on an 8-byte boundary (what lets recovery look for records past a damaged one).
    /// </summary>
    public static long RecordSize(int payloadLength) => FrameSize + ((payloadLength + 7L) & ~7L);

    /// <summary>The largest payload one record may carry: a quarter of the capacity, so a checkpoint always makes room.</summary>
    public int MaxPayload => (int)Math.Min(int.MaxValue, Capacity / 4 - FrameSize);

    /// <summary>Opens the log at <paramref name="path"/>, or creates it (zero-filled, synced, its directory entry too).</summary>
    /// <param name="path">The log file.</param>
    /// <param name="capacity">Record bytes of a new file (a multiple of 4 KiB); an existing file keeps its own.</param>
    /// <param name="writable">False: opened for reading only (recovery into a private view), never created.</param>
    /// <param name="accessOf">The file whose permission bits and owner a new log takes (its pool), or null.</param>
    /// <exception cref="PmemIOException">The file cannot be created, read or synced.</exception>
    /// <exception cref="InvalidDataException">The file exists but is not a write-ahead log of this format.</exception>
    public static WriteAheadFile Open(string path, long capacity, bool writable, string? accessOf = null)
    {
        FileSizeSignal.Ignore();
        if (writable && !File.Exists(path))
        {
            Create(path, capacity, accessOf);
        }

        var file = File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read, FileShare.ReadWrite);
        try
        {
            Span<byte> header = stackalloc byte[HeaderFieldsSize + LifeStampSize];
            if (RandomAccess.Read(file, header, 0) != header.Length || BinaryPrimitives.ReadUInt64LittleEndian(header) != Magic)
            {
                throw new InvalidDataException($"{path}: not a pool's write-ahead log (no PMEMWAL1 header).");
            }

            var version = BinaryPrimitives.ReadUInt32LittleEndian(header[VersionOffset..]);
            var stored = BinaryPrimitives.ReadInt64LittleEndian(header[CapacityOffset..]);
            if (version != Version || BinaryPrimitives.ReadUInt64LittleEndian(header[ChecksumOffset..]) != XxHash3.HashToUInt64(header[..ChecksumOffset])
                || stored <= 0 || stored % 4096 != 0 || RandomAccess.GetLength(file) < HeaderSize + stored)
            {
                throw new InvalidDataException($"{path}: the write-ahead log's header is damaged or of another version ({version}), or the file is shorter than it says.");
            }

            return new WriteAheadFile(path, file, stored) { StampedLife = ReadLifeStamp(header) };
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts a life of the log: records appended from now on carry <paramref name="life"/> and start at
    /// <paramref name="start"/>, where the previous life's valid records ended (or anywhere past them).
    /// </summary>
    public void StartLife(ulong life, long start)
    {
        lock (_gate)
        {
            _life = life;
            _tail = _written = _durable = _reclaimed = start;
            _writtenAhead.Clear();
        }
    }

    /// <summary>The current life's id.</summary>
    public ulong Life => _life;

    /// <summary>The LSN the next record gets.</summary>
    public long Tail
    {
        get
        {
            lock (_gate)
            {
                return _tail;
            }
        }
    }

    /// <summary>Record bytes written since the last <see cref="Reclaim"/>: what a checkpoint would free.</summary>
    public long InUse
    {
        get
        {
            lock (_gate)
            {
                return _tail - _reclaimed;
            }
        }
    }

    /// <summary>
    /// Reserves room for a record of <paramref name="payloadLength"/> bytes and returns its LSN, or -1 when the file has
    /// no room until a checkpoint reclaims some. The caller must then write the record (<see cref="Write"/>), or the
    /// records after it never become durable.
    /// </summary>
    public long TryReserve(int payloadLength)
    {
        var size = RecordSize(payloadLength);
        lock (_gate)
        {
            ThrowIfFailed();
            if (_tail + size - _reclaimed > Capacity)
            {
                return -1;
            }

            var lsn = _tail;
            _tail += size;
            return lsn;
        }
    }

    /// <summary>Writes the record reserved at <paramref name="lsn"/>: its frame, then <paramref name="payload"/>.</summary>
    /// <exception cref="PmemIOException">The write failed; the file is failed for good.</exception>
    public void Write(long lsn, ReadOnlySpan<byte> payload)
    {
        var size = (int)RecordSize(payload.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var record = buffer.AsSpan(0, size);
            record[(FrameSize + payload.Length)..].Clear(); // the padding
            BinaryPrimitives.WriteUInt64LittleEndian(record, _life);
            BinaryPrimitives.WriteInt64LittleEndian(record[FrameLsnOffset..], lsn);
            BinaryPrimitives.WriteInt32LittleEndian(record[FrameLengthOffset..], payload.Length);
            BinaryPrimitives.WriteInt32LittleEndian(record[FrameReservedOffset..], 0);
            payload.CopyTo(record[FrameSize..]);
            BinaryPrimitives.WriteUInt64LittleEndian(record[FrameChecksumOffset..], Checksum(record[..FrameChecksumOffset], payload));
            try
            {
                var at = lsn % Capacity;
                var first = (int)Math.Min(size, Capacity - at);
                RandomAccess.Write(_file, record[..first], HeaderSize + at);
                if (first < size)
                {
                    RandomAccess.Write(_file, record[first..], HeaderSize);
                }
            }
            catch (IOException exception)
            {
                Fail(new PmemIOException($"write of the write-ahead log '{Path}' failed: {exception.Message}", Path, exception.HResult));
                throw _failure!;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        lock (_gate)
        {
            if (lsn != _written)
            {
                _writtenAhead.Add(lsn, lsn + size);
                return;
            }

            _written = lsn + size;
            _recordsWritten++;
            while (_writtenAhead.Remove(_written, out var end))
            {
                _written = end;
                _recordsWritten++;
            }

            if (!_syncing)
            {
                Monitor.PulseAll(_gate); // while a sync runs no waiter can lead: its end wakes them all
            }
        }
    }

    /// <summary>
    /// Returns once every record below <paramref name="end"/> is durable: the caller syncs for every record written by
    /// then when no sync is running, and otherwise waits (without spinning) for the running one and the records before
    /// its own.
    /// </summary>
    /// <exception cref="PmemIOException">A sync failed (this one or an earlier one); the file is failed for good.</exception>
    public void WaitDurable(long end)
    {
        long target;
        lock (_gate)
        {
            while (true)
            {
                ThrowIfFailed();
                if (_durable >= end)
                {
                    return;
                }

                if (!_syncing && _written >= end)
                {
                    _syncing = true;
                    break;
                }

                Monitor.Wait(_gate);
            }
        }

        target = GatherGroup();
        try
        {
            Sync(_file, Path, fullSync: false);
            Interlocked.Increment(ref _syncCalls);
            ThrowIfDeleted();
        }
        catch (PmemIOException exception)
        {
            Fail(exception);
            throw;
        }

        lock (_gate)
        {
            _syncing = false;
            _durable = Math.Max(_durable, target);
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// The leader, before its sync: when the previous sync carried several committers' records, yields (for at most
    /// <see cref="GatherMicroseconds"/>) until as many are written again, so that the committers the previous sync
    /// released, which are writing their next records now, join this sync instead of waiting through it for the next.
    /// A lone committer never waits. Returns the position the sync covers.
    /// </summary>
    private long GatherGroup()
    {
        long expected, start;
        lock (_gate)
        {
            (expected, start) = (_lastGroup, _recordsAtLastSync);
        }

        if (expected > 1)
        {
            var deadline = Stopwatch.GetTimestamp() + GatherMicroseconds * Stopwatch.Frequency / 1_000_000;
            while (Volatile.Read(ref _recordsWritten) - start < expected && Stopwatch.GetTimestamp() < deadline)
            {
                Thread.Yield();
            }
        }

        lock (_gate)
        {
            _lastGroup = _recordsWritten - _recordsAtLastSync;
            _recordsAtLastSync = _recordsWritten;
            return _written;
        }
    }

    /// <summary>The longest a leader waits for the previous group's committers (a disk's flush takes several times longer).</summary>
    internal const int GatherMicroseconds = 100;

    /// <summary>Records before <paramref name="lsn"/> are no longer needed (a checkpoint covers them): their room may be reused.</summary>
    public void Reclaim(long lsn)
    {
        lock (_gate)
        {
            _reclaimed = Math.Max(_reclaimed, Math.Min(lsn, _durable));
        }
    }

    private static ulong Checksum(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> payload) =>
        XxHash3.HashToUInt64(payload, (long)XxHash3.HashToUInt64(frame));

    private static void Sync(SafeFileHandle file, string path, bool fullSync)
    {
        var fd = (int)file.DangerousGetHandle();
        if ((fullSync ? LibC.Fsync(fd) : LibC.Fdatasync(fd)) != 0)
        {
            throw (PmemIOException)PmemIOException.FromErrno(fullSync ? "fsync" : "fdatasync", path, Marshal.GetLastPInvokeError());
        }
    }

    private void Fail(Exception failure)
    {
        lock (_gate)
        {
            _failure ??= failure;
            _syncing = false;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>A committer that reserved a record cannot write it: fails the file, since later records would wait forever.</summary>
    public void Abandon(Exception reason) =>
        Fail(new PmemIOException($"a record of the write-ahead log '{Path}' was reserved but not written ({reason.Message})", Path, 0));

    /// <summary>Throws when a write or sync failed earlier.</summary>
    public void ThrowIfFailed()
    {
        if (_failure is not null)
        {
            throw new PmemIOException($"the write-ahead log '{Path}' failed earlier ({_failure.Message}); the pool takes no more commits until it is reopened.", Path, 0);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();
}
