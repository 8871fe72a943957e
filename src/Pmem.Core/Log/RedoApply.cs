// RedoApply -- applies redo entries in place, and the flush strategies an apply hands its stored ranges to.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Pmem.Memory;

namespace Pmem.Log;

/// <summary>Where <see cref="RedoApply.Apply{TFlusher}"/> sends the ranges it stored to.</summary>
internal interface IRangeFlusher
{
    void Flush(long offset, long length);
}

/// <summary>Flushes nothing: for a process-crash domain, where a store survives the process once made.</summary>
internal readonly struct NoFlush : IRangeFlusher
{
    public void Flush(long offset, long length)
    {
    }
}

/// <summary>Flushes each range at once.</summary>
internal readonly struct FlushNow(PersistenceDomain domain) : IRangeFlusher
{
    public void Flush(long offset, long length) => domain.Flush(offset, length);
}

/// <summary>
/// Hands stored ranges to a flusher lazily, merging those that share or touch a cache line: a line must be flushed
/// after its last store, not before, and clustered stores (a log's entries, a run's type words) then cost one flush
/// per line.
/// </summary>
internal struct LineMergingFlush<TFlusher>(TFlusher flusher)
    where TFlusher : struct, IRangeFlusher
{
    private long _start = -1;
    private long _end = -1;

    /// <summary>Records that [offset, offset + length) was just stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Stored(long offset, long length)
    {
        var lineStart = offset & ~(long)(PersistenceDomain.CacheLineSize - 1);
        if (_start >= 0 && lineStart <= _end && offset + length >= _start)
        {
            _start = Math.Min(_start, offset);
            _end = Math.Max(_end, offset + length);
            return;
        }

        Finish();
        (_start, _end) = (offset, offset + length);
    }

    /// <summary>Flushes what is still pending; call after the last store.</summary>
    public void Finish()
    {
        if (_start >= 0)
        {
            flusher.Flush(_start, _end - _start);
            _start = -1;
        }
    }
}

/// <summary>Applies redo entries in place (the commit's apply, recovery's replay) and flushes an applied log's targets.</summary>
internal static class RedoApply
{
    /// <summary>Applies entries in place and flushes them (without draining).</summary>
    public static void Apply(PersistenceDomain domain, ReadOnlySpan<byte> entries) => Apply(domain, entries, new FlushNow(domain));

    /// <summary>Applies entries in place and hands each stored range to <paramref name="flusher"/> (merged by line).</summary>
    public static void Apply<TFlusher>(PersistenceDomain domain, ReadOnlySpan<byte> entries, TFlusher flusher)
        where TFlusher : struct, IRangeFlusher
    {
        var pending = new LineMergingFlush<TFlusher>(flusher);
        var reader = new RedoReader(entries);
        while (reader.MoveNext(out _))
        {
            var target = reader.Target;
            var length = reader.Length;
            switch (reader.Operation)
            {
                case RedoOperation.Set when length == 8 && (target & 7) == 0:
                    domain.Write(target, BinaryPrimitives.ReadInt64LittleEndian(reader.Data));
                    break;
                case RedoOperation.Set:
                    reader.Data.CopyTo(domain.GetSpan(target, (int)length));
                    domain.NotifyStore(target, length);
                    break;
                case RedoOperation.Or:
                    Interlocked.Or(ref domain.GetRef<ulong>(target), reader.Operand);
                    domain.NotifyStore(target, 8);
                    break;
                case RedoOperation.And:
                    Interlocked.And(ref domain.GetRef<ulong>(target), reader.Operand);
                    domain.NotifyStore(target, 8);
                    break;
                default:
                    continue; // Verify applies nothing
            }

            pending.Stored(target, length);
        }

        pending.Finish();
    }

    /// <summary>
    /// Flushes (without draining) every range the log of commit <paramref name="sequence"/> in a slot applies to:
    /// another thread's drain after this makes that log's in-place apply durable, whatever thread applied it. Only
    /// for a log already applied. Flushes nothing when the slot holds another log (it may be being rewritten), and
    /// stops at anything that does not decode.
    /// </summary>
    public static void FlushTargets(PersistenceDomain domain, long slotOffset, int slotSize, ulong sequence)
    {
        var header = domain.GetSpan(slotOffset, RedoLog.HeaderSize);
        if (domain.Read<ulong>(slotOffset + RedoLog.SequenceOffset) != sequence || !RedoLog.TryLocateEntries(domain, slotOffset, slotSize, header, out var entries, out var length))
        {
            return;
        }

        var pending = new LineMergingFlush<FlushNow>(new FlushNow(domain));
        var reader = new RedoReader(domain.GetSpan(entries, length));
        while (reader.MoveNext(out _))
        {
            if (reader.Operation != RedoOperation.Verify && reader.Target >= 0 && reader.Target + reader.Length <= domain.Length)
            {
                pending.Stored(reader.Target, reader.Length);
            }
        }

        pending.Finish();
    }
}
