// LaneSet -- the pool's lanes: which commit holds which log slots, biased to the thread that uses a lane.
using Pmem.Memory;

namespace Pmem.Log;

/// <summary>
/// The pool's lanes: each commit takes one for the few microseconds of its redo protocol, so transactions on
/// different threads commit concurrently. A lane is biased to the thread that first takes it: that thread then takes
/// and releases it with plain stores, no locked instruction. Any other thread takes a lane with a compare-and-swap,
/// and taking a lane biased to someone else revokes the bias for good (one process-wide barrier per lane, at most).
/// </summary>
/// <remarks>
/// The bias is the asymmetric Dekker protocol: the owner stores its <see cref="Holder.Active"/> flag and then reads
/// the lane's owner; a revoker stores the "contended" owner, runs <see cref="Interlocked.MemoryBarrierProcessWide"/>
/// (a full fence on every thread of the process) and then waits for the old owner's flag to drop. After that
/// barrier either the owner's flag is visible (the revoker waits for its commit to end) or the owner's read comes
/// after it and sees it is no longer the owner (it backs off and takes the lane's compare-and-swap path, which the
/// revoker holds). Each thread stores only to its own flag, so a thread backing off can never clear another's.
/// </remarks>
internal sealed class LaneSet
{
    private static readonly Holder Contended = new(); // the owner of a lane whose bias was revoked: nobody's

    private readonly int[] _taken;       // per lane, one per 64 bytes: 1 while held through the compare-and-swap
    private readonly Holder?[] _owner;   // per lane: the holder it is biased to (null: none yet; Contended: none ever)
    private readonly long _firstLaneOffset;
    private readonly ManualResetEventSlim _open = new(initialState: true);
    private readonly ulong _slotDivisor; // see LaneOfSlot
    private int _closed; // 1 while Close holds commits back
    private bool _shut;  // closed for good: Acquire gives up instead of waiting

    public LaneSet(long firstLaneOffset, int count, int laneSize, int slotsPerLane = LegacySlotsPerLane)
    {
        if (slotsPerLane is < LegacySlotsPerLane or > MaxSlotsPerLane)
        {
            throw new ArgumentOutOfRangeException(nameof(slotsPerLane));
        }

        _firstLaneOffset = firstLaneOffset;
        LaneSize = laneSize;
        SlotsPerLane = slotsPerLane;
        _slotDivisor = SlotDivisor(slotsPerLane);
        SlotSize = laneSize / slotsPerLane & ~(PersistenceDomain.CacheLineSize - 1);
        _taken = new int[count * 16]; // no false sharing between lanes
        _owner = new Holder?[count];
        Count = count;
    }

    public int Count { get; }

    /// <summary>How often a wait for a reopen (here, or for writes in the pipeline) checks whether the lanes were shut.</summary>
    public const int ShutCheckMilliseconds = 100;

    /// <summary>True once <see cref="Shut"/> was called: the pool is being disposed.</summary>
    public bool IsShut => Volatile.Read(ref _shut);

    public int LaneSize { get; }

    public long OffsetOf(int lane) => _firstLaneOffset + (long)lane * LaneSize;

    /// <summary>The lane a slot at <paramref name="slotOffset"/> belongs to.</summary>
    public long LaneOf(long slotOffset) => (slotOffset - _firstLaneOffset) / LaneSize;

    /// <summary>
    /// Log slots per lane in pools before format 9: a commit never overwrites the logs of the two before it on its lane,
    /// whose in-place applies may not be durable yet (see <see cref="CommitPipeline"/>).
    /// </summary>
    public const int LegacySlotsPerLane = 3;

    /// <summary>The most slots a lane may be divided into (pools of format 9 and later).</summary>
    public const int MaxSlotsPerLane = 12;

    /// <summary>Log slots in each lane.</summary>
    public int SlotsPerLane { get; }

    /// <summary>Bytes of one slot: the lane's share for one slot, in whole cache lines.</summary>
    public int SlotSize { get; }

