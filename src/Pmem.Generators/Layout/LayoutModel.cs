using Pmem.Generators.Helpers;

namespace Pmem.Generators.Layout;

/// <summary>A property to place in a persistent object.</summary>
/// <param name="Name">The property name (part of the layout hash).</param>
/// <param name="StorageType">A canonical name of what the field stores (see <see cref="LayoutHash"/>).</param>
/// <param name="Size">Size of the stored value in bytes.</param>
/// <param name="Alignment">Required alignment in bytes (a power of two that divides <paramref name="Size"/>).</param>
/// <param name="Group">The cache-line group, or null.</param>
internal sealed record LayoutField(string Name, string StorageType, int Size, int Alignment, string? Group);

/// <summary>Everything the layout depends on: the durable name and the fields.</summary>
internal sealed record LayoutRequest(string DurableName, EquatableArray<LayoutField> Fields);

/// <summary>A field with its place in the object.</summary>
internal sealed record PlacedField(string Name, string StorageType, int Offset, int Size, string? Group)
{
    /// <summary>The index of the 64-byte cache line holding the field.</summary>
    public int CacheLine => Offset / LayoutPlanner.CacheLineSize;
}

/// <summary>The planned layout of a persistent object; fields are in offset order.</summary>
internal sealed record LayoutPlan(string DurableName, int Size, ulong LayoutHash, EquatableArray<PlacedField> Fields);
