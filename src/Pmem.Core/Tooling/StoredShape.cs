// StoredShape -- a stored type's properties parsed once from their canonical storage types, for readers and writers without the program's classes.
using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>The scalar types a property, element or key can store (the generator's table, by canonical name).</summary>
internal enum ScalarKind
{
    Boolean,
    Byte,
    SByte,
    Int16,
    UInt16,
    Char,
    Half,
    Int32,
    UInt32,
    Single,
    Int64,
    UInt64,
    Double,
    DateTime,
    TimeSpan,
    Decimal,
    Guid,
    DateTimeOffset,
    Int128,
    UInt128,
}

/// <summary>What a collection element (or a plain property's value) is.</summary>
internal enum ElementKind
{
    Scalar,
    String,
    Reference,

    /// <summary>A set's value: nothing.</summary>
    None,
}

/// <summary>What a property holds.</summary>
internal enum PropertyKind
{
    Scalar,
    Nullable,
    String,
    Reference,
    List,
    Dictionary,
    Sorted,
    Set,
}

/// <summary>One element type: a scalar of a width, a string, a reference (to <see cref="Target"/>), or nothing.</summary>
internal sealed record ElementShape(ElementKind Kind, ScalarKind Scalar, int Width, string StorageType, string? Target)
{
    public static readonly ElementShape None = new(ElementKind.None, default, 0, "", null);

    /// <summary>The slot kind a collection of these records.</summary>
    public SlotKind SlotKind => Kind switch
    {
        ElementKind.String => SlotKind.String,
        ElementKind.Reference => SlotKind.Reference,
        _ => SlotKind.Raw,
    };

    /// <summary>Bytes a collection slot of these takes (values rounded up to 8, as the runtime's codecs do).</summary>
    public int SlotSize => Kind switch
    {
        ElementKind.Scalar => (Width + 7) & ~7,
        ElementKind.None => 0,
        _ => 8,
    };

    /// <summary>The durable key order of a sorted key of this type, or 0 when it has none (floating point, references).</summary>
    public KeyOrder Order => Kind switch
    {
        ElementKind.String => KeyOrder.Ordinal,
        ElementKind.Scalar => Scalar switch
        {
            ScalarKind.Guid => KeyOrder.Guid,
            ScalarKind.DateTime => KeyOrder.DateTime,
            ScalarKind.DateTimeOffset => KeyOrder.DateTimeOffset,
            ScalarKind.Decimal => KeyOrder.Decimal,
            ScalarKind.SByte or ScalarKind.Int16 or ScalarKind.Int32 or ScalarKind.Int64 or ScalarKind.Int128 or ScalarKind.TimeSpan => KeyOrder.Signed,
            ScalarKind.Half or ScalarKind.Single or ScalarKind.Double => 0,
            _ => KeyOrder.Unsigned,
        },
        _ => 0,
    };
}

/// <summary>One stored property, parsed: where it is, what it holds, and its name ready for JSON.</summary>
internal sealed record PropertyShape(PersistentPropertyInfo Info, PropertyKind Kind, ElementShape Value, ElementShape? Key, int NullableValueOffset)
{
    public string Name => Info.Name;

    public int Offset => Info.Offset;

    public JsonEncodedText JsonName { get; } = JsonEncodedText.Encode(Info.Name);

    /// <summary>The stored type as people read it: <c>list&lt;reference → Shop.Item&gt;</c>.</summary>
    public string Description => Info.Target is null ? Info.StorageType : $"{Info.StorageType} → {Info.Target}";
}

/// <summary>A stored type with every property parsed.</summary>
internal sealed class TypeShape
{
    private TypeShape(PersistentTypeInfo schema, PropertyShape[] properties)
    {
        Schema = schema;
        Properties = properties;
        JsonName = JsonEncodedText.Encode(schema.Name);
        ByName = properties.ToDictionary(p => p.Name, StringComparer.Ordinal);
    }

    public PersistentTypeInfo Schema { get; }

    public string Name => Schema.Name;

    public JsonEncodedText JsonName { get; }

    public PropertyShape[] Properties { get; }

    public IReadOnlyDictionary<string, PropertyShape> ByName { get; }

    /// <summary>Parses every property of <paramref name="schema"/>.</summary>
    /// <exception cref="FormatException">A storage type is not one the library stores (the message says which).</exception>
    public static TypeShape Of(PersistentTypeInfo schema) =>
        new(schema, [.. schema.Properties.Select(p => Parse(schema.Name, p))]);

    private static PropertyShape Parse(string typeName, PersistentPropertyInfo property)
    {
        var storage = property.StorageType;
        var open = storage.IndexOf('<');
        if (open > 0 && storage.EndsWith('>'))
        {
            var name = storage[..open];
            var arguments = storage[(open + 1)..^1].Split(',');
            var (kind, count) = name switch
            {
                "list" => (PropertyKind.List, 1),
                "set" => (PropertyKind.Set, 1),
                "dictionary" => (PropertyKind.Dictionary, 2),
                "sorted" => (PropertyKind.Sorted, 2),
                _ => (PropertyKind.Scalar, 0),
            };
            if (count == 0 || arguments.Length != count || property.Size != 8)
            {
                throw Unknown(typeName, property);
            }

            var first = Element(typeName, property, arguments[0]);
            var shape = count == 1
                ? new PropertyShape(property, kind, kind == PropertyKind.Set ? ElementShape.None : first, kind == PropertyKind.Set ? first : null, 0)
                : new PropertyShape(property, kind, Element(typeName, property, arguments[1]), first, 0);
            if (shape.Key is { } key && (key.Kind == ElementKind.Reference || (kind is PropertyKind.Sorted or PropertyKind.Set && key.Order == 0)))
            {
                throw Unknown(typeName, property);
            }

            return shape;
        }

        switch (storage)
        {
            case "string" when property.Size == 8:
                return new PropertyShape(property, PropertyKind.String, new ElementShape(ElementKind.String, default, 8, storage, null), null, 0);
            case "reference" when property.Size == 8:
                return new PropertyShape(property, PropertyKind.Reference, new ElementShape(ElementKind.Reference, default, 8, storage, property.Target), null, 0);
        }

        if (!ValueConversion.TryDescribe(storage, out var scalar, out var size, out var valueOffset) || valueOffset + size > property.Size || property.Size > 32)
        {
            throw Unknown(typeName, property);
        }

        var value = new ElementShape(ElementKind.Scalar, Enum.Parse<ScalarKind>(scalar["System.".Length..]), size, storage, null);
        return new PropertyShape(property, valueOffset > 0 ? PropertyKind.Nullable : PropertyKind.Scalar, value, null, valueOffset);
    }

    private static ElementShape Element(string typeName, PersistentPropertyInfo property, string storage) => storage switch
    {
        "string" => new ElementShape(ElementKind.String, default, 8, storage, null),
        "reference" => new ElementShape(ElementKind.Reference, default, 8, storage, property.Target),
        _ when ValueConversion.TryDescribe(storage, out var scalar, out var size, out var nullable) && nullable == 0 =>
            new ElementShape(ElementKind.Scalar, Enum.Parse<ScalarKind>(scalar["System.".Length..]), size, storage, null),
        _ => throw Unknown(typeName, property),
    };

    private static FormatException Unknown(string typeName, PersistentPropertyInfo property) =>
        new($"'{typeName}.{property.Name}' is stored as '{property.StorageType}' in {property.Size} bytes, which is not a type this library stores");
}
