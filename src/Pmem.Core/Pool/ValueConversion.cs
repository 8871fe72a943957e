// ValueConversion -- the lossless widenings a migration makes by itself, and the bytes of stored scalars and T? values.
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Pmem.Pool;

/// <summary>
/// The stored scalar types by their canonical names (<c>System.Int32</c>, <c>enum:System.Byte</c>, <c>System.Int64?</c>)
/// and the conversions between them that lose nothing: a wider integer, a float that holds every value, a decimal,
/// a value into its nullable form, an enum to and from its underlying type.
/// </summary>
internal static class ValueConversion
{
    private enum Family
    {
        Signed,
        Unsigned,
        Float,
        Decimal,
        Other,
    }

    /// <summary>Size and the runtime's alignment (which places the value inside a <c>T?</c>), and what it is.</summary>
    private readonly record struct Scalar(int Size, int Alignment, Family Family, int Bits);

    private static readonly Dictionary<string, Scalar> Scalars = new(StringComparer.Ordinal)
    {
        ["System.Boolean"] = new(1, 1, Family.Other, 0),
        ["System.Byte"] = new(1, 1, Family.Unsigned, 8),
        ["System.SByte"] = new(1, 1, Family.Signed, 8),
        ["System.Int16"] = new(2, 2, Family.Signed, 16),
        ["System.UInt16"] = new(2, 2, Family.Unsigned, 16),
        ["System.Char"] = new(2, 2, Family.Other, 0),
        ["System.Half"] = new(2, 2, Family.Float, 11),
        ["System.Int32"] = new(4, 4, Family.Signed, 32),
        ["System.UInt32"] = new(4, 4, Family.Unsigned, 32),
        ["System.Single"] = new(4, 4, Family.Float, 24),
        ["System.Int64"] = new(8, 8, Family.Signed, 64),
        ["System.UInt64"] = new(8, 8, Family.Unsigned, 64),
        ["System.Double"] = new(8, 8, Family.Float, 53),
        ["System.DateTime"] = new(8, 8, Family.Other, 0),
        ["System.TimeSpan"] = new(8, 8, Family.Other, 0),
        ["System.Decimal"] = new(16, 8, Family.Decimal, 96),
        ["System.Guid"] = new(16, 4, Family.Other, 0),
        ["System.DateTimeOffset"] = new(16, 8, Family.Other, 0),
        ["System.Int128"] = new(16, 16, Family.Signed, 128),
        ["System.UInt128"] = new(16, 16, Family.Unsigned, 128),
    };

    /// <summary>Whether a <paramref name="source"/> value converts to <paramref name="target"/> without loss.</summary>
    public static bool CanWiden(string source, string target)
    {
        if (!TryParse(source, out var from, out var fromNullable) || !TryParse(target, out var to, out var toNullable) || (fromNullable && !toNullable))
        {
            return false;
        }

        return from == to || Widens(Scalars[from], Scalars[to]);
    }

    /// <summary>
    /// Writes the stored <paramref name="source"/> value (of canonical type <paramref name="sourceType"/>) as
    /// <paramref name="targetType"/> into <paramref name="target"/> (zeroed, the target property's bytes).
    /// </summary>
    public static void Widen(ReadOnlySpan<byte> source, string sourceType, Span<byte> target, string targetType)
    {
        TryParse(sourceType, out var from, out var fromNullable);
        TryParse(targetType, out var to, out var toNullable);
        var (fromScalar, toScalar) = (Scalars[from], Scalars[to]);
        if (fromNullable)
        {
            if (source[0] == 0)
            {
                return; // null stays null: the zeroed target is a T? without a value
            }

            source = source.Slice(fromScalar.Alignment, fromScalar.Size);
        }

        if (toNullable)
        {
            target[0] = 1;
            target = target.Slice(toScalar.Alignment, toScalar.Size);
        }

        if (from == to)
        {
            source[..toScalar.Size].CopyTo(target);
            return;
        }

        switch (toScalar.Family)
        {
            case Family.Float when fromScalar.Family == Family.Float:
                WriteFloat(target, to, ReadFloat(source, from));
                break;
            case Family.Float:
                WriteFloat(target, to, (double)ReadInteger(source, fromScalar));
                break;
            case Family.Decimal:
                var whole = ReadInteger(source, fromScalar);
                var value = fromScalar.Family == Family.Unsigned ? (decimal)(ulong)whole : (decimal)(long)whole;
                MemoryMarshal.Write(target, in value);
                break;
            default:
                var integer = ReadInteger(source, fromScalar);
                Span<byte> wide = stackalloc byte[16];
                BinaryPrimitives.WriteInt128LittleEndian(wide, integer);
                wide[..toScalar.Size].CopyTo(target);
                break;
        }
    }

