// ClearedLogs -- for tests of pools that clear applied logs: a thread on another lane, and what a kill before a clear leaves.
using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Pool;

namespace Pmem.Tests.Log;

/// <summary>
/// A process-crash pool of format 7 clears each log once applied by storing 0 over its seal, and every commit uses its
/// lane's first slot, so the rest of each lane's last log is still there: putting the seal back gives what a kill
/// between that commit's apply and its clear leaves.
/// </summary>
internal static class ClearedLogs
{
    /// <summary>
    /// A thread running <paramref name="body"/> that first takes another lane of <paramref name="pool"/> than
    /// <paramref name="other"/> would: lanes are first taken by thread id, and two threads on one lane leave only the
    /// later one's last log.
    /// </summary>
    public static Thread OnAnotherLane(PersistentPool pool, Thread other, ThreadStart body)
    {
        var lanes = pool.Domain.Read<int>(PoolLayout.LaneCountOffset);
        var thread = new Thread(body);
        while (thread.ManagedThreadId % lanes == other.ManagedThreadId % lanes)
        {
            thread = new Thread(body);
        }

        return thread;
    }

    /// <summary>The lanes of the pool in <paramref name="image"/>, with the slots its format version gives them.</summary>
    public static LaneSet LanesOf(byte[] image) => PoolLayout.LanesOf(image);

    /// <summary>Reseals each lane's last log in <paramref name="image"/>; returns their slot offsets and sequences.</summary>
    public static List<(long SlotOffset, ulong Sequence)> ResealLast(byte[] image)
    {
        var lanes = LanesOf(image);
        var resealed = new List<(long, ulong)>();
        for (var lane = 0; lane < lanes.Count; lane++)
        {
            var offset = lanes.SlotOffset(lane, 0);
            var sequence = BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan((int)offset + RedoLog.SequenceOffset));
            var seal = image.AsSpan((int)offset + RedoLog.ChecksumOffset, 8);
            if (sequence != 0 && BinaryPrimitives.ReadUInt64LittleEndian(seal) == 0)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(seal, RedoLog.Seal(sequence));
                resealed.Add((offset, sequence));
            }
        }

        return resealed;
    }
}
