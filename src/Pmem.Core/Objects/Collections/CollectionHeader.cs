// CollectionHeader -- where a collection handle finds its header: read lazily from the owner's field, never created by a read.
using System.Runtime.CompilerServices;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// A collection handle's view of its header. The owner's field holds 0 until the collection's first mutation creates
/// the header (<see cref="PersistentPool.CreateCollection"/>), so reads write nothing: a handle whose field is 0 reads as
/// an empty collection and looks at the field again on its next access (another handle or thread may have created it).
/// </summary>
/// <remarks>
/// A committed header never changes for the owner's life, so once seen it is kept (<see cref="Committed"/>: the hot
/// path is one field test). A header the calling thread's running transaction made is kept only while that
/// transaction runs: a rollback frees it and sets the field back to 0, which the next access then reads.
/// Mutable struct: held in a non-readonly field of its collection.
/// </remarks>
internal struct CollectionHeader(long fieldOffset, PersistentObject? owner)
{
    private long _committed;
    private Tentative? _tentative;

    /// <summary>The offset of the owner's field that holds the header's offset.</summary>
    public readonly long FieldOffset => fieldOffset;

    /// <summary>The committed header, once seen; 0 until then.</summary>
    /// <remarks>
    /// The owner (null for a tree a pool keeps, such as an index) is asked first: a handle cached by a wrapper that a
    /// Delete was given must not read or change the header it kept, which the freed owner's next tenant may reuse.
    /// </remarks>
    public readonly long Committed
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            owner?.ThrowIfKeptPastDelete();
            return _committed;
        }
    }

    /// <summary>
    /// The header as the calling thread sees it (0: none yet). <paramref name="isNew"/> is true when the caller has not
    /// seen this header yet: it checks it, then calls <see cref="Remember"/>.
    /// </summary>
    public readonly long Find(PersistentPool pool, out bool isNew)
    {
        owner?.ThrowIfKeptPastDelete();
        if (_tentative is { } tentative && pool.IsRunningTransaction(tentative.Transaction, tentative.Generation))
        {
            isNew = false;
            return tentative.Header;
        }

        var header = pool.ReadValue<long>(fieldOffset);
        isNew = header != 0;
        return header;
    }

    /// <summary>Keeps a checked header: for good if it is committed, else while the transaction that made it runs.</summary>
    public void Remember(PersistentPool pool, long header)
    {
        if (pool.IsOwnAllocation(header, out var transaction, out var generation))
        {
            _tentative = new Tentative(header, transaction!, generation); // one reference: never seen torn by another thread
        }
        else
        {
            _committed = header;
            _tentative = null;
        }
    }

    private sealed record Tentative(long Header, object Transaction, long Generation);
}
