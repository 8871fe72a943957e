// IPersistentObject -- what generated code tells the pool about a persistent type, without reflection.
namespace Pmem.Objects;

/// <summary>
/// Implemented by generated code for every <see cref="PersistentObjectAttribute"/> class: what the pool needs to know
/// about the type, without reflection (static abstract members keep Native AOT and trimming working).
/// </summary>
/// <typeparam name="TSelf">The persistent class itself.</typeparam>
public interface IPersistentObject<TSelf> where TSelf : PersistentObject, IPersistentObject<TSelf>
{
    /// <summary>The type's durable identity and layout.</summary>
    static abstract PersistentTypeInfo PersistentType { get; }

    /// <summary>Wraps an existing object of this type in a pool; called by the pool only.</summary>
    static abstract TSelf Attach(ObjectHandle handle);
}
