// SimulatedDomain (crash images) -- the durable image plus any subset of the lines not yet durable, each line whole or
// (with store tracking) as a prefix of its stores.

namespace Pmem.Memory.Simulation;

public sealed unsafe partial class SimulatedDomain
{
    /// <summary>
    /// A crash image: the durable image plus, for every line not yet durable, independently, none, all or (with
    /// store tracking) a prefix of the stores made to it since it was last durable.
    /// </summary>
    /// <param name="seed">Chooses the subset; the same seed after the same operations gives the same image.</param>
    public byte[] Crash(int seed) => Crash(new Random(seed));

    /// <summary>A crash image whose subset of written-back lines <paramref name="random"/> chooses.</summary>
    public byte[] Crash(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        lock (_lock)
        {
            long length = Length;
            var image = _durable.AsSpan(0, checked((int)length)).ToArray();
            Span<byte> lineContent = stackalloc byte[LineSize];
            foreach (long line in PendingLines())
            {
                ChooseLineContent(line, random, lineContent);
                CopyLineInto(image, line, lineContent);
            }

            return image;
        }
    }

    /// <summary>The crash image in which every dirty line was written back: the live content.</summary>
    public byte[] CrashAllPersisted()
    {
        lock (_lock)
        {
            return new ReadOnlySpan<byte>(BaseAddress, checked((int)Length)).ToArray();
        }
    }

    /// <summary>The crash image in which nothing beyond the durable image was written back.</summary>
    public byte[] CrashNonePersisted()
    {
        lock (_lock)
        {
            return _durable.AsSpan(0, checked((int)Length)).ToArray();
        }
    }

    /// <summary>
    /// The lines (numbers: offset / <see cref="PersistenceDomain.CacheLineSize"/>) that may differ between crash images
    /// now, ascending: stored to, in flight, or written and not yet durable.
    /// </summary>
    public IReadOnlyList<long> PendingLineNumbers()
    {
        lock (_lock)
        {
            return PendingLines();
        }
    }

    /// <summary>
    /// The crash image in which every dirty line was written back except line <paramref name="line"/>, which holds its
    /// durable content: the adversary a random subset rarely is, for a log that became complete while something it
    /// depends on did not.
    /// </summary>
    public byte[] CrashLosingLine(long line)
    {
        lock (_lock)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(line);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(line * LineSize, Length);
            var image = new ReadOnlySpan<byte>(BaseAddress, checked((int)Length)).ToArray();
            CopyLineInto(image, line, DurableLine(line));
            return image;
        }
    }

    /// <summary>Lines that may differ between crash images, ascending: stored to, in flight, or live ≠ durable.</summary>
    private List<long> PendingLines()
    {
        var lines = new List<long>(_lines.Keys);
        long lineCount = RoundUpToLine(Length) / LineSize;
        var live = new ReadOnlySpan<byte>(BaseAddress, checked((int)(lineCount * LineSize)));
        var durable = _durable.AsSpan(0, live.Length);

        // Compare page-sized blocks first (vectorised) and look at single lines only inside blocks that differ.
        const int Block = 4096;
        for (int blockStart = 0; blockStart < live.Length; blockStart += Block)
        {
            int blockLength = Math.Min(Block, live.Length - blockStart);
            if (live.Slice(blockStart, blockLength).SequenceEqual(durable.Slice(blockStart, blockLength)))
            {
                continue;
            }

            for (int lineStart = blockStart; lineStart < blockStart + blockLength; lineStart += LineSize)
            {
                long line = lineStart / LineSize;
                if (!live.Slice(lineStart, LineSize).SequenceEqual(durable.Slice(lineStart, LineSize)) && !_lines.ContainsKey(line))
                {
                    lines.Add(line);
                }
            }
        }

        lines.Sort();
        return lines;
    }

    private void ChooseLineContent(long line, Random random, Span<byte> content)
    {
        DurableLine(line).CopyTo(content);
        _lines.TryGetValue(line, out var state);
        if (state is not null && TracksConsistently(line, state))
        {
            // Any prefix of the stores; the extremes get extra weight so that small lines see both often.
            int count = state.Stores.Count;
            int prefix = random.Next(4) switch
            {
                0 => 0,
                1 => count,
                _ => random.Next(count + 1),
            };
            ApplyStores(state, prefix, content);
            return;
        }

        // Whole line: the durable content, the live content, or what some thread's flush captured.
        var candidates = new List<byte[]> { DurableLine(line).ToArray(), LiveLine(line).ToArray() };
        foreach (var inFlight in _inFlightByThread.Values)
        {
            if (inFlight.TryGetValue(line, out var capture))
            {
                candidates.Add(capture.Content);
            }
        }

        candidates[random.Next(candidates.Count)].CopyTo(content);
    }

    /// <summary>True when the recorded stores applied to the durable line give the live line (no unreported stores).</summary>
    private bool TracksConsistently(long line, LineState state)
    {
        if (!_options.TrackStores || state.Overflowed)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[LineSize];
        DurableLine(line).CopyTo(expected);
        ApplyStores(state, state.Stores.Count, expected);
        return expected.SequenceEqual(LiveLine(line));
    }

    private static void ApplyStores(LineState state, int count, Span<byte> content)
    {
        for (int i = 0; i < count; i++)
        {
            var piece = state.Stores[i];
            ulong value = piece.Value;
            new ReadOnlySpan<byte>(&value, piece.Length).CopyTo(content.Slice(piece.OffsetInLine, piece.Length));
        }
    }

    private void CopyLineInto(byte[] image, long line, ReadOnlySpan<byte> content)
    {
        long start = line * LineSize;
        int count = (int)Math.Min(LineSize, image.Length - start);
        content[..count].CopyTo(image.AsSpan((int)start, count));
    }
}
