// PersistentPropertyInfo -- one stored property of a persistent type as the generator planned it: the schema's unit.
using System.Collections.Immutable;

namespace Pmem.Objects;

/// <summary>
/// One persistent property of a type, as the generator planned it and as a pool records it in its schema: enough to
/// read the property's stored bytes without the program's classes, and to migrate them when the class changes.
/// </summary>
/// <remarks>
/// <para><see cref="StorageType"/> is the canonical stored type the layout hash covers: a scalar's full name
/// (<c>System.Int32</c>), <c>enum:</c> and the underlying type for an enum (<c>enum:System.Byte</c>), a trailing
/// <c>?</c> for a nullable value (<c>System.Int64?</c>), <c>string</c>, <c>reference</c>, and for collections
/// <c>list&lt;E&gt;</c>, <c>dictionary&lt;K,V&gt;</c> (or another collection name) over those element names.</para>
/// <para><see cref="Target"/> is the durable name of the class a reference (or a collection's referenced elements)
/// points to.</para>
/// </remarks>
public sealed class PersistentPropertyInfo
{
    /// <summary>Describes a stored property.</summary>
    /// <param name="name">The property's name (its stored identity).</param>
    /// <param name="storageType">The canonical stored type (see the remarks).</param>
    /// <param name="offset">Byte offset inside the object.</param>
    /// <param name="size">Bytes the value occupies.</param>
    /// <param name="group">The <see cref="CacheLineGroupAttribute"/> name, or null.</param>
    /// <param name="target">The durable name of a referenced class, or null.</param>
    /// <param name="isNullable">Whether a string or reference property is declared nullable.</param>
    /// <param name="formerNames">Names the property was stored under before (<see cref="RenamedFromAttribute"/>).</param>
    /// <param name="index">Whether the property is indexed (<see cref="IndexedAttribute"/>); not part of the layout.</param>
    /// <exception cref="ArgumentException">A name or storage type is empty, or the offset or size is negative.</exception>
    public PersistentPropertyInfo(
        string name,
        string storageType,
        int offset,
        int size,
        string? group = null,
        string? target = null,
        bool isNullable = false,
        ReadOnlySpan<string> formerNames = default,
        PersistentIndexKind index = PersistentIndexKind.None)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(storageType);
        if (offset < 0 || size <= 0)
        {
            throw new ArgumentException($"Property '{name}' needs a non-negative offset and a positive size, not {offset} and {size}.", nameof(offset));
        }

        foreach (var former in formerNames)
        {
            ArgumentException.ThrowIfNullOrEmpty(former, nameof(formerNames));
        }

        Name = name;
        StorageType = storageType;
        Offset = offset;
        Size = size;
        Group = string.IsNullOrEmpty(group) ? null : group;
        Target = string.IsNullOrEmpty(target) ? null : target;
        IsNullable = isNullable;
        FormerNames = [.. formerNames];
        FieldKind = KindOf(storageType);
        Index = index is >= PersistentIndexKind.None and <= PersistentIndexKind.HashedUnique
            ? index
            : throw new ArgumentOutOfRangeException(nameof(index), index, $"Property '{name}' has an unknown index kind.");
    }

    /// <summary>The property's name.</summary>
    public string Name { get; }

    /// <summary>The canonical stored type.</summary>
    public string StorageType { get; }

    /// <summary>Byte offset inside the object.</summary>
    public int Offset { get; }

    /// <summary>Bytes the value occupies.</summary>
    public int Size { get; }

    /// <summary>The cache-line group, or null.</summary>
    public string? Group { get; }

    /// <summary>The durable name of the referenced class (for references and collections of references), or null.</summary>
    public string? Target { get; }

    /// <summary>Whether a string or reference property is declared nullable.</summary>
    public bool IsNullable { get; }

    /// <summary>Names the property was stored under before.</summary>
    public ImmutableArray<string> FormerNames { get; }

    /// <summary>Whether the pool keeps an index of this property (<see cref="IndexedAttribute"/>).</summary>
    public PersistentIndexKind Index { get; }

    /// <summary>Whether the index refuses a second holder of a value.</summary>
    internal bool HasUniqueIndex => Index is PersistentIndexKind.Unique or PersistentIndexKind.HashedUnique;

    /// <summary>Whether the index is a hash table.</summary>
    internal bool HasHashedIndex => Index is PersistentIndexKind.Hashed or PersistentIndexKind.HashedUnique;

    /// <summary>The index kind of a unique or not, hashed or sorted index.</summary>
    internal static PersistentIndexKind IndexKindOf(bool unique, bool hashed) => (unique, hashed) switch
    {
        (false, false) => PersistentIndexKind.Indexed,
        (true, false) => PersistentIndexKind.Unique,
        (false, true) => PersistentIndexKind.Hashed,
        (true, true) => PersistentIndexKind.HashedUnique,
    };

    /// <summary>What the pool must understand of the slot (a string, reference or collection), or null for a plain value.</summary>
    public PersistentFieldKind? FieldKind { get; }

    /// <summary>The field kind a storage type implies: <c>string</c>, <c>reference</c>, a generic collection name, or null.</summary>
    public static PersistentFieldKind? KindOf(string storageType) => storageType switch
    {
        "string" => PersistentFieldKind.String,
        "reference" => PersistentFieldKind.Reference,
        _ when storageType.Contains('<') => PersistentFieldKind.Collection,
        _ => null,
    };

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {StorageType}{(Target is null ? string.Empty : " → " + Target)} at {Offset} ({Size} bytes)";
}
