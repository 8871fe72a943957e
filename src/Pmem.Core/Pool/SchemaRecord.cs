// SchemaRecord -- the on-media schema of one stored type: its properties, version and name, the one definition.
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>
/// The schema record of a stored type: a heap block (type index <see cref="TypeTable.SchemaTypeIndex"/>) that the
/// type table entry's schema word points to, holding every stored property so the pool can be read, checked and
/// migrated without the program that wrote it.
/// </summary>
/// <remarks>
/// <code>
/// 0   magic u64 "PMSCHEMA"     8  record format u32 (1)   12 length u32 (the whole record, checksum included)
/// 16  type id u64              24 object size u32         28 version u32
/// 32  property count u32       36 reserved u32            40 layout hash u64
/// 48  durable name (text)
///     per property: offset u32, size u32, flags u8 (1 = nullable), former-name count u8, then the texts name,
///     storage type, target, group (empty = none) and the former names
/// end checksum u64: XxHash64 of everything before it, low bit set
/// </code>
/// A text is a u16 byte count and that many UTF-8 bytes. Records are written whole before the word that publishes
/// them, and never changed.
/// </remarks>
internal static class SchemaRecord
{
    public const ulong Magic = 0x414D454843534D50; // "PMSCHEMA"
    public const uint RecordFormat = 1;
    private const int FixedSize = 48;

    /// <summary>Largest record the pool accepts: far beyond any real class, small enough to bound a damaged length.</summary>
    public const int MaxLength = 1 << 20;

