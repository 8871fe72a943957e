// PersistentObjectAttribute, CacheLineGroupAttribute, RenamedFromAttribute -- the attributes a persistent class is declared with.
namespace Pmem.Objects;

/// <summary>
/// Marks a <c>partial class</c> whose <c>partial</c> properties live in a persistent pool. The source generator
/// lays the properties out, writes their bodies and makes the class implement <see cref="IPersistentObject{TSelf}"/>.
/// </summary>
/// <remarks>
/// Instances are made by the pool (<c>pool.New&lt;T&gt;()</c>, <c>pool.Root&lt;T&gt;()</c>) or read from references;
/// the class must not declare constructors or a base class (the generator derives it from <see cref="PersistentObject"/>).
/// </remarks>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class PersistentObjectAttribute : Attribute
{
    /// <summary>
    /// The name recorded in the pool for this type; defaults to the full C# name. Setting it lets the class be renamed
    /// or moved to another namespace without making existing pools unreadable.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// The schema version of the class (1 when not set). Raise it when a change needs a user migration (see
    /// <c>PoolOpenOptions.Migrations</c>); a pool records it, refuses to be opened by a lower one, and runs the
    /// migrations registered for the type when it opens with a higher one.
    /// </summary>
    public int Version { get; set; } = 1;
}

/// <summary>
/// Places the annotated persistent property on the same cache line as the other properties of the same group, so
/// that properties which change together are flushed together.
/// </summary>
/// <param name="name">The group's name; properties with the same name share a cache line (at most 64 bytes per group).</param>
[AttributeUsage(AttributeTargets.Property, Inherited = false, AllowMultiple = false)]
public sealed class CacheLineGroupAttribute(string name) : Attribute
{
    /// <summary>The group's name.</summary>
    public string Name { get; } = name;
}

/// <summary>
/// Names a name the annotated persistent property was stored under before, so that pools written before the rename
/// keep its values: the pool migrates the old property to the new name when it opens.
/// </summary>
/// <param name="name">The former property name.</param>
[AttributeUsage(AttributeTargets.Property, Inherited = false, AllowMultiple = true)]
public sealed class RenamedFromAttribute(string name) : Attribute
{
    /// <summary>The former property name.</summary>
    public string Name { get; } = name;
}
