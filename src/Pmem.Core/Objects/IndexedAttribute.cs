// IndexedAttribute, PersistentIndexKind -- an index on a persistent property: declared with the attribute, recorded in the property's schema.
namespace Pmem.Objects;

/// <summary>Whether and how a persistent property is indexed.</summary>
public enum PersistentIndexKind
{
    /// <summary>Not indexed.</summary>
    None = 0,

    /// <summary>Indexed; several objects may hold the same value.</summary>
    Indexed = 1,

    /// <summary>Indexed; no two objects may hold the same value other than the property's default.</summary>
    Unique = 2,

    /// <summary>Indexed by a hash table (<see cref="IndexedAttribute.Hashed"/>); several objects may hold the same value.</summary>
    Hashed = 3,

    /// <summary>Indexed by a hash table; no two objects may hold the same value other than the property's default.</summary>
    HashedUnique = 4,
}

/// <summary>
/// Makes the pool keep an ordered index of the annotated persistent property, maintained by its setter in the same
/// failure-atomic step (see <c>PersistentPool.Index</c>). Integer, enum, char, bool, Guid, DateTime, DateTimeOffset,
/// TimeSpan, decimal, Int128, UInt128 and string properties can be indexed.
/// </summary>
/// <remarks>
/// With <see cref="Unique"/>, setting a value another object holds throws <c>PersistentUniqueConstraintException</c>
/// and changes nothing; the property's default value (0, null, <see cref="Guid.Empty"/>, …) is exempt, as SQL's
/// <c>UNIQUE</c> exempts NULL, so new objects never collide before their key is set. Adding or removing the attribute
/// changes no layout: the pool builds or drops the index when it next opens.
/// <para>
/// With <see cref="Hashed"/>, the index is a hash table instead of a sorted tree: a lookup by equality (<c>Find</c>,
/// <c>TryFind</c>) probes one slot instead of descending a tree, and a setter moves a hash entry instead of a tree
/// entry; range lookups and enumeration still work, but read every entry and sort them.
/// </para>
/// </remarks>
[AttributeUsage(AttributeTargets.Property, Inherited = false, AllowMultiple = false)]
public sealed class IndexedAttribute : Attribute
{
    /// <summary>Whether no two objects may hold the same value (the property's default value excepted).</summary>
    public bool Unique { get; set; }

    /// <summary>
    /// Whether the index is a hash table, for properties looked up by equality only: <c>Find</c> and <c>TryFind</c> cost
    /// about a persistent dictionary's lookup, while ranges and ordered enumeration read and sort every entry.
    /// </summary>
    public bool Hashed { get; set; }
}
