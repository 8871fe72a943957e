// PersistentPool (queries) -- finding objects by type: every live object of a class, from the heap's type indexes.
using System.Collections;
using Pmem.Heap;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// Every live object of type <typeparamref name="T"/>, in offset order, read from the heap's per-block type indexes
    /// (libpmemobj's <c>POBJ_FOREACH_TYPE</c>): no walk from the root, so unreachable objects are found too.
    /// </summary>
    /// <remarks>
    /// <para>The sequence is lazy: each enumeration scans the heap anew, only the runs whose blocks can hold a
    /// <typeparamref name="T"/>, allocating nothing but the wrapper of each object it returns.</para>
    /// <para>Inside a transaction on this pool (on the calling thread, when the enumeration begins) it sees what the
    /// transaction sees: the objects the transaction created (after the others), not the ones it deleted.</para>
    /// <para>Creating and deleting objects during the enumeration, on this thread or others, is allowed: every object
    /// that lives throughout the enumeration is returned exactly once; one created or deleted meanwhile may or may not
    /// be. Other threads' uncommitted transactions are invisible. As for reads of objects other threads change, use a
    /// lock of your own for a consistent view.</para>
    /// <para>A type no object of which was ever stored yields nothing (and is not recorded in the pool).</para>
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The pool is disposed (also when the enumeration continues after it).</exception>
    /// <exception cref="PersistentSchemaException">The pool stores the type with another layout (it was not migrated at open) or a newer version.</exception>
    public IEnumerable<T> All<T>() where T : PersistentObject, IPersistentObject<T>
    {
        ThrowIfDisposed();
        var type = T.PersistentType;
        if (!_types.TryGetIndex(type.TypeId, out _))
        {
            return [];
        }

        var typeIndex = TypeIndex(type); // stored already: checks the layout (a pool of format 3 may record its schema now)
        return new ObjectsOfType<T>(this, typeIndex, type.Size);
    }

    /// <summary>
    /// The offsets of every live object whose stored type has the durable name <paramref name="durableName"/> (as in
    /// <see cref="PoolInspection.StoredTypes"/>), for tools that do not have the program's classes. Same rules as <see cref="All{T}"/>.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="durableName"/> is null.</exception>
    /// <exception cref="ArgumentException">The pool stores no type of that name.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public IEnumerable<long> AllOfType(string durableName)
    {
        ArgumentNullException.ThrowIfNull(durableName);
        ThrowIfDisposed();
        // Two live layouts while a migration a reader found interrupted is unfinished: objects not converted yet, then converted ones.
        var layouts = _types.Types.Where(stored => stored.Name == durableName && !stored.IsRetired).Select(stored => new OffsetsOfType(this, stored.Index, stored.Size)).ToList();
        return layouts.Count switch
        {
            0 => throw new ArgumentException($"{Path}: the pool stores no type named '{durableName}'.", nameof(durableName)),
            1 => layouts[0],
            _ => layouts.SelectMany(offsets => offsets),
        };
    }

    /// <summary>Offsets of live blocks of one type index as this thread sees them; each enumerator scans anew.</summary>
    private class OffsetsOfType(PersistentPool pool, uint typeIndex, int size) : IEnumerable<long>
    {
        public IEnumerator<long> GetEnumerator() => new TypeEnumerator(pool, typeIndex, size);

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private sealed class ObjectsOfType<T>(PersistentPool pool, uint typeIndex, int size) : IEnumerable<T>
        where T : PersistentObject, IPersistentObject<T>
    {
        public IEnumerator<T> GetEnumerator() => new ObjectEnumerator<T>(pool, typeIndex, size);

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private sealed class ObjectEnumerator<T>(PersistentPool pool, uint typeIndex, int size) : TypeEnumerator(pool, typeIndex, size), IEnumerator<T>
        where T : PersistentObject, IPersistentObject<T>
    {
        // The static abstract call itself, not a delegate made once: 9.7-9.9 ns an object against 13.6-15.5 ns
        // (bench/RESULTS.md, session 13).
        T IEnumerator<T>.Current => T.Attach(new ObjectHandle(Pool, Offset, Generation));

        object IEnumerator.Current => ((IEnumerator<T>)this).Current;
    }

    /// <summary>
    /// The heap scan, with the calling thread's transaction (as it stood when the enumeration began) laid over it: its
    /// frees hidden, its allocations after the heap's blocks. Its own allocations are skipped in the heap too, in case
    /// it commits during the enumeration.
    /// </summary>
    private class TypeEnumerator : IEnumerator<long>
    {
        private readonly uint _typeIndex;
        private readonly int _size;
        private readonly HashSet<long>? _hidden; // the transaction's frees and allocations of the type
        private readonly (long Offset, ushort Generation)[] _own; // the transaction's allocations of the type
        private readonly long[] _batch = new long[RunGeometry.BitsPerWord]; // the heap hands out a bitmap word's matches at a time
        private TypeScan _scan;
        private int _batchCount;
        private int _batchIndex;
        private int _ownIndex = -1;

        public TypeEnumerator(PersistentPool pool, uint typeIndex, int size)
        {
            Pool = pool;
            _typeIndex = typeIndex;
            _size = size;
            _own = [];
            if (pool.CurrentTransaction() is { } tx && (tx.Frees.Count > 0 || tx.Allocations.Count > 0))
            {
                _own = tx.Allocations.Where(a => a.TypeIndex == typeIndex).Select(a => (a.Block.Offset, a.Block.Generation)).Order().ToArray();
                _hidden = [.. tx.Frees.Select(f => f.Offset), .. _own.Select(a => a.Offset)];
            }
        }

        protected PersistentPool Pool { get; }

        protected long Offset { get; private set; }

        protected ushort Generation { get; private set; }

        public long Current => Offset;

        object IEnumerator.Current => Offset;

        public bool MoveNext()
        {
            Pool.ThrowIfDisposed();
            while (_ownIndex < 0)
            {
                while (_batchIndex < _batchCount)
                {
                    var reference = _batch[_batchIndex++]; // the scan hands out offsets with their generations
                    var offset = BlockGeneration.TargetOf(reference);
                    if (_hidden is null || !_hidden.Contains(offset))
                    {
                        (Offset, Generation) = (offset, BlockGeneration.OfReference(reference));
                        return true;
                    }
                }

                (_batchCount, _batchIndex) = (Pool._heap.NextOfType(ref _scan, _typeIndex, _size, _batch), 0);
                Pool._domain.ThrowIfDisposedAfterAccess(); // type indexes are read in place: none from a pool closed meanwhile
                if (_batchCount == 0)
                {
                    _ownIndex = 0;
                }
            }

            if (_ownIndex < _own.Length)
            {
                (Offset, Generation) = _own[_ownIndex++];
                return true;
            }

            return false;
        }

        public void Reset()
        {
            _scan = default;
            (_batchCount, _batchIndex, _ownIndex) = (0, 0, -1);
        }

        public void Dispose()
        {
        }
    }
}
