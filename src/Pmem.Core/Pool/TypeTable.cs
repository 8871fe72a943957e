// TypeTable -- the durable table of persistent types: identity, size, layout hash and the fields the pool must understand.
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Text;
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>A type as recorded durably in a pool's type table.</summary>
/// <param name="Index">The type index stored with each object of this type.</param>
/// <param name="TypeId">The identity derived from the durable name.</param>
/// <param name="Name">The durable name (possibly cut to the table's capacity).</param>
/// <param name="Size">Object size in bytes.</param>
/// <param name="LayoutHash">The layout hash recorded when the type was first stored.</param>
/// <param name="Fields">The string, reference and collection fields.</param>
public sealed record StoredType(uint Index, ulong TypeId, string Name, int Size, ulong LayoutHash, IReadOnlyList<PersistentFieldInfo> Fields);

/// <summary>
/// The durable table of persistent types: each entry records a type's identity, size, layout hash and the fields the
/// pool must understand (strings, references, collections), so checks and frees work without the program's types.
/// </summary>
/// <remarks>
/// Entry (256 bytes): <c>[type id u64][layout hash u64][size u32][field count u32][name length u32][pad u32]
/// [name 96 bytes][fields 30 × u32 (offset &lt;&lt; 8 | kind)][checksum u64]</c>. A new entry is written and drained
/// before the count word that publishes it.
/// </remarks>
internal sealed class TypeTable
{
    public const uint StringTypeIndex = 1;
    public const uint BlobTypeIndex = 2;
    public const uint ListTypeIndex = 3;
    public const uint DictionaryTypeIndex = 4;
    public const uint SortedDictionaryTypeIndex = 5;
    public const uint SortedNodeTypeIndex = 6;
    public const uint FirstUserTypeIndex = 16;

    /// <summary>How many type indexes a pool can give out (built-in and user types): 0 to this, exclusive.</summary>
    public const int IndexCount = (int)FirstUserTypeIndex + PoolLayout.TypeTableCapacity;
    private const int NameCapacity = 96;
    private const int FieldCapacity = 30;
    private const int NameOffset = 32;
    private const int FieldsOffset = 128;
    private const int ChecksumOffset = 248;

    private readonly PersistenceDomain _domain;
    private readonly string _poolPath;
    private readonly Lock _addLock = new();
    private readonly ConcurrentDictionary<ulong, StoredType> _byId = new();
    private StoredType[] _byIndex = [];

    public TypeTable(PersistenceDomain domain, string poolPath)
    {
        _domain = domain;
        _poolPath = poolPath;
    }

    public IReadOnlyList<StoredType> Types => _byIndex;

    /// <summary>Reads and validates every entry.</summary>
    public void Load()
    {
        var count = _domain.Read<ulong>(PoolLayout.TypeCountOffset);
        if (count > PoolLayout.TypeTableCapacity)
        {
            throw new PoolCorruptedException(_poolPath, $"the type table claims {count} entries; it holds at most {PoolLayout.TypeTableCapacity}");
        }

        var types = new StoredType[count];
        for (var i = 0; i < (int)count; i++)
        {
            types[i] = ReadEntry(i);
            _byId[types[i].TypeId] = types[i];
        }

        _byIndex = types;
    }

    public bool IsKnown(uint typeIndex) =>
        typeIndex is StringTypeIndex or BlobTypeIndex or ListTypeIndex or DictionaryTypeIndex or SortedDictionaryTypeIndex or SortedNodeTypeIndex ||
        (typeIndex >= FirstUserTypeIndex && typeIndex - FirstUserTypeIndex < (uint)_byIndex.Length);

    /// <summary>
    /// The one spelling of a type index in messages, checks and statistics: <c>string</c>, <c>(collection storage)</c>,
    /// <c>(list)</c>, <c>(dictionary)</c>, <c>(sorted dictionary)</c>, <c>(sorted dictionary node)</c>, a stored type's name, or <c>(type index N)</c> for one the table does not hold.
    /// </summary>
    public string NameOf(uint typeIndex) => typeIndex switch
    {
        StringTypeIndex => "string",
        BlobTypeIndex => "(collection storage)",
        ListTypeIndex => "(list)",
        DictionaryTypeIndex => "(dictionary)",
        SortedDictionaryTypeIndex => "(sorted dictionary)",
        SortedNodeTypeIndex => "(sorted dictionary node)",
        _ => Get(typeIndex)?.Name ?? $"(type index {typeIndex})",
    };

    public StoredType? Get(uint typeIndex) =>
        typeIndex >= FirstUserTypeIndex && typeIndex - FirstUserTypeIndex < (uint)_byIndex.Length ? _byIndex[typeIndex - FirstUserTypeIndex] : null;

