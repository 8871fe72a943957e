// LaneWords -- the commit pipeline's per-lane bookkeeping, each lane's words on cache lines no other lane writes.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmem.Log;

/// <summary>
/// Per lane: the commit in flight on it, per slot the commit whose apply is not yet known durable and the commit whose
/// log the slot holds, and the largest R that a drained log of this lane made durable. A commit writes only its own
/// lane's words, several times, and other threads only read them (to compute the watermarks), so each lane's words
/// sit on a line of their own: packed, two threads committing on two lanes wrote the same line on every commit.
/// </summary>
/// <remarks>
/// 128 bytes per lane, starting on a 64-byte boundary: the lane's 64 bytes and an empty line after them, which the
/// adjacent-line prefetcher would otherwise pair with the next lane's. The array lives on the pinned heap, so the
/// alignment computed once holds.
/// </remarks>
internal sealed class LaneWords
{
    private const int Stride = 16;                              // longs per lane
    private const int InFlightWord = 0;                         // the commit between its sequence and its apply's end
    private const int PendingWord = 1;                          // + slot: apply flushed, not known drained
    private const int SequenceWord = 1 + LaneSet.SlotsPerLane;  // + slot: the commit whose log the slot holds
    private const int RetiredWord = 1 + 2 * LaneSet.SlotsPerLane; // R of this lane's newest drained log

    private readonly long[] _words;
    private readonly int _first;

    public unsafe LaneWords(int lanes, ReadOnlySpan<long> slotSequences)
    {
        Lanes = lanes;
        _words = GC.AllocateArray<long>(lanes * Stride + 8, pinned: true);
        var address = (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_words));
        _first = (int)((64 - (address & 63)) & 63) / sizeof(long);
        for (var slot = 0; slot < slotSequences.Length; slot++)
        {
            SlotSequence(slot) = slotSequences[slot];
        }
    }

    public int Lanes { get; }

    /// <summary>Number of slots over all lanes.</summary>
    public int Slots => Lanes * LaneSet.SlotsPerLane;

    public ref long InFlight(int lane) => ref _words[_first + lane * Stride + InFlightWord];

    public ref long Pending(int slot) => ref _words[_first + Math.DivRem(slot, LaneSet.SlotsPerLane, out var i) * Stride + PendingWord + i];

    public ref long SlotSequence(int slot) => ref _words[_first + Math.DivRem(slot, LaneSet.SlotsPerLane, out var i) * Stride + SequenceWord + i];

    public ref long Retired(int lane) => ref _words[_first + lane * Stride + RetiredWord];

    /// <summary>The oldest commit in flight on any lane, or <paramref name="bound"/> if that is smaller.</summary>
    public long OldestInFlight(long bound)
    {
        // As unsigned, value - 1 turns 0 (no commit) into the largest number.
        var oldest = (ulong)(bound - 1);
        for (var lane = 0; lane < Lanes; lane++)
        {
            oldest = Math.Min(oldest, (ulong)(Volatile.Read(ref InFlight(lane)) - 1));
        }

        return (long)(oldest + 1);
    }

    /// <summary>The oldest commit whose apply is pending in any slot, or <paramref name="bound"/> if that is smaller.</summary>
    public long OldestPending(long bound)
    {
        var oldest = (ulong)(bound - 1);
        for (var lane = 0; lane < Lanes; lane++)
        {
            ref var first = ref _words[_first + lane * Stride + PendingWord];
            for (var i = 0; i < LaneSet.SlotsPerLane; i++)
            {
                oldest = Math.Min(oldest, (ulong)(Volatile.Read(ref Unsafe.Add(ref first, i)) - 1));
            }
        }

        return (long)(oldest + 1);
    }

    /// <summary>The largest R any lane recorded durable.</summary>
    public long MaxRetired()
    {
        var max = 0L;
        for (var lane = 0; lane < Lanes; lane++)
        {
            max = Math.Max(max, Volatile.Read(ref Retired(lane)));
        }

        return max;
    }
}

/// <summary>
/// The pool's sequence number, the one word every commit writes (a locked increment), with a line of padding on each
/// side: the pipeline's other fields, which every commit reads, would otherwise share its line and miss after every
/// other thread's increment.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 3 * 64)]
internal struct SequenceCounter
{
    /// <summary>The newest sequence number handed out.</summary>
    [FieldOffset(64)]
    public long Last;
}
