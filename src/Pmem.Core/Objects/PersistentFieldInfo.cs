// PersistentFieldInfo, PersistentFieldKind -- a field the pool must understand: where it is and what it holds.
namespace Pmem.Objects;

/// <summary>What a field holds, for the fields the pool itself must understand (it frees and checks them).</summary>
public enum PersistentFieldKind
{
    /// <summary>An 8-byte offset of an immutable persistent string owned by the object (0 = null).</summary>
    String = 1,

    /// <summary>An 8-byte offset of another persistent object, not owned (0 = null).</summary>
    Reference = 2,

    /// <summary>An 8-byte offset of a persistent collection owned by the object (0 = not yet created).</summary>
    Collection = 3,
}

/// <summary>A field the pool must understand: where it is and what it holds.</summary>
/// <param name="Offset">Byte offset of the 8-byte field inside the object.</param>
/// <param name="Kind">What the field holds.</param>
public readonly record struct PersistentFieldInfo(int Offset, PersistentFieldKind Kind);
