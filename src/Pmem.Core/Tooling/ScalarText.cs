// ScalarText -- a stored scalar's bytes as exact JSON (and text for people), and back: the export format's values.
using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Pmem.Tooling;

/// <summary>
/// Converts a scalar's stored bytes to its JSON form and back without loss (docs/tool.md, "Export format"): integers
/// up to 64 bits, <c>bool</c>, <c>decimal</c>, <c>float</c> and <c>double</c> as JSON numbers (shortest round-trip
/// form; NaN and infinities as the strings <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>); <c>Half</c> likewise;
/// <c>Int128</c>/<c>UInt128</c> as decimal strings (beyond what JSON readers hold exactly); <c>char</c> as a one-character
/// string (a lone surrogate as its number); <c>Guid</c>, <c>TimeSpan</c> (<c>c</c> format), <c>DateTimeOffset</c>
/// (<c>O</c> format) and <c>DateTime</c> (ticks to 100 ns, then <c>Z</c> for UTC, nothing for unspecified,
/// <c>" local"</c> for local) as strings.
/// </summary>
internal static class ScalarText
{
    private const string DateTimeFormat = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff";
    private const string LocalSuffix = " local";

    public static void Write(Utf8JsonWriter json, ScalarKind kind, ReadOnlySpan<byte> bytes)
    {
        switch (kind)
        {
            case ScalarKind.Boolean:
                json.WriteBooleanValue(bytes[0] != 0);
                break;
            case ScalarKind.Byte:
                json.WriteNumberValue(bytes[0]);
                break;
            case ScalarKind.SByte:
                json.WriteNumberValue((sbyte)bytes[0]);
                break;
            case ScalarKind.Int16:
                json.WriteNumberValue(BinaryPrimitives.ReadInt16LittleEndian(bytes));
                break;
            case ScalarKind.UInt16:
                json.WriteNumberValue(BinaryPrimitives.ReadUInt16LittleEndian(bytes));
                break;
            case ScalarKind.Int32:
                json.WriteNumberValue(BinaryPrimitives.ReadInt32LittleEndian(bytes));
                break;
            case ScalarKind.UInt32:
                json.WriteNumberValue(BinaryPrimitives.ReadUInt32LittleEndian(bytes));
                break;
            case ScalarKind.Int64:
                json.WriteNumberValue(BinaryPrimitives.ReadInt64LittleEndian(bytes));
                break;
            case ScalarKind.UInt64:
                json.WriteNumberValue(BinaryPrimitives.ReadUInt64LittleEndian(bytes));
                break;
            case ScalarKind.Decimal:
                json.WriteNumberValue(MemoryMarshal.Read<decimal>(bytes));
                break;
            case ScalarKind.Double:
                WriteFloat(json, BinaryPrimitives.ReadDoubleLittleEndian(bytes), d => d.ToString("R", CultureInfo.InvariantCulture));
                break;
            case ScalarKind.Single:
                WriteFloat(json, BinaryPrimitives.ReadSingleLittleEndian(bytes), s => s.ToString("R", CultureInfo.InvariantCulture));
                break;
            case ScalarKind.Half:
                WriteFloat(json, BinaryPrimitives.ReadHalfLittleEndian(bytes), h => h.ToString(CultureInfo.InvariantCulture));
                break;
            case ScalarKind.Char:
                var c = (char)BinaryPrimitives.ReadUInt16LittleEndian(bytes);
                if (char.IsSurrogate(c))
                {
                    json.WriteNumberValue(c); // JSON text cannot hold half a surrogate pair
                }
                else
                {
                    json.WriteStringValue([c]);
                }

                break;
            default:
                json.WriteStringValue(Text(kind, bytes));
                break;
        }
    }

