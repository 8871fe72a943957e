// SizeClasses -- the run block sizes (64 B to 128 KiB) and where a run of each keeps its bitmap, types and blocks.
using Pmem.Memory;

namespace Pmem.Heap;

/// <summary>
/// The size classes of run blocks: 64 … 1024 bytes by 64, then four classes per doubling up to 32 KiB (the legacy
/// classes, all a pool before format 11 knows), then the mid-size classes: the largest block of which a run holds 7, 6,
/// 5, 4, 3 and 2 (36.5 to 127.9 KiB). A block of a mid-size class takes a sixth to a half of a chunk where it took a whole
/// one before.
/// </summary>
internal static class SizeClasses
{
    /// <summary>Block size of each class, ascending.</summary>
    public static readonly int[] Sizes = BuildClassSizes();

    /// <summary>Each class's run geometry.</summary>
    public static readonly RunGeometry[] Geometry = Sizes.Select(RunGeometry.For).ToArray();

    /// <summary>Every class this release knows (a pool of format 11 or later may use them all).</summary>
    public static int Count => Sizes.Length;

    /// <summary>The classes a pool before format 11 knows: up to <see cref="MaxPreparedBlockSize"/>.</summary>
    public static readonly int LegacyCount = Array.IndexOf(Sizes, MaxPreparedBlockSize) + 1;

    /// <summary>
    /// The largest legacy class, and the largest object a thread prepares blocks for ahead of its allocations (larger
    /// ones are reserved and zeroed each time: a batch of them would hold a chunk's worth per thread).
    /// </summary>
    public const int MaxPreparedBlockSize = 32 * 1024;

    /// <summary>
    /// Chooses the size class for <paramref name="size"/> bytes among the first <paramref name="classCount"/>, or -1
    /// when it needs whole chunks.
    /// </summary>
    public static int ClassFor(long size, int classCount)
    {
        if (size > Sizes[classCount - 1])
        {
            return -1;
        }

        var index = Array.BinarySearch(Sizes, 0, classCount, (int)Math.Max(size, 1));
        return index >= 0 ? index : ~index;
    }

    private static int[] BuildClassSizes()
    {
        var sizes = new List<int>();
        for (var size = 64; size <= 1024; size += 64)
        {
            sizes.Add(size);
        }

        for (var step = 256; step <= 4096; step *= 2)
        {
            for (var i = 1; i <= 4; i++)
            {
                sizes.Add(step * 4 + step * i);
            }
        }

        // Mid-size: for each block count a run can hold, the largest block (whole lines) that still fits that many.
        for (var perRun = 7; perRun >= 2; perRun--)
        {
            sizes.Add(RunGeometry.LargestBlockFor(perRun));
        }

        return [.. sizes];
    }
}

/// <summary>
/// Where a run's bitmap, type indexes and blocks lie for one size class (offsets from the chunk): the header line, the
/// allocation bitmap (one bit per block, in 8-byte words), a u32 type index per block, then the blocks, each starting
/// on a cache line.
/// </summary>
internal readonly record struct RunGeometry(int BlockCount, int BitmapWords, int BitmapOffset, int TypesOffset, int DataOffset, int BlockLines)
{
    /// <summary>ceil(2^32 / <see cref="BlockLines"/>): a slot from a line count by a multiplication, not a 64-bit division.</summary>
    private readonly ulong _lineReciprocal = ((1UL << 32) + (ulong)BlockLines - 1) / (ulong)BlockLines;

    /// <summary>Blocks per bitmap word (a u64, changed only by atomic Or/And).</summary>
    public const int BitsPerWord = 64;

    private const int WordShift = 6; // log2(BitsPerWord)

    /// <summary>The bitmap word holding <paramref name="slot"/>'s bit.</summary>
    public static int WordOf(int slot) => slot >> WordShift;

    /// <summary><paramref name="slot"/>'s bit within its bitmap word.</summary>
    public static ulong BitOf(int slot) => 1UL << (slot & (BitsPerWord - 1));

    /// <summary>Offset from the chunk of the bitmap word holding <paramref name="slot"/>'s bit.</summary>
    public long WordOffset(int slot) => BitmapOffset + WordOf(slot) * 8L;

    /// <summary>Offset from the chunk of bitmap word <paramref name="word"/>.</summary>
    public long WordOffsetAt(int word) => BitmapOffset + word * 8L;

    /// <summary>Offset from the chunk of <paramref name="slot"/>'s type index (its allocation header).</summary>
    public long TypeOffset(int slot) => TypesOffset + slot * 4L;

    /// <summary>
    /// The slot of the block starting <paramref name="relative"/> bytes (a multiple of a line, below the chunk size) after
    /// the data offset; false when no block starts there.
    /// </summary>
    public bool TrySlotAt(int relative, out int slot)
    {
        // Exact: for fewer than 2^12 lines the reciprocal's rounding adds under 2^-20 to lines / BlockLines, less than the
        // 1 / BlockLines that separates its fraction from the next whole number.
        var lines = (uint)relative / PersistenceDomain.CacheLineSize;
        slot = (int)((lines * _lineReciprocal) >> 32);
        return slot * (uint)BlockLines == lines && slot < BlockCount;
    }

    /// <summary>The largest block size (whole lines) of which a run holds <paramref name="count"/>.</summary>
    public static int LargestBlockFor(int count)
    {
        const int line = PersistenceDomain.CacheLineSize;
        var words = (count + BitsPerWord - 1) / BitsPerWord;
        var dataOffset = (ChunkHeader.Size + words * 8 + count * 4 + line - 1) & ~(line - 1);
        return (PoolHeap.ChunkSize - dataOffset) / count / line * line;
    }

    public static RunGeometry For(int blockSize)
    {
        const int line = PersistenceDomain.CacheLineSize;
        var count = (PoolHeap.ChunkSize - ChunkHeader.Size) / blockSize;
        while (true)
        {
            var words = (count + BitsPerWord - 1) / BitsPerWord;
            var typesOffset = ChunkHeader.Size + words * 8;
            var dataOffset = (typesOffset + count * 4 + line - 1) & ~(line - 1);
            if (dataOffset + (long)count * blockSize <= PoolHeap.ChunkSize)
            {
                return new RunGeometry(count, words, ChunkHeader.Size, typesOffset, dataOffset, blockSize / line);
            }

            count--;
        }
    }
}
