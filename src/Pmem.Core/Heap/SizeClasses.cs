// SizeClasses -- the run block sizes (64 B to 32 KiB) and where a run of each keeps its bitmap, types and blocks.
namespace Pmem.Heap;

/// <summary>The size classes of run blocks: 64 … 1024 bytes by 64, then four classes per doubling up to 32 KiB.</summary>
internal static class SizeClasses
{
    /// <summary>Block size of each class, ascending.</summary>
    public static readonly int[] Sizes = BuildClassSizes();

    /// <summary>Each class's run geometry.</summary>
    public static readonly RunGeometry[] Geometry = Sizes.Select(RunGeometry.For).ToArray();

    /// <summary>The largest run block; anything larger takes whole chunks.</summary>
    public static int MaxRunBlockSize => Sizes[^1];

    public static int Count => Sizes.Length;

    /// <summary>Chooses the size class for <paramref name="size"/> bytes, or -1 when it needs whole chunks.</summary>
    public static int ClassFor(long size)
    {
        if (size > MaxRunBlockSize)
        {
            return -1;
        }

        var index = Array.BinarySearch(Sizes, (int)Math.Max(size, 1));
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

        return [.. sizes]; // 64 … 1024 by 64, then four classes per doubling up to 32 KiB
    }
}

/// <summary>Where a run's bitmap, type indexes and blocks lie for one size class.</summary>
internal readonly record struct RunGeometry(int BlockCount, int BitmapWords, int BitmapOffset, int TypesOffset, int DataOffset)
{
    public static RunGeometry For(int blockSize)
    {
        var count = (PoolHeap.ChunkSize - ChunkHeader.Size) / blockSize;
        while (true)
        {
            var words = (count + 63) / 64;
            var typesOffset = ChunkHeader.Size + words * 8;
            var dataOffset = (typesOffset + count * 4 + 63) & ~63;
            if (dataOffset + (long)count * blockSize <= PoolHeap.ChunkSize)
            {
                return new RunGeometry(count, words, ChunkHeader.Size, typesOffset, dataOffset);
            }

            count--;
        }
    }
}
