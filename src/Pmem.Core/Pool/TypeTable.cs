// TypeTable -- the durable table of persistent types: identity, size, layout hash, schema record and state per entry.
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Pmem.Heap;
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>A type as recorded durably in a pool's type table.</summary>
/// <param name="Index">The type index stored with each object of this type.</param>
/// <param name="TypeId">The identity derived from the durable name.</param>
/// <param name="Name">The durable name.</param>
/// <param name="Size">Object size in bytes.</param>
/// <param name="LayoutHash">The layout hash recorded when the type was first stored.</param>
/// <param name="Fields">The string, reference and collection fields.</param>
internal sealed record StoredType(uint Index, ulong TypeId, string Name, int Size, ulong LayoutHash, IReadOnlyList<PersistentFieldInfo> Fields)
{
    /// <summary>The recorded schema (every property and the class's version), or null for an entry written before schema records.</summary>
    internal PersistentTypeInfo? Schema { get; init; }

    /// <summary>The offset of the schema record, or 0.</summary>
    internal long SchemaOffset { get; init; }

    /// <summary>Whether a migration replaced this entry: no object has its index any more.</summary>
    internal bool IsRetired { get; init; }

    /// <summary>The class version the pool recorded (1 for entries without a schema).</summary>
    internal int Version => Schema?.Version ?? 1;

    /// <summary>Whether <paramref name="type"/> has this entry's layout (hash and size): its objects read as they are stored.</summary>
    internal bool HasLayoutOf(PersistentTypeInfo type) => LayoutHash == type.LayoutHash && Size == type.Size;
}

/// <summary>
/// The durable table of persistent types: each entry records a type's identity, size, layout hash and the fields the
/// pool must understand; its schema word (in the header) points to the type's <see cref="SchemaRecord"/> and marks
/// entries a migration retired.
/// </summary>
/// <remarks>
/// Entry (256 bytes): <c>[type id u64][layout hash u64][size u32][field count u32][name length u32][pad u32]
/// [name 96 bytes][fields 30 × u32 (offset &lt;&lt; 8 | kind)][checksum u64]</c>. Entries with a schema record keep
/// their fields there (field count 0: no cap) and their whole name (the entry holds the first 96 bytes). An entry is
/// written and drained beyond the count, then published by one commit that sets the count and its schema word; it is
/// never changed afterwards. Entries of version-3 pools have no schema word until the program records one.
/// </remarks>
internal sealed class TypeTable
{
    public const uint StringTypeIndex = 1;
    public const uint BlobTypeIndex = 2;
    public const uint ListTypeIndex = 3;
    public const uint DictionaryTypeIndex = 4;
    public const uint SortedDictionaryTypeIndex = 5;
    public const uint SortedNodeTypeIndex = 6;

    /// <summary>The <see cref="IndexDirectory"/> block, owned by the header's index directory word.</summary>
    public const uint IndexDirectoryTypeIndex = 7;

    /// <summary>A block a migration moved out of: its first word is the new offset, until the migration frees it.</summary>
    public const uint ForwardingTypeIndex = 14;

    /// <summary>A <see cref="SchemaRecord"/>, owned by its type table entry.</summary>
    public const uint SchemaTypeIndex = 15;

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
    private volatile Snapshot _snapshot = new([], new Dictionary<ulong, StoredType>());

    public TypeTable(PersistenceDomain domain, string poolPath)
    {
        _domain = domain;
        _poolPath = poolPath;
    }

    /// <summary>Serializes additions and migrations of entries.</summary>
    public Lock AddLock { get; } = new();

    /// <summary>Every entry, retired ones included, by index order.</summary>
    public IReadOnlyList<StoredType> Types => _snapshot.ByIndex;

    public int Count => _snapshot.ByIndex.Length;

