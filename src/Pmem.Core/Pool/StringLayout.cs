// StringLayout -- the string block: [length i32][0 i32][UTF-16 characters], the one definition of its layout.
namespace Pmem.Pool;

/// <summary>
/// The durable layout of a persistent string: a block of type <see cref="TypeTable.StringTypeIndex"/> holding its
/// length in UTF-16 code units, a zero word, then the characters. Never changed in place: a new string replaces the
/// reference failure-atomically (see <c>docs/pool-format.md</c>).
/// </summary>
internal static class StringLayout
{
    /// <summary>The length in UTF-16 code units (i32).</summary>
    public const int LengthOffset = 0;

    /// <summary>A zero word (i32), keeping the characters 8-byte aligned.</summary>
    public const int ReservedOffset = 4;

    /// <summary>The first character.</summary>
    public const int CharsOffset = 8;

    /// <summary>Bytes a string of <paramref name="length"/> characters takes.</summary>
    public static long BlockSize(int length) => CharsOffset + 2L * length;

    /// <summary>Whether a stored <paramref name="length"/> is possible in a block of <paramref name="capacity"/> bytes.</summary>
    public static bool Fits(int length, long capacity) => length >= 0 && BlockSize(length) <= capacity;
}
