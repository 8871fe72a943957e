// ExportBytes -- an export file read whole into memory in pieces, so that one over 2 GiB (an array's limit) still imports.
using System.Buffers;

namespace Pmem.Tooling;

/// <summary>
/// The bytes of an export, read from a stream into arrays of at most <see cref="DefaultPiece"/> bytes and read as one
/// <see cref="ReadOnlySequence{T}"/> (the JSON reader takes sequences): a single array stopped imports at 2 GiB, about
/// 24 million small objects.
/// </summary>
internal static class ExportBytes
{
    /// <summary>Bytes per piece: large enough that nearly every token lies in one.</summary>
    public const int DefaultPiece = 256 << 20;

    /// <summary>The UTF-8 text of <paramref name="stream"/> from its position on, without a byte-order mark.</summary>
    /// <param name="stream">The export.</param>
    /// <param name="piece">Bytes per piece (tests make it small, so that tokens cross pieces).</param>
    public static ReadOnlySequence<byte> ReadAll(Stream stream, int piece = DefaultPiece)
    {
        Piece? first = null, last = null;
        var unknown = 64 * 1024; // a stream of unknown length (a pipe) gets pieces that double up to the piece size
        while (true)
        {
            var size = stream.CanSeek ? (int)Math.Clamp(stream.Length - stream.Position, 1, piece) : Math.Min(unknown, piece);
            unknown = (int)Math.Min(2L * unknown, piece);
            var buffer = new byte[size];
            var filled = 0;
            int read;
            while (filled < buffer.Length && (read = stream.Read(buffer, filled, buffer.Length - filled)) > 0)
            {
                filled += read;
            }

            if (filled > 0)
            {
                var next = new Piece(buffer.AsMemory(0, filled), last is null ? 0 : last.RunningIndex + last.Memory.Length);
                last?.Link(next);
                (first, last) = (first ?? next, next);
            }

            if (filled < buffer.Length)
            {
                break; // the stream ended
            }
        }

        if (first is null)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var text = new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
        return StartsWithByteOrderMark(text) ? text.Slice(3) : text; // editors on Windows write one; JSON readers refuse it
    }

    private static bool StartsWithByteOrderMark(ReadOnlySequence<byte> text)
    {
        if (text.Length < 3)
        {
            return false;
        }

        Span<byte> start = stackalloc byte[3];
        text.Slice(0, 3).CopyTo(start);
        return start.SequenceEqual("\uFEFF"u8);
    }

    private sealed class Piece : ReadOnlySequenceSegment<byte>
    {
        public Piece(ReadOnlyMemory<byte> memory, long runningIndex) => (Memory, RunningIndex) = (memory, runningIndex);

        public void Link(Piece next) => Next = next;
    }
}
