// PersistentList -- a list living in a pool: failure-atomic mutations that join the running transaction.
using System.Collections;
using Pmem.Pool;
using static Pmem.Pool.CollectionLayout;

namespace Pmem.Objects;

/// <summary>
/// A list living in a pool, held by a property of a persistent object. Elements are unmanaged values, strings or
/// references to persistent objects. Every mutation is failure-atomic on its own and joins the running transaction
/// when there is one; growth copies into a new array and frees the old one in the same commit, so nothing leaks.
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
/// <remarks>
/// Handles are cheap; several handles to one list see the same data. Enumeration throws
/// <see cref="InvalidOperationException"/> if the list changes meanwhile (the version is stored with the list).
/// </remarks>
public sealed class PersistentList<T> : IList<T>, IReadOnlyList<T>
{
    private readonly PersistentPool _pool;
    private readonly ElementCodec<T> _codec;
    private CollectionHeader _anchor;

    internal PersistentList(PersistentPool pool, long fieldOffset, ElementCodec<T> codec, PersistentObject? owner = null)
    {
        _pool = pool;
        _codec = codec;
        _anchor = new CollectionHeader(fieldOffset, owner);
        FindHeader(); // checks a header that exists; none yet reads as empty (a read never creates one)
    }

    /// <summary>The header, or 0 while the list has not been created (it is, at its first insert).</summary>
    private long Header => _anchor.Committed is var header && header != 0 ? header : FindHeader();

    private long FindHeader()
    {
        var header = _anchor.Find(_pool, out var isNew);
        if (isNew)
        {
            Adopt(header);
        }

        return header;
    }

    /// <summary>The header, created in the running transaction if there is none yet (the first insert).</summary>
    private long EnsureHeader() => Header is var header && header != 0 ? header : CreateHeader();

    // Apart from EnsureHeader: the closure below is made when its method starts, so only the first insert makes it.
    private long CreateHeader()
    {
        var codec = _codec;
        var pool = _pool;
        var header = pool.CreateCollection(_anchor.FieldOffset, TypeTable.ListTypeIndex, HeaderSize, created =>
        {
            pool.WriteValue(created + SlotSizeOffset, codec.SlotSize);
            pool.WriteValue(created + SlotKindOffset, (int)codec.Kind);
        });
        Adopt(header);
        return header;
    }

    /// <summary>Checks a header first seen (its type, element type and storage), then keeps it.</summary>
    private void Adopt(long header)
    {
        _pool.ResolveCollection(header, TypeTable.ListTypeIndex);
        if (_pool.ReadValue<int>(header + SlotSizeOffset) != _codec.SlotSize || _pool.ReadValue<int>(header + SlotKindOffset) != (int)_codec.Kind)
        {
            _pool.ThrowIfDisposed(); // a check racing with Dispose reads the closed pool's scratch memory
            throw new PersistentTypeMismatchException($"{_pool.Path}: the list at offset {header} holds another element type than {typeof(T).Name}.");
        }

        if (Problem(_pool, header, TypeTable.ListTypeIndex) is { } problem)
        {
            throw new PoolCorruptedException(_pool.Path, problem); // before any slot is read past its storage
        }

        _anchor.Remember(_pool, header);
    }

    /// <summary>A header field; 0 while the list has no header.</summary>
    private long HeaderValue(long offset) => Header is var header && header != 0 ? _pool.ReadValue<long>(header + offset) : 0;

    /// <summary>The list's offset in its pool; 0 while it has not been created (reads never create it, the first insert does).</summary>
    public long Offset => Header;

    /// <inheritdoc cref="ICollection{T}.Count" />
    public int Count => (int)HeaderValue(CountOffset);

    /// <summary>Slots allocated for elements.</summary>
    public int Capacity => (int)HeaderValue(CapacityOffset);

    bool ICollection<T>.IsReadOnly => false;

    private long Version => HeaderValue(VersionOffset);

    /// <inheritdoc />
    public T this[int index]
    {
        get => _codec.Read(_pool, Slot(CheckIndex(index)));
        set => _pool.Atomically((this, index, value), static s =>
        {
            s.Item1._codec.Write(s.Item1._pool, s.Item1.Slot(s.Item1.CheckIndex(s.index)), s.value);
            s.Item1.Touch();
        });
    }

    /// <inheritdoc />
    public void Add(T item) => Insert(Count, item);

    /// <inheritdoc />
    public void Insert(int index, T item) => _pool.Atomically((this, index, item), static s =>
    {
        var (list, index, item) = s;
        list.CheckInsertIndex(index); // before the first insert creates the list: a refusal then writes nothing
        list.EnsureHeader();
        var count = list.Count;
        list.CheckInsertIndex(index);

        if (index == count && count < list.Capacity)
        {
            list._codec.Write(list._pool, list.Slot(index), item); // the common append: one slot, no copy
        }
        else
        {
            // Copy into a fresh array with a gap: the copy goes to a block only this transaction sees, so it is
            // written in place rather than logged, and a big list never overflows the log.
            var capacity = count < list.Capacity ? list.Capacity : list._pool.GrownCapacity(list.Capacity, list._codec.SlotSize);
            list.Reallocate(capacity, index, 1, -1);
            list._codec.Write(list._pool, list.Slot(index), item);
        }

        list.SetCount(count + 1);
    });

