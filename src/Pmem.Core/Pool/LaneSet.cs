namespace Pmem.Pool;

/// <summary>
/// The pool's lanes: each commit takes one for the few microseconds of its redo protocol, so transactions on
/// different threads commit concurrently. A thread first tries the lane its id maps to, so uncontended commits
/// never share a cache line.
/// </summary>
internal sealed class LaneSet
{
    private readonly int[] _taken;
    private readonly long _firstLaneOffset;

    public LaneSet(long firstLaneOffset, int count, int laneSize)
    {
        _firstLaneOffset = firstLaneOffset;
        LaneSize = laneSize;
        _taken = new int[count * 16]; // one flag per 64 bytes: no false sharing between lanes
        Count = count;
    }

    public int Count { get; }

    public int LaneSize { get; }

    public long OffsetOf(int lane) => _firstLaneOffset + (long)lane * LaneSize;

    /// <summary>
    /// Each lane holds three log slots: a commit never overwrites the logs of the two before it on its lane, whose
    /// in-place applies may not be durable yet (see <see cref="CommitPipeline"/>).
    /// </summary>
    public const int SlotsPerLane = 3;

    /// <summary>Bytes of one slot: a third of the lane, in whole cache lines.</summary>
    public int SlotSize => LaneSize / SlotsPerLane & ~63;

    public long SlotOffset(int lane, int slot) => OffsetOf(lane) + (long)slot * SlotSize;

    /// <summary>Index of a slot among all lanes' slots.</summary>
    public static int SlotIndex(int lane, int slot) => lane * SlotsPerLane + slot;

    /// <summary>
    /// Takes a free lane, trying <paramref name="preferred"/> first (the thread's last lane; -1 for none, then the one
    /// its id maps to); spins (then yields) while all are busy, since commits hold lanes only briefly.
    /// </summary>
    public int Acquire(int preferred)
    {
        if ((uint)preferred < (uint)Count && Interlocked.CompareExchange(ref _taken[preferred * 16], 1, 0) == 0)
        {
            return preferred; // the common case: a thread keeps its lane, so its logs rotate through its own slots
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
                    return lane;
                }
            }

            spins.SpinOnce();
        }
    }

    public void Release(int lane) => Volatile.Write(ref _taken[lane * 16], 0);
}