    /// <summary>Number of slots over all lanes.</summary>
    public int SlotCount => Count * SlotsPerLane;

    public long SlotOffset(int lane, int slot) => OffsetOf(lane) + (long)slot * SlotSize;

    /// <summary>Index of a slot among all lanes' slots.</summary>
    public int SlotIndex(int lane, int slot) => lane * SlotsPerLane + slot;

    /// <summary>Where the slot with index <paramref name="slotIndex"/> (see <see cref="SlotIndex"/>) lies.</summary>
    public long SlotOffset(int slotIndex)
    {
        var lane = LaneOfSlot(slotIndex, _slotDivisor);
        return SlotOffset(lane, slotIndex - lane * SlotsPerLane);
    }

    /// <summary>The lane of a slot index, by a multiplication (see <see cref="SlotDivisor"/>).</summary>
    public int LaneOfSlot(int slotIndex) => LaneOfSlot(slotIndex, _slotDivisor);

    /// <summary>
    /// The multiplier that divides a slot index by <paramref name="slotsPerLane"/> in <see cref="LaneOfSlot(int, ulong)"/>:
    /// ⌈2^64 / d⌉, exact for every 32-bit dividend. A division by a divisor known only at run time is an integer
    /// division instruction, and a commit divides a dozen times.
    /// </summary>
    public static ulong SlotDivisor(int slotsPerLane) => ulong.MaxValue / (ulong)slotsPerLane + 1;

    /// <summary>The quotient <paramref name="slotIndex"/> / d for the multiplier of <see cref="SlotDivisor"/>.</summary>
    public static int LaneOfSlot(int slotIndex, ulong divisor) => (int)Math.BigMul(divisor, (ulong)(uint)slotIndex, out _);

    /// <summary>
    /// Takes a free lane for <paramref name="holder"/> (one per thread), trying <paramref name="preferred"/> first
    /// (the thread's last lane; -1 for none, then the one its id maps to); spins (then yields) while all are busy,
    /// since commits hold lanes only briefly. <paramref name="biased"/> says how it was taken, for
    /// <see cref="Release"/>. Returns -1, holding nothing, once <see cref="Shut"/> was called.
    /// </summary>
    public int Acquire(int preferred, Holder holder, out bool biased)
    {
        while (true)
        {
            var lane = AcquireAny(preferred, holder, out biased);

            // After the lane is held (its flag stored or its compare-and-swap done): a closer that finds every lane
            // free after its process-wide barrier knows each later taker sees it closed (the bias protocol above).
            if (Volatile.Read(ref _closed) == 0)
            {
                return lane;
            }

            Release(lane, holder, biased);
            if (Volatile.Read(ref _shut))
            {
                return -1;
            }

            _open.Wait(ShutCheckMilliseconds); // Shut sets the event; the timeout covers a Close that reset it just after
        }
    }

    /// <summary>
    /// Stops new commits and waits until no lane is held (for a consistent copy of the pool); commits that come
    /// meanwhile wait, without spinning, until <see cref="Reopen"/>. One closer at a time.
    /// </summary>
    public void Close()
    {
        _open.Reset();
        Volatile.Write(ref _closed, 1);
        Interlocked.MemoryBarrierProcessWide(); // as a revoker's: every lane's holder flag is now visible, or its taker sees the close
        var spins = new SpinWait();
        for (var lane = 0; lane < Count; lane++)
        {
            while (Volatile.Read(ref _taken[lane * 16]) != 0 || (Volatile.Read(ref _owner[lane]) is { } owner && Volatile.Read(ref owner.Active) != 0))
            {
                spins.SpinOnce(); // a commit in its redo protocol: microseconds
            }
        }
    }

    /// <summary>Lets commits take lanes again after <see cref="Close"/> (not after <see cref="Shut"/>).</summary>
    public void Reopen()
    {
        if (Volatile.Read(ref _shut))
        {
            return;
        }

        Volatile.Write(ref _closed, 0);
        _open.Set();
    }

