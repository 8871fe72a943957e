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
            var length = BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(16));
            if (BinaryPrimitives.ReadUInt64LittleEndian(frame) != life || BinaryPrimitives.ReadInt64LittleEndian(frame.AsSpan(8)) != lsn
                || length < 0 || length > MaxPayload || BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(20)) != 0)
            {
                return lsn;
            }

            if (payload.Length < length)
            {
                payload = new byte[Math.Max(length, payload.Length * 2)];
            }

            var body = payload.AsSpan(0, length);
            ReadAt(lsn + FrameSize, body);
            if (BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(24)) != Checksum(frame.AsSpan(0, 24), body) || !visit(lsn, body))
            {
                return lsn;
            }

            lsn += FrameSize + length;
        }
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
