// RunState -- the volatile free list of one run: one bit per block, rebuilt from the durable bitmap.
using System.Numerics;
using Pmem.Memory;

namespace Pmem.Heap;

/// <summary>
/// Volatile free slots of one run, one bit per block. Built from the durable bitmap only when no commit can run:
/// at open after the replay, or for a run just carved (all free). A list built while commits run would count a
/// block whose free is applied but not yet released as free; handed out, then released, it would have two owners.
/// Returning a slot is idempotent all the same, so a release can never count a free slot twice.
/// </summary>
internal sealed class RunState(int chunk)
{
    private ulong[]? _free;
    private int _freeCount;
    private int _cursor; // no free slot below word _cursor

    public int Chunk { get; } = chunk;

    /// <summary>The newest commit whose log may mention a block returned here this session (0: none).</summary>
    public long FreedThrough { get; set; }

    public void LoadFreeList(PersistenceDomain domain, long chunkOffset, RunGeometry geometry)
    {
        _freeCount = 0;
        var free = new ulong[geometry.BitmapWords];
        for (var w = 0; w < free.Length; w++)
        {
            var valid = Math.Min(RunGeometry.BitsPerWord, geometry.BlockCount - w * RunGeometry.BitsPerWord);
            var mask = valid == RunGeometry.BitsPerWord ? ulong.MaxValue : (1UL << valid) - 1;
            free[w] = ~domain.Read<ulong>(chunkOffset + geometry.WordOffsetAt(w)) & mask;
            _freeCount += BitOperations.PopCount(free[w]);
        }

        _free = free;
    }

    public bool TryTake(out int slot)
    {
        var free = _free!;
        for (var w = _cursor; w < free.Length && _freeCount > 0; w++)
        {
            if (free[w] != 0)
            {
                var bit = BitOperations.TrailingZeroCount(free[w]);
                free[w] &= free[w] - 1;
                _freeCount--;
                _cursor = w;
                slot = w * RunGeometry.BitsPerWord + bit;
                return true;
            }
        }

        _cursor = free.Length;
        slot = -1;
        return false;
    }

    public void Return(int slot)
    {
        var w = RunGeometry.WordOf(slot);
        var mask = RunGeometry.BitOf(slot);
        if ((_free![w] & mask) == 0)
        {
            _free[w] |= mask;
            _freeCount++;
            _cursor = Math.Min(_cursor, w);
        }
    }

    /// <summary>For a run that left the lists: every block is allocated or reserved.</summary>
    public void StartEmpty(int bitmapWords) => _free = new ulong[bitmapWords];

    /// <summary>Every block is in the free list: none allocated, none reserved.</summary>
    public bool IsEmpty(int blockCount) => _free is not null && _freeCount == blockCount;
}
