namespace Pmem.Memory;

/// <summary>
/// A set of page-aligned byte ranges kept sorted and merged, so that the ranges flushed by a batch or a transaction
/// are synced with as few msync calls as possible: overlapping and touching ranges become one.
/// </summary>
/// <remarks>Not thread-safe; <see cref="MsyncDomain"/> guards it with its lock.</remarks>
internal sealed class DirtyRangeSet
{
    private readonly long _pageSize;
    private readonly List<(long Start, long End)> _ranges = [];

    public DirtyRangeSet(long pageSize)
    {
        if (pageSize <= 0 || (pageSize & (pageSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "The page size must be a power of two.");
        }

        _pageSize = pageSize;
    }

    /// <summary>The merged ranges, sorted, each [Start, End) page-aligned.</summary>
    public IReadOnlyList<(long Start, long End)> Ranges => _ranges;

    public int Count => _ranges.Count;

    /// <summary>Adds the pages covering [offset, offset + length); a zero length adds nothing.</summary>
    public void Add(long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }

        long start = offset & ~(_pageSize - 1);
        long end = (offset + length + _pageSize - 1) & ~(_pageSize - 1);

        // First range whose end reaches the new start (touching counts): everything from there that starts at or
        // before the new end merges into one.
        int first = LowerBound(start);
        int last = first;
        while (last < _ranges.Count && _ranges[last].Start <= end)
        {
            start = Math.Min(start, _ranges[last].Start);
            end = Math.Max(end, _ranges[last].End);
            last++;
        }

        if (last > first)
        {
            _ranges.RemoveRange(first, last - first);
        }

        _ranges.Insert(first, (start, end));
    }

    /// <summary>Returns the span from the first range's start to the last one's end (empty when none) and empties the set.</summary>
    public (long Start, long End) TakeSpan()
    {
        if (_ranges.Count == 0)
        {
            return (0, 0);
        }

        var span = (_ranges[0].Start, _ranges[^1].End);
        _ranges.Clear();
        return span;
    }

    /// <summary>Index of the first range with End &gt;= <paramref name="start"/>.</summary>
    private int LowerBound(long start)
    {
        int low = 0, high = _ranges.Count;
        while (low < high)
        {
            int middle = (low + high) >>> 1;
            if (_ranges[middle].End < start)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        return low;
    }
}
