// ChunkHeader -- the chunk header word: kind, size class, span and a check, the one definition of its encoding.
namespace Pmem.Heap;

/// <summary>Kind of a chunk group, stored in its chunk header.</summary>
internal enum ChunkKind : byte
{
    Free = 1,
    Run = 2,
    Large = 3,
}

/// <summary>
/// A chunk group's header: the first word of its 64-byte header line, and the heap's in-memory copy of it.
/// </summary>
/// <remarks>
/// Word: bits 0–3 kind, 4–11 size class, 12–43 span in chunks, 44–63 a check of the rest, so a corrupted header is
/// detected on open rather than trusted. A large group keeps its object's type index at <see cref="LargeTypeOffset"/>
/// of the header line (0 = reserved but not yet published); its object starts after the line.
/// </remarks>
internal readonly record struct ChunkHeader(ChunkKind Kind, byte SizeClass, int Span)
{
    /// <summary>Bytes of the header line that starts every chunk group.</summary>
    public const int Size = 64;

    /// <summary>Where a large group's header line keeps its object's type index (u32).</summary>
    public const int LargeTypeOffset = 8;

    /// <summary>The header word as stored.</summary>
    public ulong Encode()
    {
        var body = (ulong)Kind | ((ulong)SizeClass << 4) | ((ulong)(uint)Span << 12);
        return body | (Check(body) << 44);
    }

    /// <summary>Decodes a stored header word; false when its check or kind is wrong.</summary>
    public static bool TryDecode(ulong word, out ChunkHeader header)
    {
        var body = word & ((1UL << 44) - 1);
        var kind = (ChunkKind)(body & 0xF);
        header = new ChunkHeader(kind, (byte)((body >> 4) & 0xFF), (int)(body >> 12));
        return word >> 44 == Check(body) && kind is ChunkKind.Free or ChunkKind.Run or ChunkKind.Large;
    }

    private static ulong Check(ulong body)
    {
        var mixed = (body ^ 0x5EED_C0DE_1234_5678UL) * 0x9E37_79B9_7F4A_7C15UL;
        return (mixed >> 40) & 0xFFFFF;
    }
}
