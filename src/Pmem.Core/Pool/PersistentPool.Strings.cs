// PersistentPool (strings) -- string fields: immutable string blocks, replaced failure-atomically.
using System.Runtime.InteropServices;
using Pmem.Heap;
using Pmem.Objects;
using Pmem.Transactions;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>Reads the string a string field points to (null for 0).</summary>
    /// <exception cref="PersistentTypeMismatchException">The field points to something other than a string.</exception>
    /// <exception cref="PoolCorruptedException">The string does not fit its block.</exception>
    internal string? ReadString(long fieldOffset)
    {
        var target = ReadValue<long>(fieldOffset);
        return target == 0 ? null : ReadStringAt(target);
    }

    /// <summary>Reads the string block at <paramref name="target"/> (not 0).</summary>
    /// <exception cref="PersistentTypeMismatchException">No string block starts there.</exception>
    /// <exception cref="PoolCorruptedException">The string does not fit its block.</exception>
    internal string ReadStringAt(long target)
    {
        var capacity = ResolveBlock(target, TypeTable.StringTypeIndex);
        var length = _domain.Read<int>(target + StringLayout.LengthOffset);
        if (!StringLayout.Fits(length, capacity))
        {
            throw new PoolCorruptedException(Path, $"the string at offset {target} claims {length} characters, more than its block holds");
        }

        if (length == 0)
        {
            return string.Empty;
        }

        var text = new string(MemoryMarshal.Cast<byte, char>(_domain.GetSpan(target + StringLayout.CharsOffset, length * 2)));
        _domain.ThrowIfDisposedAfterAccess(); // never characters read from a pool closed meanwhile
        return text;
    }

    /// <summary>
    /// Compares the string block at <paramref name="target"/> (not 0) with <paramref name="value"/> ordinally, in place:
    /// no .NET string is made (a tree descent compares a key at every level). Strings never change in place, so the
    /// mapping is what every thread sees. Only the pool's bounds are checked, not the block (a heap lookup per
    /// comparison would double a descent): a damaged key orders wrongly but reads nothing outside the pool, and
    /// <see cref="Check"/> finds it.
    /// </summary>
    /// <exception cref="PoolCorruptedException">The string would lie outside the pool.</exception>
    internal int CompareStringAt(long target, ReadOnlySpan<char> value)
    {
        var length = target > 0 && target <= Size - StringLayout.CharsOffset ? _domain.Read<int>(target + StringLayout.LengthOffset) : -1;
        if (length < 0 || StringLayout.BlockSize(length) > Size - target)
        {
            throw new PoolCorruptedException(Path, $"a sorted key names a string at offset {target} of {length} characters, which does not fit in the pool");
        }

        var order = MemoryMarshal.Cast<byte, char>(_domain.GetSpan(target + StringLayout.CharsOffset, length * 2)).SequenceCompareTo(value);
        _domain.ThrowIfDisposedAfterAccess();
        return order;
    }

    /// <summary>Replaces a string field: a new block, the field set and the old block freed as one commit (or in the transaction).</summary>
    internal void WriteString(long fieldOffset, string? value)
    {
        var tx = CurrentTransaction();
        if (tx is not null)
        {
            ThrowIfRolledBack(tx);
        }

        var old = ReadValue<long>(fieldOffset);
        BlockReservation? created = value is null ? null : ReserveString(value);
        var size = value is null ? 0 : StringLayout.BlockSize(value.Length);

        if (tx is not null)
        {
            if (created is { } block)
            {
                tx.AddAllocation(new AllocationRecord(block, TypeTable.StringTypeIndex, (int)size));
            }

            WriteInTransaction(tx, fieldOffset, created?.Offset ?? 0L);
            if (old != 0)
            {
                TransactionCommit.Free(tx, old);
            }

            return;
        }

        var redo = RentRedo();
        if (created is { } newBlock)
        {
            _heap.LogAllocate(redo, newBlock, TypeTable.StringTypeIndex);
            RequireDurable(redo, newBlock.Offset, (int)size);
        }

        redo.Set(fieldOffset, created?.Offset ?? 0L);
        BlockReservation oldBlock = default;
        var freesOld = old != 0 && _heap.TryGetAllocated(old, out oldBlock, out _);
        if (freesOld)
        {
            _heap.LogFree(redo, oldBlock);
        }

        try
        {
            CommitRedo(redo);
        }
        catch
        {
            if (created is { } unused)
            {
                _heap.Release(unused, _commits.LastSequence);
            }

            throw;
        }

        if (freesOld)
        {
            // Kept for this thread's next string, as a transaction's frees are: straight back to the heap, it raised its
            // run's bound, and the next string reserved there waited for R to cover this commit (two extra drains).
            AllocationCacheOfThisThread().KeepFreed(oldBlock, _commits.LastSequence);
        }
    }

    /// <summary>
    /// A new string block holding <paramref name="value"/>, allocated by the running transaction (published at its
    /// commit, released at its rollback): for collections that place the offset in a slot themselves.
    /// </summary>
    internal long NewStringInTransaction(string value)
    {
        var tx = CurrentTransactionOrThrow();
        var block = ReserveString(value);
        tx.AddAllocation(new AllocationRecord(block, TypeTable.StringTypeIndex, (int)StringLayout.BlockSize(value.Length)));
        return block.Offset;
    }

    /// <summary>Reserves a block and writes <paramref name="value"/> into it, flushed (published by the caller's commit).</summary>
    private BlockReservation ReserveString(string value)
    {
        var size = StringLayout.BlockSize(value.Length);
        var block = ReserveBlock(size);
        _domain.Write(block.Offset + StringLayout.LengthOffset, value.Length);
        _domain.Write(block.Offset + StringLayout.ReservedOffset, 0);
        MemoryMarshal.AsBytes(value.AsSpan()).CopyTo(_domain.GetSpan(block.Offset + StringLayout.CharsOffset, value.Length * 2));
        _domain.NotifyStore(block.Offset, size);
        _domain.Flush(block.Offset, size);
        return block;
    }
}