    /// <summary>The value as a person reads it (the JSON text of numbers; strings unquoted).</summary>
    public static string Text(ScalarKind kind, ReadOnlySpan<byte> bytes) => kind switch
    {
        ScalarKind.Boolean => bytes[0] != 0 ? "true" : "false",
        ScalarKind.Byte => bytes[0].ToString(CultureInfo.InvariantCulture),
        ScalarKind.SByte => ((sbyte)bytes[0]).ToString(CultureInfo.InvariantCulture),
        ScalarKind.Int16 => BinaryPrimitives.ReadInt16LittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.Char => ((char)BinaryPrimitives.ReadUInt16LittleEndian(bytes)).ToString(),
        ScalarKind.Half => BinaryPrimitives.ReadHalfLittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.Single => BinaryPrimitives.ReadSingleLittleEndian(bytes).ToString("R", CultureInfo.InvariantCulture),
        ScalarKind.Int64 => BinaryPrimitives.ReadInt64LittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.UInt64 => BinaryPrimitives.ReadUInt64LittleEndian(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.Double => BinaryPrimitives.ReadDoubleLittleEndian(bytes).ToString("R", CultureInfo.InvariantCulture),
        ScalarKind.DateTime => DateTimeText(MemoryMarshal.Read<DateTime>(bytes)),
        ScalarKind.TimeSpan => MemoryMarshal.Read<TimeSpan>(bytes).ToString("c", CultureInfo.InvariantCulture),
        ScalarKind.Decimal => MemoryMarshal.Read<decimal>(bytes).ToString(CultureInfo.InvariantCulture),
        ScalarKind.Guid => MemoryMarshal.Read<Guid>(bytes).ToString("D"),
        ScalarKind.DateTimeOffset => MemoryMarshal.Read<DateTimeOffset>(bytes).ToString("O", CultureInfo.InvariantCulture),
        ScalarKind.Int128 => MemoryMarshal.Read<Int128>(bytes).ToString(CultureInfo.InvariantCulture),
        _ => MemoryMarshal.Read<UInt128>(bytes).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Whether the export form of the value reads back as the same value. False for bytes that are no value of the
    /// kind, which the runtime still formats: a DateTime or DateTimeOffset past its range or with an offset beyond
    /// 14 hours, a decimal with a scale above 28 or stray flag bits.
    /// </summary>
    public static bool RoundTrips(ScalarKind kind, ReadOnlySpan<byte> bytes)
    {
        try
        {
            switch (kind)
            {
                case ScalarKind.DateTime:
                    var dt = MemoryMarshal.Read<DateTime>(bytes);
                    return TryParseDateTime(DateTimeText(dt), out var dtBack) && dtBack.Ticks == dt.Ticks && dtBack.Kind == dt.Kind;
                case ScalarKind.DateTimeOffset:
                    var dto = MemoryMarshal.Read<DateTimeOffset>(bytes);
                    return DateTimeOffset.TryParseExact(Text(kind, bytes), "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out var dtoBack) && dtoBack.EqualsExact(dto);
                case ScalarKind.TimeSpan:
                    var ts = MemoryMarshal.Read<TimeSpan>(bytes);
                    return TimeSpan.TryParseExact(Text(kind, bytes), "c", CultureInfo.InvariantCulture, out var tsBack) && tsBack == ts;
                case ScalarKind.Decimal:
                    Span<int> bits = stackalloc int[4];
                    decimal.GetBits(MemoryMarshal.Read<decimal>(bytes), bits);
                    _ = new decimal(bits); // checks the scale and flags
                    return true;
                default:
                    return true; // every bit pattern of the others is a value, written exactly
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            return false; // formatting or building a value out of range (ArgumentOutOfRangeException is one)
        }
    }

    /// <summary>
    /// Reads the JSON value at the reader into <paramref name="bytes"/> (the scalar's width, written whole); false when
    /// the token is not this scalar's form or its value is out of range.
    /// </summary>
    public static bool TryRead(ref Utf8JsonReader json, ScalarKind kind, scoped Span<byte> bytes)
    {
        bytes.Clear();
        if (json.TokenType == JsonTokenType.Number)
        {
            switch (kind)
            {
                case ScalarKind.Byte when json.TryGetByte(out var v):
                    bytes[0] = v;
                    return true;
                case ScalarKind.SByte when json.TryGetSByte(out var v):
                    bytes[0] = (byte)v;
                    return true;
                case ScalarKind.Int16 when json.TryGetInt16(out var v):
                    return Put(bytes, v);
                case ScalarKind.UInt16 when json.TryGetUInt16(out var v):
                    return Put(bytes, v);
                case ScalarKind.Char when json.TryGetUInt16(out var v):
                    return Put(bytes, v);
                case ScalarKind.Int32 when json.TryGetInt32(out var v):
                    return Put(bytes, v);
                case ScalarKind.UInt32 when json.TryGetUInt32(out var v):
                    return Put(bytes, v);
                case ScalarKind.Int64 when json.TryGetInt64(out var v):
                    return Put(bytes, v);
                case ScalarKind.UInt64 when json.TryGetUInt64(out var v):
                    return Put(bytes, v);
                case ScalarKind.Decimal when json.TryGetDecimal(out var v):
                    return Put(bytes, v);
                case ScalarKind.Double when json.TryGetDouble(out var v):
                    return Put(bytes, v);
                case ScalarKind.Single when json.TryGetSingle(out var v):
                    return Put(bytes, v);
                case ScalarKind.Half when Half.TryParse(Raw(ref json), NumberStyles.Float, CultureInfo.InvariantCulture, out var v):
                    return Put(bytes, v);
                default:
                    return false;
            }
        }

        if (json.TokenType is JsonTokenType.True or JsonTokenType.False)
        {
            bytes[0] = json.TokenType == JsonTokenType.True ? (byte)1 : (byte)0;
            return kind == ScalarKind.Boolean;
        }

        if (json.TokenType != JsonTokenType.String)
        {
            return false;
        }

        string text;
        try
        {
            text = json.GetString()!;
        }
        catch (InvalidOperationException)
        {
            return false; // half a surrogate pair, or bytes that are not UTF-8: no value of any type
        }

        var invariant = CultureInfo.InvariantCulture;
        return kind switch
        {
            ScalarKind.Char => text.Length == 1 && Put(bytes, text[0]),
            ScalarKind.Double => TryParseSpecial(text, out double d) && Put(bytes, d),
            ScalarKind.Single => TryParseSpecial(text, out double s) && Put(bytes, (float)s),
            ScalarKind.Half => TryParseSpecial(text, out double h) && Put(bytes, (Half)h),
            ScalarKind.DateTime => TryParseDateTime(text, out var dt) && Put(bytes, dt),
            ScalarKind.TimeSpan => TimeSpan.TryParseExact(text, "c", invariant, out var ts) && Put(bytes, ts),
            ScalarKind.Guid => Guid.TryParseExact(text, "D", out var g) && Put(bytes, g),
            ScalarKind.DateTimeOffset => DateTimeOffset.TryParseExact(text, "O", invariant, DateTimeStyles.None, out var dto) && Put(bytes, dto),
            ScalarKind.Int128 => Int128.TryParse(text, NumberStyles.AllowLeadingSign, invariant, out var i) && Put(bytes, i),
            ScalarKind.UInt128 => UInt128.TryParse(text, NumberStyles.None, invariant, out var u) && Put(bytes, u),
            _ => false,
        };
    }

    private static string DateTimeText(DateTime value) => value.ToString(DateTimeFormat, CultureInfo.InvariantCulture) + value.Kind switch
    {
        DateTimeKind.Utc => "Z",
        DateTimeKind.Local => LocalSuffix,
        _ => "",
    };

    private static bool TryParseDateTime(string text, out DateTime value)
    {
        var kind = text.EndsWith('Z') ? DateTimeKind.Utc : text.EndsWith(LocalSuffix, StringComparison.Ordinal) ? DateTimeKind.Local : DateTimeKind.Unspecified;
        var body = kind switch
        {
            DateTimeKind.Utc => text[..^1],
            DateTimeKind.Local => text[..^LocalSuffix.Length],
            _ => text,
        };
        if (!DateTime.TryParseExact(body, DateTimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out value))
        {
            return false;
        }

        value = DateTime.SpecifyKind(value, kind);
        return true;
    }

    private static void WriteFloat<T>(Utf8JsonWriter json, T value, Func<T, string> format) where T : IFloatingPoint<T>
    {
        if (T.IsNaN(value) || T.IsInfinity(value))
        {
            json.WriteStringValue(T.IsNaN(value) ? "NaN" : T.IsNegative(value) ? "-Infinity" : "Infinity");
        }
        else
        {
            json.WriteRawValue(format(value), skipInputValidation: true);
        }
    }

    private static bool TryParseSpecial(string text, out double value)
    {
        value = text switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            _ => 0,
        };
        return value != 0 || double.IsNaN(value);
    }

    private static string Raw(ref Utf8JsonReader json) =>
        System.Text.Encoding.UTF8.GetString(json.HasValueSequence ? json.ValueSequence.ToArray() : json.ValueSpan);

    private static bool Put<T>(Span<byte> bytes, T value) where T : unmanaged
    {
        MemoryMarshal.Write(bytes, in value);
        return true;
    }
}
