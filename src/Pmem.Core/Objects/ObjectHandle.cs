// ObjectHandle -- a pool and an offset: what the pool hands a generated Attach factory.
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>Identifies an object inside a pool; handed by the pool to a generated <c>Attach</c> factory.</summary>
public readonly struct ObjectHandle
{
    internal ObjectHandle(PersistentPool pool, long offset)
    {
        Pool = pool;
        Offset = offset;
    }

    /// <summary>The pool holding the object.</summary>
    public PersistentPool Pool { get; }

    /// <summary>The object's offset in the pool (its durable identity).</summary>
    public long Offset { get; }
}
