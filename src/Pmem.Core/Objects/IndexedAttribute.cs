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
}

/// <summary>Makes the pool keep an ordered index of the annotated persistent property (see <c>PersistentPool.Index</c>).</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false, AllowMultiple = false)]
public sealed class IndexedAttribute : Attribute
{
    /// <summary>Whether no two objects may hold the same value (the property's default value excepted).</summary>
    public bool Unique { get; set; }
}