    private void CheckInsertIndex(int index)
    {
        if ((uint)index > (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Index {index} is outside 0..{Count}.");
        }
    }

    /// <inheritdoc />
    public void RemoveAt(int index) => _pool.Atomically((this, index), static s =>
    {
        var (list, index) = s;
        var count = list.Count;
        list.CheckIndex(index);
        list.ReleaseSlot(list.Slot(index));
        if (index == count - 1)
        {
            list.ClearSlot(list.Slot(index));
        }
        else
        {
            list.Reallocate(list.Capacity, -1, 0, index);
        }

        list.SetCount(count - 1);
    });

    /// <inheritdoc />
    public bool Remove(T item)
    {
        var index = IndexOf(item);
        if (index < 0)
        {
            return false;
        }

        RemoveAt(index);
        return true;
    }

    /// <summary>Removes every element (freeing owned strings) and the storage.</summary>
    public void Clear() => _pool.Atomically(this, static list =>
    {
        if (list.Header == 0)
        {
            return; // never created: nothing to clear, and nothing to write
        }

        var count = list.Count;
        for (var i = 0; i < count; i++)
        {
            list.ReleaseSlot(list.Slot(i));
        }

        var array = list._pool.ReadValue<long>(list.Header + StorageOffset);
        if (array != 0)
        {
            list._pool.FreeInTransaction(array);
        }

        list._pool.WriteValue(list.Header + StorageOffset, 0L);
        list._pool.WriteValue(list.Header + CapacityOffset, 0L);
        list.SetCount(0);
    });

    /// <inheritdoc />
    public int IndexOf(T item)
    {
        var count = Count;
        for (var i = 0; i < count; i++)
        {
            if (_codec.ValueEquals(_pool, Slot(i), item)) // by Equals, as List<T> searches
            {
                return i;
            }
        }

        return -1;
    }

    /// <inheritdoc />
    public bool Contains(T item) => IndexOf(item) >= 0;

    /// <inheritdoc />
    public void CopyTo(T[] array, int arrayIndex)
    {
        ArgumentNullException.ThrowIfNull(array);
        ArgumentOutOfRangeException.ThrowIfNegative(arrayIndex);
        var count = Count;
        if (array.Length - arrayIndex < count)
        {
            throw new ArgumentException("The destination is too small.", nameof(array));
        }

        for (var i = 0; i < count; i++)
        {
            array[arrayIndex + i] = this[i];
        }
    }

    /// <summary>Enumerates the elements; throws if the list changes meanwhile.</summary>
    public IEnumerator<T> GetEnumerator()
    {
        var version = Version;
        var count = Count;
        for (var i = 0; i < count; i++)
        {
            if (Version != version)
            {
                throw new InvalidOperationException("The list was modified during enumeration.");
            }

            yield return _codec.Read(_pool, Slot(i));
        }

        if (Version != version)
        {
            throw new InvalidOperationException("The list was modified during enumeration.");
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private int CheckIndex(int index)
    {
        var count = Count;
        if ((uint)index >= (uint)count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Index {index} is outside 0..{count - 1}.");
        }

        return index;
    }

    private long Slot(int index) => _pool.ReadValue<long>(Header + StorageOffset) + (long)index * _codec.SlotSize;

    private void SetCount(long count)
    {
        _pool.WriteValue(Header + CountOffset, count);
        Touch();
    }

    private void Touch() => _pool.WriteValue(Header + VersionOffset, Version + 1);

    /// <summary>Frees what a slot owns (a string) before the slot is dropped.</summary>
    private void ReleaseSlot(long slot)
    {
        if (_codec.Kind == SlotKind.String)
        {
            var owned = _pool.ReadValue<long>(slot);
            if (owned != 0)
            {
                _pool.FreeInTransaction(owned);
            }
        }
    }

    private void ClearSlot(long slot) => _pool.WriteBytesInTransaction(slot, new byte[_codec.SlotSize]);

    /// <summary>
    /// Moves the elements into a new array of <paramref name="capacity"/> slots, opening a gap of
    /// <paramref name="gapLength"/> at <paramref name="gapAt"/> or dropping the slot at <paramref name="dropAt"/>,
    /// then frees the old array (all in the running transaction). Slot bytes move as they are: owned strings move
    /// with them.
    /// </summary>
    private void Reallocate(int capacity, int gapAt, int gapLength, int dropAt)
    {
        var count = Count;
        var oldArray = _pool.ReadValue<long>(Header + StorageOffset);
        var newArray = _pool.AllocateInTransaction((long)capacity * _codec.SlotSize, TypeTable.BlobTypeIndex);

        // The kept slots lie in two runs, before and after the gap or the dropped slot, each copied in large pieces.
        var split = gapAt >= 0 ? Math.Min(gapAt, count) : dropAt >= 0 ? dropAt : count;
        var skip = dropAt >= 0 ? 1 : 0; // old slots passed over at the split
        var shift = gapAt >= 0 ? gapLength : 0; // new slots left open there
        CopySlots(oldArray, 0, newArray, 0, split);
        CopySlots(oldArray, split + skip, newArray, split + shift, count - split - skip);
        if (oldArray != 0)
        {
            _pool.FreeInTransaction(oldArray);
        }

        _pool.WriteValue(Header + StorageOffset, newArray);
        _pool.WriteValue(Header + CapacityOffset, (long)capacity);
    }

    /// <summary>
    /// Copies <paramref name="slots"/> slots from <paramref name="from"/> (as this transaction sees them) into the new array
    /// at <paramref name="to"/>, written in place (only this transaction sees it), 64 KiB at a time: one read and one
    /// flushed write a piece, not one a slot.
    /// </summary>
    private void CopySlots(long fromArray, int from, long toArray, int to, int slots)
    {
        var size = _codec.SlotSize;
        var piece = new byte[Math.Min((long)slots * size, 64 << 10)];
        for (long done = 0, total = (long)slots * size; done < total; done += piece.Length)
        {
            var bytes = piece.AsSpan(0, (int)Math.Min(piece.Length, total - done));
            _pool.ReadBytes(fromArray + (long)from * size + done, bytes);
            _pool.WriteBytesInTransaction(toArray + (long)to * size + done, bytes);
        }
    }
}
