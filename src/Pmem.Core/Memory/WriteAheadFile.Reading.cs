// WriteAheadFile (reading) -- a log's records read back in order at recovery, up to the first missing, torn or stale one.
using System.Buffers.Binary;

namespace Pmem.Memory;

internal sealed partial class WriteAheadFile
{
    /// <summary>
    /// Reads the records of life <paramref name="life"/> from <paramref name="start"/> on, in order, handing each
    /// payload to <paramref name="visit"/> until it returns false or a record is missing, torn or from another life or
    /// lap. Returns the LSN after the last record handed over and accepted.
    /// </summary>
    public long Read(ulong life, long start, Func<long, ReadOnlySpan<byte>, bool> visit)
    {
        var lsn = start;
        var frame = new byte[FrameSize];
        var payload = new byte[4096];
        while (true)
        {
            ReadAt(lsn, frame);
            var length = PayloadLength(frame, life, lsn);
            if (length < 0)
            {
                return lsn;
            }

            if (payload.Length < length)
            {
                payload = new byte[Math.Max(length, payload.Length * 2)];
            }

            var body = payload.AsSpan(0, length);
            ReadAt(lsn + FrameSize, body);
            if (!IsWhole(frame, body) || !visit(lsn, body))
            {
                return lsn;
            }

            lsn += RecordSize(length);
        }
    }

    /// <summary>
    /// Hands every whole record of life <paramref name="life"/> in the file to <paramref name="visit"/> (its LSN and
    /// payload), wherever it lies and in file order: what recovery checks the header's position and watermark and the
    /// records past a stop against. Reads the whole file once, a chunk at a time.
    /// </summary>
    public void ForEachWholeRecord(ulong life, Action<long, ReadOnlySpan<byte>> visit)
    {
        const int Chunk = 1 << 20;
        var buffer = new byte[Chunk + FrameSize];
        var wrapped = new byte[FrameSize];
        var payload = Array.Empty<byte>();
        for (long at = 0; at < Capacity; at += Chunk)
        {
            var length = (int)Math.Min(Chunk + FrameSize, Capacity - at);
            ReadExactly(buffer.AsSpan(0, length), HeaderSize + at);
            for (var offset = 0; offset < Math.Min(Chunk, length); offset += 8)
            {
                // A frame in the file's last bytes goes on at its start, as a record's bytes do.
                var frame = offset + FrameSize <= length ? buffer.AsSpan(offset, FrameSize) : ReadFrameAt(at + offset, wrapped);
                var lsn = BinaryPrimitives.ReadInt64LittleEndian(frame[FrameLsnOffset..]);
                var size = lsn < 0 || lsn % Capacity != at + offset ? -1 : PayloadLength(frame, life, lsn);
                if (size < 0)
                {
                    continue;
                }

                if (payload.Length < size)
                {
                    payload = new byte[size];
                }

                ReadAt(lsn + FrameSize, payload.AsSpan(0, size));
                if (IsWhole(frame, payload.AsSpan(0, size)))
                {
                    visit(lsn, payload.AsSpan(0, size));
                }
            }
        }
    }

    /// <summary>The payload length a frame read at <paramref name="lsn"/> declares, or -1 when it is no frame of that life and position.</summary>
    private int PayloadLength(ReadOnlySpan<byte> frame, ulong life, long lsn)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(frame[FrameLengthOffset..]);
        return BinaryPrimitives.ReadUInt64LittleEndian(frame) == life && BinaryPrimitives.ReadInt64LittleEndian(frame[FrameLsnOffset..]) == lsn
            && length >= 0 && length <= MaxPayload && BinaryPrimitives.ReadInt32LittleEndian(frame[FrameReservedOffset..]) == 0 ? length : -1;
    }

    /// <summary>Whether <paramref name="payload"/> is the whole payload <paramref name="frame"/> carries its checksum for.</summary>
    private static bool IsWhole(ReadOnlySpan<byte> frame, ReadOnlySpan<byte> payload) =>
        BinaryPrimitives.ReadUInt64LittleEndian(frame[FrameChecksumOffset..]) == Checksum(frame[..FrameChecksumOffset], payload);

    private Span<byte> ReadFrameAt(long position, byte[] frame)
    {
        ReadAt(position, frame);
        return frame;
    }

    private void ReadAt(long lsn, Span<byte> destination)
    {
        var at = lsn % Capacity;
        var first = (int)Math.Min(destination.Length, Capacity - at);
        ReadExactly(destination[..first], HeaderSize + at);
        if (first < destination.Length)
        {
            ReadExactly(destination[first..], HeaderSize);
        }
    }

    private void ReadExactly(Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(_file, destination, offset);
            if (read <= 0)
            {
                throw new InvalidDataException($"{Path}: the write-ahead log is shorter than its header says.");
            }

            destination = destination[read..];
            offset += read;
        }
    }
}
