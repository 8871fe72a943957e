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
/// A lane's words take a stride of a multiple of 128 bytes with at least seven unused words at its end, after one
/// stride of padding: wherever the (8-aligned) array starts, no line holds two lanes' words or another object's.
/// </remarks>
internal sealed class LaneWords
{
    private const int InFlightWord = 0;  // the commit between its sequence and its apply's end
    private const int PendingWord = 1;   // + slot: apply flushed, not known drained
    private const int LineLongs = 16;    // longs per 128 bytes

    private readonly long[] _words;
    private readonly int _stride;        // longs per lane
    private readonly ulong _slotDivisor; // see LaneSet.SlotDivisor
    private readonly int _sequenceWord;  // + slot: the commit whose log the slot holds
    private readonly int _retiredWord;   // R of this lane's newest drained log
    private readonly int _nextWord;      // a pipeline that clears logs: the lane's next number
    private readonly int _knownWord;     // R and C the lane's last scan found (see CommitPipeline.CommitWatermarks),
                                         // then the commits left before its next scan

    public LaneWords(int lanes, int slotsPerLane, ReadOnlySpan<long> slotSequences)
    {
        Lanes = lanes;
        SlotsPerLane = slotsPerLane;
        _slotDivisor = LaneSet.SlotDivisor(slotsPerLane);
        _sequenceWord = PendingWord + slotsPerLane;
        _retiredWord = _sequenceWord + slotsPerLane;
        _nextWord = _retiredWord + 1;
        _knownWord = _nextWord + 1;
        // At least seven unused words after each lane's: wherever the 8-aligned array starts, no line holds two lanes'.
        _stride = (_knownWord + 3 + 7 + LineLongs - 1) / LineLongs * LineLongs;
        _words = new long[(lanes + 1) * _stride];
        for (var slot = 0; slot < slotSequences.Length; slot++)
        {
            SlotSequence(slot) = slotSequences[slot];
        }
    }

    public int SlotsPerLane { get; }

    public int Lanes { get; }

    /// <summary>Number of slots over all lanes.</summary>
    public int Slots => Lanes * SlotsPerLane;

    public ref long InFlight(int lane) => ref Word(lane, InFlightWord);

    public ref long Pending(int slot) => ref SlotWord(slot, PendingWord);

    public ref long SlotSequence(int slot) => ref SlotWord(slot, _sequenceWord);

    public ref long Retired(int lane) => ref Word(lane, _retiredWord);

    /// <summary>The number of the lane's next commit, on a pipeline that clears applied logs (only its holder uses it).</summary>
    public ref long NextSequence(int lane) => ref Word(lane, _nextWord);

    /// <summary>R of the lane's last scan of all lanes (only its holder uses it).</summary>
    public ref long KnownRetired(int lane) => ref Word(lane, _knownWord);

    /// <summary>C of the lane's last scan of all lanes (only its holder uses it).</summary>
    public ref long KnownCommitted(int lane) => ref Word(lane, _knownWord + 1);

    /// <summary>Commits the lane may still make with <see cref="KnownRetired"/> and <see cref="KnownCommitted"/> before it scans again.</summary>
    public ref long CommitsBeforeScan(int lane) => ref Word(lane, _knownWord + 2);

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
            inFlight = Math.Min(inFlight, (ulong)(Volatile.Read(ref Unsafe.Add(ref first, _stride * (lane + 1) + InFlightWord)) - 1));
        }

        if (!withPending)
        {
            return ((long)(inFlight + 1), (long)(inFlight + 1));
        }

        var undrained = inFlight;
        if (Vector256.IsHardwareAccelerated)
        {
            // Four pending words per load; the last load's mask turns the words past the lane's last slot (its slot
            // sequences) into "none".
            var minimum = Vector256.Create(undrained);
            var slots = SlotsPerLane;
            var lastLoad = (slots - 1) / Vector256<ulong>.Count * Vector256<ulong>.Count;
            var lastMask = Vector256.LessThan(Vector256.Create(0UL, 1UL, 2UL, 3UL), Vector256.Create((ulong)(slots - lastLoad)));
            for (var lane = 0; lane < Lanes; lane++)
            {
                ref var pending = ref Unsafe.As<long, ulong>(ref Unsafe.Add(ref first, _stride * (lane + 1) + PendingWord));
                for (var i = 0; i < slots; i += Vector256<ulong>.Count)
                {
                    var words = Vector256.LoadUnsafe(ref pending, (nuint)i);
                    if (i == lastLoad)
                    {
                        words &= lastMask;
                    }

                    minimum = Vector256.Min(minimum, words - Vector256<ulong>.One);
                }
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
                for (var i = 0; i < SlotsPerLane; i++)
                {
                    undrained = Math.Min(undrained, (ulong)(Volatile.Read(ref Unsafe.Add(ref first, _stride * (lane + 1) + PendingWord + i)) - 1));
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

    private ref long SlotWord(int slot, int first)
    {
        var lane = LaneSet.LaneOfSlot(slot, _slotDivisor);
        return ref Word(lane, first + slot - lane * SlotsPerLane);
    }

    private ref long Word(int lane, int word) => ref _words[_stride * (lane + 1) + word];
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
