// PersistentTypeInfo -- a persistent type's durable identity and layout, produced by the generator.
using System.Collections.Immutable;
using System.IO.Hashing;
using System.Text;
using Pmem.Memory;

namespace Pmem.Objects;

/// <summary>The durable identity and layout of a persistent type, produced by the generator.</summary>
public sealed class PersistentTypeInfo
{
    /// <summary>Describes a persistent type.</summary>
    /// <param name="name">The durable name (see <see cref="PersistentObjectAttribute.Name"/>).</param>
    /// <param name="size">Size of an object in bytes (a positive multiple of 64).</param>
    /// <param name="layoutHash">Hash of the layout; a pool refuses a type whose stored hash differs.</param>
    /// <param name="fields">The string, reference and collection fields.</param>
    /// <exception cref="ArgumentException">The name is empty or the size is not a positive multiple of 64.</exception>
    public PersistentTypeInfo(string name, int size, ulong layoutHash, ReadOnlySpan<PersistentFieldInfo> fields)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (size <= 0 || size % PersistenceDomain.CacheLineSize != 0)
        {
            throw new ArgumentException($"Size of persistent type '{name}' must be a positive multiple of 64, not {size}.", nameof(size));
        }

        foreach (var field in fields)
        {
            if (field.Offset < 0 || field.Offset > size - 8 || field.Offset % 8 != 0)
            {
                throw new ArgumentException($"Field at {field.Offset} of persistent type '{name}' is not an aligned 8-byte slot inside {size} bytes.", nameof(fields));
            }
        }

        Name = name;
        Size = size;
        LayoutHash = layoutHash;
        Fields = [.. fields];
        TypeId = ComputeTypeId(name);
    }

    /// <summary>Describes a persistent type with its full schema: every stored property, and the class's version.</summary>
    /// <param name="name">The durable name (see <see cref="PersistentObjectAttribute.Name"/>).</param>
    /// <param name="size">Size of an object in bytes (a positive multiple of 64).</param>
    /// <param name="layoutHash">Hash of the layout.</param>
    /// <param name="version">The class's schema version (<see cref="PersistentObjectAttribute.Version"/>), at least 1.</param>
    /// <param name="properties">Every stored property; the string, reference and collection ones become <see cref="Fields"/>.</param>
    /// <exception cref="ArgumentException">
    /// The name is empty, the size is not a positive multiple of 64, the version is below 1, a property lies outside
    /// the object, or two properties share a name.
    /// </exception>
    public PersistentTypeInfo(string name, int size, ulong layoutHash, int version, ReadOnlySpan<PersistentPropertyInfo> properties)
        : this(name, size, layoutHash, FieldsOf(name, size, properties))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(version, 1);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in properties)
        {
            if (!names.Add(property.Name))
            {
                throw new ArgumentException($"Persistent type '{name}' has two properties named '{property.Name}'.", nameof(properties));
            }
        }

        Version = version;
        Properties = [.. properties];
        HasSchema = true;
        HasIndexes = Properties.Any(property => property.Index != PersistentIndexKind.None);
    }

    /// <summary>The durable name.</summary>
    public string Name { get; }

    /// <summary>A 64-bit identity derived from <see cref="Name"/> (XxHash64 of its UTF-8 bytes).</summary>
    public ulong TypeId { get; }

    /// <summary>Size of an object in bytes.</summary>
    public int Size { get; }

    /// <summary>Hash of the layout the generator planned.</summary>
    public ulong LayoutHash { get; }

    /// <summary>The string, reference and collection fields.</summary>
    public ImmutableArray<PersistentFieldInfo> Fields { get; }

    /// <summary>The class's schema version (1 unless <see cref="PersistentObjectAttribute.Version"/> raised it).</summary>
    public int Version { get; } = 1;

    /// <summary>
    /// Every stored property, or empty for a type described only by its <see cref="Fields"/> (written by hand or by an
    /// older generator): a pool then knows the layout hash alone and cannot migrate the type when it changes.
    /// </summary>
    public ImmutableArray<PersistentPropertyInfo> Properties { get; } = [];

    /// <summary>Whether a property is indexed (<see cref="IndexedAttribute"/>).</summary>
    internal bool HasIndexes { get; }

    /// <summary>
    /// The pool (its instance id) that last brought its indexes in step with this type: the hot path's one test. Other
    /// pools of the process using the type then ask their own record instead (<c>KeepIndexesInStep</c>).
    /// </summary>
    internal long IndexesInStepPool;

    /// <summary>Whether <see cref="Properties"/> describes the whole layout (the type was described with its schema, even an empty one).</summary>
    public bool HasSchema { get; }

    private static PersistentFieldInfo[] FieldsOf(string name, int size, ReadOnlySpan<PersistentPropertyInfo> properties)
    {
        var fields = new List<PersistentFieldInfo>();
        foreach (var property in properties)
        {
            if (property.Offset + property.Size > size)
            {
                throw new ArgumentException($"Property '{property.Name}' of persistent type '{name}' lies outside its {size} bytes.", nameof(properties));
            }

            if (property.FieldKind is { } kind)
            {
                fields.Add(new PersistentFieldInfo(property.Offset, kind));
            }
        }

        return [.. fields];
    }

    /// <summary>The identity of a durable type name.</summary>
    public static ulong ComputeTypeId(string name) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(name));

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Size} bytes, layout {LayoutHash:x16})";
}