    /// <summary>Reads and validates every entry and schema record (not their blocks' allocation: see the pool's check).</summary>
    /// <exception cref="PoolCorruptedException">An entry, schema word or schema record is damaged.</exception>
    public void Load(long poolSize)
    {
        var count = _domain.Read<ulong>(PoolLayout.TypeCountOffset);
        if (count > PoolLayout.TypeTableCapacity)
        {
            throw new PoolCorruptedException(_poolPath, $"the type table claims {count} entries; it holds at most {PoolLayout.TypeTableCapacity}");
        }

        var migration = _domain.Read<ulong>(PoolLayout.MigrationTypesOffset);
        var types = new StoredType[count];
        var byId = new Dictionary<ulong, StoredType>();
        for (var i = 0; i < (int)count; i++)
        {
            types[i] = ReadEntry(i, poolSize);
            if (types[i].IsRetired)
            {
                continue;
            }

            if (byId.TryGetValue(types[i].TypeId, out var earlier))
            {
                // Two live entries of one name: only a migration in progress from the earlier to this one.
                if (migration != ((ulong)types[i].Index << 32 | earlier.Index))
                {
                    throw new PoolCorruptedException(_poolPath, $"type table entries {earlier.Index - FirstUserTypeIndex} and {i} both record the live type '{types[i].Name}'");
                }
            }

            byId[types[i].TypeId] = types[i];
        }

        // A migration retires an entry in the commit that ends it, so a newer live entry of its name always exists.
        if (Array.Find(types, t => t.IsRetired && !byId.ContainsKey(t.TypeId)) is { } orphan)
        {
            throw new PoolCorruptedException(_poolPath, $"type table entry {orphan.Index - FirstUserTypeIndex} records '{orphan.Name}' as retired by a migration, but no entry holds the type's current layout");
        }

        _snapshot = new Snapshot(types, byId);
    }

    /// <summary>The type indexes a block may carry: the built-in ones and every entry of the table.</summary>
    public KnownTypeIndexes Known => new(BuiltInTypeIndexes, FirstUserTypeIndex, (uint)_snapshot.ByIndex.Length);

    private const ulong BuiltInTypeIndexes =
        1UL << (int)StringTypeIndex | 1UL << (int)BlobTypeIndex | 1UL << (int)ListTypeIndex | 1UL << (int)DictionaryTypeIndex |
        1UL << (int)SortedDictionaryTypeIndex | 1UL << (int)SortedNodeTypeIndex | 1UL << (int)ForwardingTypeIndex |
        1UL << (int)SchemaTypeIndex | 1UL << (int)IndexDirectoryTypeIndex;

    /// <summary>
    /// The one spelling of a type index in messages, checks and statistics: <c>string</c>, <c>(collection storage)</c>,
    /// <c>(list)</c>, <c>(dictionary)</c>, <c>(sorted dictionary)</c>, <c>(sorted dictionary node)</c>, <c>(schema)</c>, <c>(index directory)</c>,
    /// <c>(moved object)</c>, a stored type's name, or <c>(type index N)</c> for one the table does not hold.
    /// </summary>
    public string NameOf(uint typeIndex) => typeIndex switch
    {
        StringTypeIndex => "string",
        BlobTypeIndex => "(collection storage)",
        ListTypeIndex => "(list)",
        DictionaryTypeIndex => "(dictionary)",
        SortedDictionaryTypeIndex => "(sorted dictionary)",
        SortedNodeTypeIndex => "(sorted dictionary node)",
        SchemaTypeIndex => "(schema)",
        IndexDirectoryTypeIndex => "(index directory)",
        ForwardingTypeIndex => "(moved object)",
        _ => Get(typeIndex) is { } stored ? (stored.IsRetired ? stored.Name + " (retired layout)" : stored.Name) : $"(type index {typeIndex})",
    };

    public StoredType? Get(uint typeIndex)
    {
        var types = _snapshot.ByIndex;
        return typeIndex >= FirstUserTypeIndex && typeIndex - FirstUserTypeIndex < (uint)types.Length ? types[typeIndex - FirstUserTypeIndex] : null;
    }

    /// <summary>The live entry of a durable name's identity, or null.</summary>
    public StoredType? Find(ulong typeId) => _snapshot.ById.GetValueOrDefault(typeId);

    public bool TryGetIndex(ulong typeId, out uint index)
    {
        index = Find(typeId)?.Index ?? 0;
        return index != 0;
    }

