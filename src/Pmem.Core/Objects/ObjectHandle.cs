// ObjectHandle -- a pool and an offset: what the pool hands a generated Attach factory.
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>Identifies an object inside a pool; handed by the pool to a generated <c>Attach</c> factory.</summary>
public readonly struct ObjectHandle
{
    /// <summary>A handle to the object at <paramref name="offset"/>, whose generation is looked up (0 when it is not allocated).</summary>
    internal ObjectHandle(PersistentPool pool, long offset)
        : this(pool, offset, pool.GenerationAt(offset))
    {
    }

    /// <summary>A handle to the object at <paramref name="offset"/> in <paramref name="generation"/>, known already.</summary>
    internal ObjectHandle(PersistentPool pool, long offset, ushort generation)
    {
        Pool = pool;
        Offset = offset;
        Generation = generation;
    }

    /// <summary>The pool holding the object.</summary>
    public PersistentPool Pool { get; }

    /// <summary>The object's offset in the pool (its durable identity).</summary>
    public long Offset { get; }

    /// <summary>The generation of the object's block (Heap.BlockGeneration): what references to it store beside its offset.</summary>
    internal ushort Generation { get; }
}