    /// <summary>Where the value of a stored <c>T?</c> starts (the underlying type's alignment), or -1 for an unknown type.</summary>
    public static int NullableValueOffset(string storageType) =>
        TryParse(storageType, out var scalar, out var nullable) && nullable ? Scalars[scalar].Alignment : -1;

    /// <summary>
    /// The scalar behind a stored type (<c>enum:</c> and <c>?</c> removed), its size, and where a <c>T?</c>'s value
    /// starts (0 for a plain value); false for anything but a scalar, an enum or their nullable forms.
    /// </summary>
    public static bool TryDescribe(string storageType, out string scalar, out int size, out int nullableValueOffset)
    {
        if (!TryParse(storageType, out scalar, out var nullable))
        {
            (size, nullableValueOffset) = (0, 0);
            return false;
        }

        var described = Scalars[scalar];
        (size, nullableValueOffset) = (described.Size, nullable ? described.Alignment : 0);
        return true;
    }

    private static bool Widens(Scalar from, Scalar to) => (from.Family, to.Family) switch
    {
        (Family.Signed, Family.Signed) or (Family.Unsigned, Family.Unsigned) or (Family.Unsigned, Family.Signed) => to.Bits > from.Bits,
        (Family.Signed, Family.Float) => from.Bits - 1 <= to.Bits,
        (Family.Unsigned, Family.Float) => from.Bits <= to.Bits,
        (Family.Float, Family.Float) => to.Bits > from.Bits,
        (Family.Signed or Family.Unsigned, Family.Decimal) => from.Bits <= 64,
        _ => false,
    };

    /// <summary>The scalar's name without <c>enum:</c> (an enum is stored as its underlying type) and whether it is a <c>T?</c>.</summary>
    private static bool TryParse(string storageType, out string scalar, out bool nullable)
    {
        nullable = storageType.EndsWith('?');
        scalar = nullable ? storageType[..^1] : storageType;
        if (scalar.StartsWith("enum:", StringComparison.Ordinal))
        {
            scalar = scalar["enum:".Length..];
        }

        return Scalars.ContainsKey(scalar);
    }

    private static Int128 ReadInteger(ReadOnlySpan<byte> source, Scalar scalar)
    {
        Span<byte> wide = stackalloc byte[16];
        var negative = scalar.Family == Family.Signed && (source[scalar.Size - 1] & 0x80) != 0;
        wide.Fill(negative ? (byte)0xFF : (byte)0);
        source[..scalar.Size].CopyTo(wide);
        return BinaryPrimitives.ReadInt128LittleEndian(wide);
    }

    private static double ReadFloat(ReadOnlySpan<byte> source, string type) => type switch
    {
        "System.Half" => (double)BinaryPrimitives.ReadHalfLittleEndian(source),
        "System.Single" => BinaryPrimitives.ReadSingleLittleEndian(source),
        _ => BinaryPrimitives.ReadDoubleLittleEndian(source),
    };

    private static void WriteFloat(Span<byte> target, string type, double value)
    {
        switch (type)
        {
            case "System.Half":
                BinaryPrimitives.WriteHalfLittleEndian(target, (Half)value); // exact: only 8-bit integers widen to it
                break;
            case "System.Single":
                BinaryPrimitives.WriteSingleLittleEndian(target, (float)value);
                break;
            default:
                BinaryPrimitives.WriteDoubleLittleEndian(target, value);
                break;
        }
    }
}