    /// <summary>
    /// Writes entry <paramref name="i"/> for <paramref name="type"/> and drains it; invisible until a commit sets the
    /// count past it (and its schema word, when <paramref name="withSchema"/>).
    /// </summary>
    /// <exception cref="PoolException">The table is full.</exception>
    /// <exception cref="ArgumentException">A type without a schema has more fields than an entry holds.</exception>
    public void WriteEntry(int i, PersistentTypeInfo type, bool withSchema)
    {
        if (i >= PoolLayout.TypeTableCapacity)
        {
            throw new PoolException(_poolPath, $"the type table is full ({PoolLayout.TypeTableCapacity} types, retired layouts included: each layout a class has had keeps its entry); cannot record '{type.Name}'. pmem export, then pmem import of the export, makes a pool holding only the layouts in use");
        }

        if (!withSchema && type.Fields.Length > FieldCapacity)
        {
            throw new ArgumentException($"Persistent type '{type.Name}' has {type.Fields.Length} string/reference/collection fields and no schema; a pool records at most {FieldCapacity} for such a type.", nameof(type));
        }

        Span<byte> entry = stackalloc byte[PoolLayout.TypeEntrySize];
        entry.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(entry, type.TypeId);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], type.LayoutHash);
        BinaryPrimitives.WriteInt32LittleEndian(entry[16..], type.Size);
        var fields = withSchema ? [] : type.Fields.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(entry[20..], fields.Length);
        var name = Encoding.UTF8.GetBytes(type.Name);
        var nameLength = Math.Min(name.Length, NameCapacity);
        BinaryPrimitives.WriteInt32LittleEndian(entry[24..], nameLength);
        name.AsSpan(0, nameLength).CopyTo(entry[NameOffset..]);
        for (var f = 0; f < fields.Length; f++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(entry[(FieldsOffset + f * 4)..], ((uint)fields[f].Offset << 8) | (byte)fields[f].Kind);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(entry[ChecksumOffset..], XxHash64.HashToUInt64(entry[..ChecksumOffset]) | 1);
        _domain.Copy(EntryOffset(i), entry); // durable before the commit that publishes it
    }

    private StoredType ReadEntry(int i, long poolSize)
    {
        var entry = _domain.GetSpan(EntryOffset(i), PoolLayout.TypeEntrySize);
        var checksum = BinaryPrimitives.ReadUInt64LittleEndian(entry[ChecksumOffset..]);
        if (checksum != (XxHash64.HashToUInt64(entry[..ChecksumOffset]) | 1))
        {
            throw new PoolCorruptedException(_poolPath, $"type table entry {i} (offset {EntryOffset(i)}) fails its checksum");
        }

        var typeId = BinaryPrimitives.ReadUInt64LittleEndian(entry);
        var layoutHash = BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
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

        var stored = new StoredType(FirstUserTypeIndex + (uint)i, typeId, Encoding.UTF8.GetString(entry.Slice(NameOffset, nameLength)), size, layoutHash, fields);
        var word = _domain.Read<ulong>(PoolLayout.SchemaWordOffset(i));
        var schemaOffset = (long)(word & ~PoolLayout.SchemaRetiredBit);
        if (schemaOffset == 0)
        {
            return word == 0 ? stored : throw new PoolCorruptedException(_poolPath, $"type table entry {i} ('{stored.Name}') is retired but has no schema record");
        }

        var schema = ReadSchema(i, schemaOffset, poolSize, out var problem);
        if (schema is null || schema.TypeId != typeId || schema.LayoutHash != layoutHash || schema.Size != size || (fieldCount != 0 && !fields.SequenceEqual(schema.Fields)))
        {
            throw new PoolCorruptedException(_poolPath, $"the schema record of type table entry {i} ('{stored.Name}', at offset {schemaOffset}) is damaged: {problem ?? "it does not describe the entry's type"}");
        }

        return stored with
        {
            Name = schema.Name,
            Fields = schema.Fields,
            Schema = schema,
            SchemaOffset = schemaOffset,
            IsRetired = (word & PoolLayout.SchemaRetiredBit) != 0,
        };
    }

    private PersistentTypeInfo? ReadSchema(int i, long offset, long poolSize, out string? problem)
    {
        var length = SchemaRecord.LengthAt(_domain, offset, poolSize);
        if (length < 0)
        {
            problem = $"no schema record starts at offset {offset}";
            return null;
        }

        return SchemaRecord.Decode(_domain.GetSpan(offset, length), out problem);
    }

    private static long EntryOffset(int i) => PoolLayout.TypeTableOffset + (long)i * PoolLayout.TypeEntrySize;

    private sealed record Snapshot(StoredType[] ByIndex, Dictionary<ulong, StoredType> ById);
}
