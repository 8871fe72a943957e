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

    /// <summary>The identity of a durable type name.</summary>
    public static ulong ComputeTypeId(string name) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(name));

    /// <inheritdoc />
    public override string ToString() => $"{Name} ({Size} bytes, layout {LayoutHash:x16})";
}
