// LaneWords -- the commit pipeline's per-lane bookkeeping, each lane's words on cache lines no other lane writes.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Pmem.Log;

/// <summary>
/// Per lane: the commit in flight on it, per slot the commit whose apply is not yet known durable and the commit whose
/// log the slot holds, the largest R that a drained log of this lane made durable, and (a pipeline that clears
/// applied logs numbers commits per lane) the lane's next commit number. A commit writes only its own
/// lane's words and other threads only read them (to compute the watermarks), so each lane's words sit on lines of
/// their own: packed, two threads committing on two lanes wrote the same lines on every commit, and each line moved
/// between cores costs more than a process-crash commit (bench/RESULTS.md, session 12).
/// </summary>
/// <remarks>
/// A lane's nine words take 72 bytes at a stride of 128, after 128 bytes of padding: wherever the (8-aligned) array
/// starts, no line holds two lanes' words or another object's.
/// </remarks>
internal sealed class LaneWords
{
    private const int Stride = 16;                              // longs per lane
    private const int InFlightWord = 0;                         // the commit between its sequence and its apply's end
    private const int PendingWord = 1;                          // + slot: apply flushed, not known drained
    private const int SequenceWord = 1 + LaneSet.SlotsPerLane;  // + slot: the commit whose log the slot holds
    private const int RetiredWord = 1 + 2 * LaneSet.SlotsPerLane; // R of this lane's newest drained log
    private const int NextWord = RetiredWord + 1;               // a pipeline that clears logs: the lane's next number

    private readonly long[] _words;

    public LaneWords(int lanes, ReadOnlySpan<long> slotSequences)
    {
        Lanes = lanes;
        _words = new long[(lanes + 1) * Stride];
        for (var slot = 0; slot < slotSequences.Length; slot++)
        {
            SlotSequence(slot) = slotSequences[slot];
        }
    }

    public int Lanes { get; }

    /// <summary>Number of slots over all lanes.</summary>
    public int Slots => Lanes * LaneSet.SlotsPerLane;

    public ref long InFlight(int lane) => ref Word(lane, InFlightWord);

    public ref long Pending(int slot) => ref Word(slot / LaneSet.SlotsPerLane, PendingWord + slot % LaneSet.SlotsPerLane);

    public ref long SlotSequence(int slot) => ref Word(slot / LaneSet.SlotsPerLane, SequenceWord + slot % LaneSet.SlotsPerLane);

    public ref long Retired(int lane) => ref Word(lane, RetiredWord);

    /// <summary>The number of the lane's next commit, on a pipeline that clears applied logs (only its holder uses it).</summary>
    public ref long NextSequence(int lane) => ref Word(lane, NextWord);

    /// <summary>Every slot's sequence, in slot order (0: none).</summary>
    public long[] SlotSequences()
    {
        var sequences = new long[Slots];
        for (var slot = 0; slot < sequences.Length; slot++)
        {
            sequences[slot] = SlotSequence(slot);
        }

        return sequences;
    }

    /// <summary>
    /// The oldest commit in flight on any lane and the oldest one in flight or with its apply pending, each
    /// <paramref name="bound"/> if that is smaller. Every in-flight word is read before any pending word: a commit
    /// publishes itself as pending before it stops being in flight, so it is seen in one or the other.
    /// </summary>
    public (long OldestInFlight, long OldestUndrained) Oldest(long bound, bool withPending)
    {
        // As unsigned, value - 1 turns 0 (no commit) into the largest number.
        ref var first = ref MemoryMarshal.GetArrayDataReference(_words);
        var inFlight = (ulong)(bound - 1);
        for (var lane = 0; lane < Lanes; lane++)
        {
            inFlight = Math.Min(inFlight, (ulong)(Volatile.Read(ref Unsafe.Add(ref first, Stride * (lane + 1) + InFlightWord)) - 1));
        }

        if (!withPending)
        {
            return ((long)(inFlight + 1), (long)(inFlight + 1));
        }

        var undrained = inFlight;
        if (Vector256.IsHardwareAccelerated && LaneSet.SlotsPerLane == 3)
        {
            // One load per lane: its three pending words and the next word, which the mask turns into "none".
            var minimum = Vector256.Create(undrained);
            var pendingOnly = Vector256.Create(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, 0UL);
            for (var lane = 0; lane < Lanes; lane++)
            {
                var words = Vector256.LoadUnsafe(ref Unsafe.As<long, ulong>(ref Unsafe.Add(ref first, Stride * (lane + 1) + PendingWord)));
                minimum = Vector256.Min(minimum, (words & pendingOnly) - Vector256<ulong>.One);
            }

            for (var i = 0; i < Vector256<ulong>.Count; i++)
            {
                undrained = Math.Min(undrained, minimum.GetElement(i));
            }
        }
        else
        {
            for (var lane = 0; lane < Lanes; lane++)
            {
                for (var i = 0; i < LaneSet.SlotsPerLane; i++)
                {
                    undrained = Math.Min(undrained, (ulong)(Volatile.Read(ref Unsafe.Add(ref first, Stride * (lane + 1) + PendingWord + i)) - 1));
                }
            }
        }

        return ((long)(inFlight + 1), (long)(undrained + 1));
    }

    /// <summary>The oldest commit whose apply is pending in any slot, or <paramref name="bound"/> if that is smaller.</summary>
    public long OldestPending(long bound)
    {
        var oldest = (ulong)(bound - 1);
        for (var slot = 0; slot < Slots; slot++)
        {
            oldest = Math.Min(oldest, (ulong)(Volatile.Read(ref Pending(slot)) - 1));
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

    private ref long Word(int lane, int word) => ref _words[Stride * (lane + 1) + word];
}

/// <summary>
/// The pool's sequence number, the one word every commit of a power-failure pool writes (a locked increment), with a
/// line of padding on each side: the pipeline's other fields, which every commit reads, would otherwise share its
/// line and miss after every other thread's increment.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 3 * 64)]
internal struct SequenceCounter
{
    /// <summary>The newest sequence number handed out.</summary>
    [FieldOffset(64)]
    public long Last;
}