    /// <summary>The record of <paramref name="type"/> (which must have <see cref="PersistentTypeInfo.HasSchema"/>).</summary>
    /// <exception cref="ArgumentException">A name is longer than a text holds, or the record longer than <see cref="MaxLength"/>.</exception>
    public static byte[] Encode(PersistentTypeInfo type)
    {
        var buffer = new List<byte>(256);
        Span<byte> fixedPart = stackalloc byte[FixedSize];
        fixedPart.Clear();
        buffer.AddRange(fixedPart.ToArray());
        AppendText(buffer, type.Name, type.Name);
        Span<byte> head = stackalloc byte[10];
        foreach (var property in type.Properties)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)property.Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(head[4..], (uint)property.Size);
            head[8] = property.IsNullable ? (byte)1 : (byte)0;
            head[9] = property.FormerNames.Length <= byte.MaxValue
                ? (byte)property.FormerNames.Length
                : throw new ArgumentException($"Property '{property.Name}' of '{type.Name}' names more than {byte.MaxValue} former names.", nameof(type));
            buffer.AddRange(head.ToArray());
            AppendText(buffer, property.Name, type.Name);
            AppendText(buffer, property.StorageType, type.Name);
            AppendText(buffer, property.Target ?? string.Empty, type.Name);
            AppendText(buffer, property.Group ?? string.Empty, type.Name);
            foreach (var former in property.FormerNames)
            {
                AppendText(buffer, former, type.Name);
            }
        }

        var length = buffer.Count + 8;
        if (length > MaxLength)
        {
            throw new ArgumentException($"The schema of '{type.Name}' takes {length} bytes; a pool records at most {MaxLength}.", nameof(type));
        }

        var record = new byte[length];
        buffer.CopyTo(record);
        var span = record.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(span, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], RecordFormat);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)length);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], type.TypeId);
        BinaryPrimitives.WriteUInt32LittleEndian(span[24..], (uint)type.Size);
        BinaryPrimitives.WriteUInt32LittleEndian(span[28..], (uint)type.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(span[32..], (uint)type.Properties.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(span[40..], type.LayoutHash);
        BinaryPrimitives.WriteUInt64LittleEndian(span[(length - 8)..], XxHash64.HashToUInt64(span[..(length - 8)]) | 1);
        return record;
    }

    /// <summary>The record's length as its header states it, or -1 when the header is not a record's.</summary>
    public static int LengthAt(PersistenceDomain domain, long offset, long poolSize)
    {
        if (offset < 0 || offset > poolSize - FixedSize - 8 || domain.Read<ulong>(offset) != Magic || domain.Read<uint>(offset + 8) != RecordFormat)
        {
            return -1;
        }

        var length = domain.Read<uint>(offset + 12);
        return length is >= FixedSize + 10 and <= MaxLength && offset + length <= poolSize ? (int)length : -1;
    }

    /// <summary>Decodes a whole record; null (with <paramref name="problem"/>) when it is damaged in any way.</summary>
    public static PersistentTypeInfo? Decode(ReadOnlySpan<byte> record, out string? problem)
    {
        problem = null;
        try
        {
            var length = record.Length;
            if (length < FixedSize + 10 || BinaryPrimitives.ReadUInt64LittleEndian(record) != Magic || BinaryPrimitives.ReadUInt32LittleEndian(record[12..]) != length)
            {
                problem = "its header is not a schema record's";
                return null;
            }

            if (BinaryPrimitives.ReadUInt64LittleEndian(record[(length - 8)..]) != (XxHash64.HashToUInt64(record[..(length - 8)]) | 1))
            {
                problem = "it fails its checksum";
                return null;
            }

            var typeId = BinaryPrimitives.ReadUInt64LittleEndian(record[16..]);
            var size = (int)BinaryPrimitives.ReadUInt32LittleEndian(record[24..]);
            var version = (int)BinaryPrimitives.ReadUInt32LittleEndian(record[28..]);
            var count = BinaryPrimitives.ReadUInt32LittleEndian(record[32..]);
            var layoutHash = BinaryPrimitives.ReadUInt64LittleEndian(record[40..]);
            var position = FixedSize;
            var body = record[..(length - 8)];
            var name = ReadText(body, ref position);
            if (count > (uint)body.Length / 10)
            {
                problem = $"it claims {count} properties";
                return null;
            }

            var properties = new PersistentPropertyInfo[count];
            for (var i = 0; i < properties.Length; i++)
            {
                var head = body.Slice(position, 10);
                position += 10;
                var offset = (int)BinaryPrimitives.ReadUInt32LittleEndian(head);
                var propertySize = (int)BinaryPrimitives.ReadUInt32LittleEndian(head[4..]);
                var propertyName = ReadText(body, ref position);
                var storageType = ReadText(body, ref position);
                var target = ReadText(body, ref position);
                var group = ReadText(body, ref position);
                var formerNames = new string[head[9]];
                for (var f = 0; f < formerNames.Length; f++)
                {
                    formerNames[f] = ReadText(body, ref position);
                }

                properties[i] = new PersistentPropertyInfo(propertyName, storageType, offset, propertySize, group, target, (head[8] & 1) != 0, formerNames);
            }

            if (position != body.Length)
            {
                problem = "it holds bytes after its last property";
                return null;
            }

            var type = new PersistentTypeInfo(name, size, layoutHash, version, properties);
            if (type.TypeId != typeId)
            {
                problem = $"its name '{name}' does not have the identity it records";
                return null;
            }

            return type;
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or DecoderFallbackException)
        {
            // Any text or number past the record, or a property the type could not hold: damage, reported as such.
            problem = "it holds impossible values (" + e.Message + ")";
            return null;
        }
    }

    private static void AppendText(List<byte> buffer, string text, string typeName)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"A name in the schema of '{typeName}' is {bytes.Length} UTF-8 bytes; a pool records at most {ushort.MaxValue}.");
        }

        buffer.Add((byte)bytes.Length);
        buffer.Add((byte)(bytes.Length >> 8));
        buffer.AddRange(bytes);
    }

    private static string ReadText(ReadOnlySpan<byte> body, ref int position)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(position, 2));
        var text = Strict.GetString(body.Slice(position + 2, length));
        position += 2 + length;
        return text;
    }

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
