// PersistentPool (growth) -- growing the pool file by whole chunks, explicitly or when the heap runs out.
using Pmem.Heap;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>Grows the pool to at least <paramref name="newSize"/> bytes (rounded up to whole chunks).</summary>
    /// <exception cref="NotSupportedException">The pool's memory cannot grow (its domain was made without room, or past what the open reserved: its growth limit).</exception>
    /// <exception cref="PoolReadOnlyException">The pool was opened read-only.</exception>
    /// <exception cref="Pmem.Memory.PmemIOException">The file could not grow (the disk is full, a file-size limit); the pool is as it was.</exception>
    public void Grow(long newSize)
    {
        ThrowIfDisposed();
        ThrowIfReadOnly();
        lock (_heap.ChunkLock) // the heap takes it first when it grows the pool itself: one lock, one order
        {
            var current = Size;
            if (newSize <= current)
            {
                return;
            }

            var heapStart = _heap.HeapStart;
            var rounded = heapStart + ((newSize - heapStart + PoolLayout.ChunkSize - 1) / PoolLayout.ChunkSize) * PoolLayout.ChunkSize;
            if (rounded > _domain.Length)
            {
                try
                {
                    _domain.Extend(rounded);
                }
                catch (ArgumentOutOfRangeException)
                {
                    // Past the address space the open reserved (the growth limit): the mapping cannot move.
                    var reserved = _domain is Pmem.Memory.MappedDomain mapped ? mapped.ReservedLength : _domain.Length;
                    throw new NotSupportedException(reserved < _maxSize
                        ? $"{Path}: the pool cannot grow to {rounded} bytes in this open: its open could reserve only {reserved} bytes of address space of the {_maxSize} its growth limit asks (every open pool reserves its growth limit: other pools' reservations, or a limit on the process's address space, ulimit -v, took the rest); reopen it with a smaller PoolOpenOptions.MaxSize, or where the address space allows."
                        : $"{Path}: the pool cannot grow to {rounded} bytes in this open, past the room its open reserved ({Math.Max(_maxSize, current)} bytes); open it with a larger PoolOpenOptions.MaxSize.");
                }
            }
            else
            {
                _domain.EnsureAllocated(current, rounded); // the file's tail a crashed growth left: a hole until now
            }

            // The new chunks' free header first, then the size word that makes them part of the heap.
            _heap.FormatGrowth(rounded);
            _domain.WriteDurable(PoolLayout.PoolSizeOffset, rounded);
            _heap.AddChunks(rounded);
        }
    }

    /// <summary>Whether this open could not reserve the address space the growth limit asks (its growth fails before the limit).</summary>
    private bool ReservationFellShort => _domain is Pmem.Memory.MappedDomain mapped && mapped.ReservedLength < _maxSize;

    /// <summary>Sets the growth limit the pool records for later opens (a compaction's copy takes its source's).</summary>
    internal void RecordGrowthLimit(long limit) => _domain.WriteDurable(PoolLayout.GrowthLimitOffset, limit);

    /// <summary>Grows the pool by itself (when the heap runs out), up to its maximum size; false when it may not or cannot.</summary>
    private bool GrowBy(long bytes)
    {
        var current = Size;
        if (_maxSize <= current)
        {
            return false;
        }

        // Whole chunks, rounded down inside the maximum: Grow rounds up, which past the maximum would also pass the
        // mapping's reservation (an ArgumentOutOfRangeException from Extend instead of "out of space").
        var heapStart = _heap.HeapStart;
        var target = Math.Min(_maxSize, Math.Max(current + bytes, current * 2));
        target = heapStart + (target - heapStart) / PoolLayout.ChunkSize * PoolLayout.ChunkSize;
        if (target - current < bytes)
        {
            return false;
        }

        try
        {
            Grow(target);
            return true;
        }
        catch (NotSupportedException) when (!ReservationFellShort)
        {
            return false; // at the growth limit: the heap's out-of-space exception says so
        }
        catch (IOException e) when (e is not PoolException && current + bytes < target)
        {
            // The file system refused the doubling (a nearly full disk): it may still hold what this allocation needs.
            Grow(current + bytes);
            return true;
        }
    }
}