    /// <summary>
    /// Closes the lanes for good (the pool is being disposed): waits, as <see cref="Close"/> does, until no commit holds
    /// a lane, and from then on <see cref="Acquire"/> returns -1, also to commits that were waiting for a reopen. May
    /// come while a <see cref="Close"/> is in force.
    /// </summary>
    public void Shut()
    {
        Volatile.Write(ref _shut, true);
        Close();
        _open.Set(); // wakes commits waiting for a reopen: they find the lanes shut
    }

    private int AcquireAny(int preferred, Holder holder, out bool biased)
    {
        if ((uint)preferred < (uint)Count)
        {
            if (ReferenceEquals(Volatile.Read(ref _owner[preferred]), holder))
            {
                // The common case: a thread keeps its lane, so its logs rotate through its own slots. The store and
                // the read after it need no fence between them: a revoker's process-wide barrier stands in for it.
                // (Volatile keeps the compiler from moving the store below the read; on x86 both stay plain moves.)
                Volatile.Write(ref holder.Active, 1);
                if (ReferenceEquals(Volatile.Read(ref _owner[preferred]), holder))
                {
                    biased = true;
                    return preferred;
                }

                Volatile.Write(ref holder.Active, 0); // revoked meanwhile: take the shared path
            }

            if (Interlocked.CompareExchange(ref _taken[preferred * 16], 1, 0) == 0)
            {
                TakeOver(preferred, holder);
                biased = false;
                return preferred;
            }
        }

        var start = Environment.CurrentManagedThreadId % Count;
        var spins = new SpinWait();
        while (true)
        {
            for (var i = 0; i < Count; i++)
            {
                var lane = (start + i) % Count;
                if (Volatile.Read(ref _taken[lane * 16]) == 0 && Interlocked.CompareExchange(ref _taken[lane * 16], 1, 0) == 0)
                {
                    TakeOver(lane, holder);
                    biased = false;
                    return lane;
                }
            }

            spins.SpinOnce();
        }
    }

    /// <summary>Releases a lane taken by <see cref="Acquire"/>; everything stored while holding it is visible first.</summary>
    public void Release(int lane, Holder holder, bool biased)
    {
        if (biased)
        {
            Volatile.Write(ref holder.Active, 0);
        }
        else
        {
            Volatile.Write(ref _taken[lane * 16], 0);
        }
    }

    /// <summary>True when <paramref name="lane"/> is biased to <paramref name="holder"/> (for tests).</summary>
    internal bool IsBiasedTo(int lane, Holder holder) => ReferenceEquals(Volatile.Read(ref _owner[lane]), holder);

    /// <summary>
    /// With the lane's compare-and-swap held: biases a lane nobody owns to <paramref name="holder"/> (its next
    /// acquire is the plain one), or revokes another thread's bias and waits until that thread no longer holds it.
    /// </summary>
    private void TakeOver(int lane, Holder holder)
    {
        var owner = Volatile.Read(ref _owner[lane]);
        if (owner is null)
        {
            // Only the compare-and-swap holder changes the owner, so this store races with no other.
            Volatile.Write(ref _owner[lane], holder);
            return;
        }

        if (ReferenceEquals(owner, holder) || ReferenceEquals(owner, Contended))
        {
            return;
        }

        Volatile.Write(ref _owner[lane], Contended);
        Interlocked.MemoryBarrierProcessWide();
        var spins = new SpinWait();
        while (Volatile.Read(ref owner.Active) != 0)
        {
            spins.SpinOnce(); // the old owner is inside a commit on this lane (or backing off): it ends soon
        }
    }

    /// <summary>
    /// A thread's presence flag for the lanes biased to it: set while it holds one through the plain path. Only its
    /// thread stores to it.
    /// </summary>
    internal sealed class Holder
    {
        internal int Active;
    }
}