    /// <summary>The index of <paramref name="type"/>, recording it durably on first use.</summary>
    /// <exception cref="PersistentLayoutMismatchException">The pool stores the type with another layout or size.</exception>
    public uint IndexOf(PersistentTypeInfo type)
    {
        if (!_byId.TryGetValue(type.TypeId, out var stored))
        {
            stored = Add(type);
        }

        if (stored.LayoutHash != type.LayoutHash || stored.Size != type.Size)
        {
            throw new PersistentLayoutMismatchException(_poolPath, type.Name, stored.LayoutHash, type.LayoutHash);
        }

        return stored.Index;
    }

    public bool TryGetIndex(ulong typeId, out uint index)
    {
        if (_byId.TryGetValue(typeId, out var stored))
        {
            index = stored.Index;
            return true;
        }

        index = 0;
        return false;
    }

    private StoredType Add(PersistentTypeInfo type)
    {
        lock (_addLock)
        {
            if (_byId.TryGetValue(type.TypeId, out var existing))
            {
                return existing;
            }

            var i = _byIndex.Length;
            if (i >= PoolLayout.TypeTableCapacity)
            {
                throw new PoolException(_poolPath, $"the type table is full ({PoolLayout.TypeTableCapacity} types); cannot record '{type.Name}'");
            }

            if (type.Fields.Length > FieldCapacity)
            {
                throw new ArgumentException($"Persistent type '{type.Name}' has {type.Fields.Length} string/reference/collection fields; a pool records at most {FieldCapacity}.", nameof(type));
            }

            Span<byte> entry = stackalloc byte[PoolLayout.TypeEntrySize];
            entry.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(entry, type.TypeId);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], type.LayoutHash);
            BinaryPrimitives.WriteInt32LittleEndian(entry[16..], type.Size);
            BinaryPrimitives.WriteInt32LittleEndian(entry[20..], type.Fields.Length);
            var name = Encoding.UTF8.GetBytes(type.Name);
            var nameLength = Math.Min(name.Length, NameCapacity);
            BinaryPrimitives.WriteInt32LittleEndian(entry[24..], nameLength);
            name.AsSpan(0, nameLength).CopyTo(entry[NameOffset..]);
            for (var f = 0; f < type.Fields.Length; f++)
            {
                var field = type.Fields[f];
                BinaryPrimitives.WriteUInt32LittleEndian(entry[(FieldsOffset + f * 4)..], ((uint)field.Offset << 8) | (byte)field.Kind);
            }

            BinaryPrimitives.WriteUInt64LittleEndian(entry[ChecksumOffset..], XxHash64.HashToUInt64(entry[..ChecksumOffset]) | 1);
            _domain.Copy(EntryOffset(i), entry); // durable before the count publishes it
            _domain.WriteDurable(PoolLayout.TypeCountOffset, (ulong)(i + 1));

            var stored = ReadEntry(i);
            _byIndex = [.. _byIndex, stored];
            _byId[stored.TypeId] = stored;
            return stored;
        }
    }

    private StoredType ReadEntry(int i)
    {
        var entry = _domain.GetSpan(EntryOffset(i), PoolLayout.TypeEntrySize);
        var checksum = BinaryPrimitives.ReadUInt64LittleEndian(entry[ChecksumOffset..]);
        if (checksum != (XxHash64.HashToUInt64(entry[..ChecksumOffset]) | 1))
        {
            throw new PoolCorruptedException(_poolPath, $"type table entry {i} (offset {EntryOffset(i)}) fails its checksum");
        }

        var size = BinaryPrimitives.ReadInt32LittleEndian(entry[16..]);
        var fieldCount = BinaryPrimitives.ReadInt32LittleEndian(entry[20..]);
        var nameLength = BinaryPrimitives.ReadInt32LittleEndian(entry[24..]);
        if (size <= 0 || size % PersistenceDomain.CacheLineSize != 0 || fieldCount is < 0 or > FieldCapacity || nameLength is < 1 or > NameCapacity)
        {
            throw new PoolCorruptedException(_poolPath, $"type table entry {i} (offset {EntryOffset(i)}) holds impossible values");
        }

        var fields = new PersistentFieldInfo[fieldCount];
        for (var f = 0; f < fieldCount; f++)
        {
            var packed = BinaryPrimitives.ReadUInt32LittleEndian(entry[(FieldsOffset + f * 4)..]);
            fields[f] = new PersistentFieldInfo((int)(packed >> 8), (PersistentFieldKind)(packed & 0xFF));
        }

        return new StoredType(
            FirstUserTypeIndex + (uint)i,
            BinaryPrimitives.ReadUInt64LittleEndian(entry),
            Encoding.UTF8.GetString(entry.Slice(NameOffset, nameLength)),
            size,
            BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]),
            fields);
    }

    private static long EntryOffset(int i) => PoolLayout.TypeTableOffset + (long)i * PoolLayout.TypeEntrySize;
}
