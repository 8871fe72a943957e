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
    private readonly long _header;

    internal PersistentList(PersistentPool pool, long fieldOffset, ElementCodec<T> codec)
    {
        _pool = pool;
        _codec = codec;
        _header = pool.GetOrCreateCollection(fieldOffset, TypeTable.ListTypeIndex, HeaderSize, header =>
        {
            pool.WriteValue(header + SlotSizeOffset, codec.SlotSize);
            pool.WriteValue(header + SlotKindOffset, (int)codec.Kind);
        });

        if (pool.ReadValue<int>(_header + SlotSizeOffset) != codec.SlotSize || pool.ReadValue<int>(_header + SlotKindOffset) != (int)codec.Kind)
        {
            throw new PersistentTypeMismatchException($"{pool.Path}: the list at offset {_header} holds another element type than {typeof(T).Name}.");
        }

        if (Problem(pool, _header, TypeTable.ListTypeIndex) is { } problem)
        {
            throw new PoolCorruptedException(pool.Path, problem); // before any slot is read past its storage
        }
    }

    /// <summary>The list's offset in its pool.</summary>
    public long Offset => _header;

    /// <inheritdoc cref="ICollection{T}.Count" />
    public int Count => (int)_pool.ReadValue<long>(_header + CountOffset);

    /// <summary>Slots allocated for elements.</summary>
    public int Capacity => (int)_pool.ReadValue<long>(_header + CapacityOffset);

    bool ICollection<T>.IsReadOnly => false;

    private long Version => _pool.ReadValue<long>(_header + VersionOffset);

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
        var count = list.Count;
        if ((uint)index > (uint)count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"Index {index} is outside 0..{count}.");
        }

        if (index == count && count < list.Capacity)
        {
            list._codec.Write(list._pool, list.Slot(index), item); // the common append: one slot, no copy
        }
        else
        {
            // Copy into a fresh array with a gap: the copy goes to a block only this transaction sees, so it is
            // written in place rather than logged, and a big list never overflows the log.
            var capacity = count < list.Capacity ? list.Capacity : Math.Max(4, list.Capacity * 2);
            list.Reallocate(capacity, index, 1, -1);
            list._codec.Write(list._pool, list.Slot(index), item);
        }

        list.SetCount(count + 1);
    });

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
        var count = list.Count;
        for (var i = 0; i < count; i++)
        {
            list.ReleaseSlot(list.Slot(i));
        }

        var array = list._pool.ReadValue<long>(list._header + StorageOffset);
        if (array != 0)
        {
            list._pool.FreeInTransaction(array);
        }

        list._pool.WriteValue(list._header + StorageOffset, 0L);
        list._pool.WriteValue(list._header + CapacityOffset, 0L);
        list.SetCount(0);
    });

    /// <inheritdoc />
    public int IndexOf(T item)
    {
        var count = Count;
        for (var i = 0; i < count; i++)
        {
            if (_codec.SlotEquals(_pool, Slot(i), item))
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
        var count = Count;
        if (arrayIndex < 0 || array.Length - arrayIndex < count)
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

    private long Slot(int index) => _pool.ReadValue<long>(_header + StorageOffset) + (long)index * _codec.SlotSize;

    private void SetCount(long count)
    {
        _pool.WriteValue(_header + CountOffset, count);
        Touch();
    }

    private void Touch() => _pool.WriteValue(_header + VersionOffset, Version + 1);

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
        var size = _codec.SlotSize;
        var count = Count;
        var oldArray = _pool.ReadValue<long>(_header + StorageOffset);
        var newArray = _pool.AllocateInTransaction((long)capacity * size, TypeTable.BlobTypeIndex);
        var buffer = new byte[size];
        var target = 0;
        for (var i = 0; i < count; i++)
        {
            if (i == dropAt)
            {
                continue;
            }

            if (target == gapAt)
            {
                target += gapLength;
            }

            _pool.ReadBytes(oldArray + (long)i * size, buffer);
            _pool.WriteBytesInTransaction(newArray + (long)target * size, buffer);
            target++;
        }

        if (oldArray != 0)
        {
            _pool.FreeInTransaction(oldArray);
        }

        _pool.WriteValue(_header + StorageOffset, newArray);
        _pool.WriteValue(_header + CapacityOffset, (long)capacity);
    }
}
