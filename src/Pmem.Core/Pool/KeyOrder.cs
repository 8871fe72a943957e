// KeyOrder -- how a sorted collection orders its keys: the code recorded in its header.
namespace Pmem.Pool;

/// <summary>How a sorted collection orders its keys, recorded durably so checks can verify order without the program's types.</summary>
internal enum KeyOrder
{
    /// <summary>Two's-complement integers of the key size (signed integers, signed enums, <see cref="TimeSpan"/>, <see cref="Int128"/>).</summary>
    Signed = 1,

    /// <summary>Unsigned integers of the key size (unsigned integers and enums, <see cref="char"/>, <see cref="bool"/>, <see cref="UInt128"/>).</summary>
    Unsigned = 2,

    /// <summary>Owned strings, compared ordinally.</summary>
    Ordinal = 3,

    /// <summary><see cref="System.Guid"/>'s own order.</summary>
    Guid = 4,

    /// <summary><see cref="System.DateTime"/> by ticks (the kind ignored, as <see cref="System.DateTime.CompareTo(System.DateTime)"/> does).</summary>
    DateTime = 5,

    /// <summary><see cref="System.DateTimeOffset"/> by UTC instant.</summary>
    DateTimeOffset = 6,

    /// <summary><see cref="decimal"/> by value.</summary>
    Decimal = 7,

    /// <summary>
    /// Owned strings, compared ordinally, each slot holding the string's offset and then its first characters in the
    /// order-preserving code of <see cref="StringKeyPrefix"/>: most comparisons end inside the node.
    /// </summary>
    OrdinalPrefixed = 8,
}
