namespace Pmem.Memory;

/// <summary>
/// The page-aligned span covering every range flushed since the last sync: what <see cref="MsyncDomain"/> syncs with
/// one msync. A span and not a list of ranges, because one call over the span costs what one call per range would
/// (Linux writes back only the dirty pages inside it, then flushes the device once); see <see cref="MsyncDomain"/>.
/// </summary>
/// <remarks>Not thread-safe; <see cref="MsyncDomain"/> guards it with its lock.</remarks>
internal sealed class DirtySpan
{
    private readonly long _pageSize;
    private long _start;
    private long _end; // _start == _end: empty

    public DirtySpan(long pageSize)
    {
        if (pageSize <= 0 || (pageSize & (pageSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "The page size must be a power of two.");
        }

        _pageSize = pageSize;
    }

    /// <summary>True when nothing was added since the span was last taken.</summary>
    public bool IsEmpty => _start == _end;

    /// <summary>Widens the span to cover the pages of [offset, offset + length); a zero length adds nothing.</summary>
    public void Add(long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }

        var start = offset & ~(_pageSize - 1);
        var end = (offset + length + _pageSize - 1) & ~(_pageSize - 1);
        if (IsEmpty)
        {
            (_start, _end) = (start, end);
        }
        else
        {
            (_start, _end) = (Math.Min(_start, start), Math.Max(_end, end));
        }
    }

    /// <summary>Returns the span, [Start, End) page-aligned ((0, 0) when empty), and empties it.</summary>
    public (long Start, long End) Take()
    {
        var span = IsEmpty ? (0L, 0L) : (_start, _end);
        (_start, _end) = (0, 0);
        return span;
    }
}
