// StringKeyPrefix -- a string key's first characters in an order-preserving byte code, kept in its slot so that most comparisons stay in the node.
using System.Buffers.Binary;

namespace Pmem.Pool;

/// <summary>
/// The prefix a sorted string key keeps in its slot after the string's offset (<see cref="KeyOrder.OrdinalPrefixed"/>):
/// <see cref="Size"/> bytes, the first 23 the string's UTF-16 code units in a byte code whose byte order is their
/// ordinal order, the last the code's length when the whole string fits (0–23) or <see cref="Truncated"/>.
/// </summary>
/// <remarks>
/// A code unit below 0x7F takes one byte (the unit + 1, never 0), one up to 0x3FFF two (0x80 + its high byte, its low
/// byte), any other three (0xC0, high, low). A code's first byte is never 0 and tells its length, so the code is
/// prefix-free, and comparing two codes byte by byte, zero-padded, orders their strings as
/// <see cref="string.CompareOrdinal(string, string)"/> does; cutting both at the same byte keeps that order (no longer
/// strict). Equal prefixes with a length mean equal strings; two equal truncated prefixes leave it to the strings.
/// </remarks>
internal static class StringKeyPrefix
{
    public const int Size = 24;
    public const byte Truncated = 0xFF;

    /// <summary>What <see cref="Compare"/> answers when the prefixes cannot decide: both truncated and equal.</summary>
    public const int Undecided = int.MinValue;

    private const int CodeBytes = Size - 1;

    /// <summary>A prefix as three big-endian words, the form a search key is compared in (encoded once per search).</summary>
    public readonly record struct Words(ulong First, ulong Second, ulong Third);

    /// <summary>Writes the prefix of <paramref name="text"/> into the first <see cref="Size"/> bytes of <paramref name="prefix"/>.</summary>
    public static void Encode(ReadOnlySpan<char> text, Span<byte> prefix)
    {
        prefix = prefix[..Size];
        prefix.Clear();
        Span<byte> code = stackalloc byte[3];
        var used = 0;
        foreach (var unit in text)
        {
            if (unit < 0x7F && used < CodeBytes)
            {
                prefix[used++] = (byte)(unit + 1); // the common case, without the general path's copy
                continue;
            }

            int length;
            if (unit < 0x7F)
            {
                (code[0], length) = ((byte)(unit + 1), 1);
            }
            else if (unit < 0x4000)
            {
                (code[0], code[1], length) = ((byte)(0x80 + (unit >> 8)), (byte)unit, 2);
            }
            else
            {
                (code[0], code[1], code[2], length) = (0xC0, (byte)(unit >> 8), (byte)unit, 3);
            }

            var fits = Math.Min(length, CodeBytes - used);
            code[..fits].CopyTo(prefix[used..]);
            used += fits;
            if (fits < length)
            {
                prefix[CodeBytes] = Truncated; // a code cut short still orders: all prefixes are cut at the same byte
                return;
            }
        }

        prefix[CodeBytes] = (byte)used;
    }

    /// <summary>The prefix of <paramref name="text"/> as words.</summary>
    public static Words Of(ReadOnlySpan<char> text)
    {
        Span<byte> prefix = stackalloc byte[Size];
        Encode(text, prefix);
        return Read(prefix);
    }

    /// <summary>A stored prefix as words.</summary>
    public static Words Read(ReadOnlySpan<byte> prefix) => new(
        BinaryPrimitives.ReadUInt64BigEndian(prefix),
        BinaryPrimitives.ReadUInt64BigEndian(prefix[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(prefix[16..]));

    /// <summary>
    /// Compares a stored prefix with a search key's: negative, zero or positive as their strings compare ordinally, or
    /// <see cref="Undecided"/> when only the strings can tell.
    /// </summary>
    public static int Compare(ReadOnlySpan<byte> stored, in Words key)
    {
        var word = BinaryPrimitives.ReadUInt64BigEndian(stored);
        if (word != key.First)
        {
            return word < key.First ? -1 : 1;
        }

        word = BinaryPrimitives.ReadUInt64BigEndian(stored[8..]);
        if (word != key.Second)
        {
            return word < key.Second ? -1 : 1;
        }

        word = BinaryPrimitives.ReadUInt64BigEndian(stored[16..]); // its last byte is the length: see the remarks
        if (word != key.Third)
        {
            return word < key.Third ? -1 : 1;
        }

        return (byte)word == Truncated ? Undecided : 0;
    }
}
