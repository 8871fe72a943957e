// StableHash -- the stable hash dictionaries store: XXH3-64 of a value's bytes, with the 4- and 8-byte paths inline.
using System.IO.Hashing;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmem.Objects;

/// <summary>
/// The stable hash of an unmanaged value's bytes that dictionaries store: XXH3-64 with seed 0, exactly
/// <see cref="XxHash3.HashToUInt64(ReadOnlySpan{byte}, long)"/>. Values of 4 or 8 bytes (int, long, double, ...) take
/// XXH3's own 4-to-8-byte path written out inline, which is a few multiplies instead of a call through a span; the
/// result is bit-for-bit the same, so this is no format change (tests compare both over random values).
/// </summary>
internal static class StableHash
{
    // XXH3's default secret, bytes 8..15 and 16..23, read little-endian; the seed is 0.
    private const ulong SecretWord1 = 0x1CAD21F72C81017CUL;
    private const ulong SecretWord2 = 0xDB979083E96DD4DEUL;
    private const ulong Bitflip = SecretWord1 ^ SecretWord2;
    private const ulong PrimeMx2 = 0x9FB21C651E98DF25UL;

    /// <summary>The hash of <paramref name="value"/>'s bytes; <typeparamref name="T"/> must hold no references.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong OfBytes<T>(in T value)
    {
        if (Unsafe.SizeOf<T>() == 8)
        {
            var word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.As<T, byte>(ref Unsafe.AsRef(in value)));
            // input = high 32 bits + (low 32 bits << 32): the word rotated by 32.
            return Rrmxmx(BitOperations.RotateLeft(word, 32) ^ Bitflip, 8);
        }

        if (Unsafe.SizeOf<T>() == 4)
        {
            ulong word = Unsafe.ReadUnaligned<uint>(ref Unsafe.As<T, byte>(ref Unsafe.AsRef(in value)));
            return Rrmxmx((word | (word << 32)) ^ Bitflip, 4);
        }

        return XxHash3.HashToUInt64(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, byte>(ref Unsafe.AsRef(in value)), Unsafe.SizeOf<T>()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Rrmxmx(ulong h, ulong length)
    {
        h ^= BitOperations.RotateLeft(h, 49) ^ BitOperations.RotateLeft(h, 24);
        h *= PrimeMx2;
        h ^= (h >> 35) + length;
        h *= PrimeMx2;
        return h ^ (h >> 28);
    }
}
