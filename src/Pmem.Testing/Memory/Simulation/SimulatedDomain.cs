// SimulatedDomain -- the crash-testing persistence domain. Over 400 lines as one subject that reads best whole: the
// durable image, per-line store tracking, flush/drain per thread and crash-image generation share one set of line
// states and one lock, and every rule about when a line is durable is stated once here.
using System.Runtime.InteropServices;

namespace Pmem.Memory.Simulation;

/// <summary>
/// A persistence domain for crash testing: beside the live memory it keeps, apart, the durable image (what would
/// survive a power failure), and produces crash images on demand.
/// </summary>
/// <remarks>
/// <para>
/// Rules, as on x86: a store becomes durable only when a <see cref="Flush"/> of its line is followed by a
/// <see cref="Drain"/> on the same thread. <see cref="Flush"/> captures the line's content at that moment (in flight);
/// <see cref="Drain"/> makes the calling thread's in-flight lines durable, so stores made after the flush are not
/// covered. Until then any dirty line may also have been written back early, whole or (with store tracking) as any
/// prefix of the stores made to it since it was last durable, each aligned 8-byte word being atomic.
/// </para>
/// <para>
/// Stores made through a span or reference without <see cref="PersistenceDomain.NotifyStore"/> are found by comparing
/// the live memory with the durable image; such a line persists as its old or its new content.
/// </para>
/// <para>The domain may be used from several threads at once; its bookkeeping is under one lock.</para>
/// </remarks>
public sealed unsafe class SimulatedDomain : PersistenceDomain
{
    private const int LineSize = CacheLineSize;
    private const int WordSize = sizeof(long);

    // Alignment slack: the reservation is allocated zeroed (lazily, for large sizes) and the base aligned up by hand.
    private const int AllocationSlack = LineSize;

    [ThreadStatic]
    private static SimulatedDomain? t_runningHooksOf;

    private readonly Lock _lock = new();
    private readonly SimulationOptions _options;
    private readonly long _capacity;
    private void* _allocation;

    // The durable image, one cache-line multiple long (zero past Length, like the live memory).
    private byte[] _durable;

    // Lines with recorded stores or in-flight flushes, by line index.
    private readonly Dictionary<long, LineState> _lines = [];

    // In-flight (flushed, not drained) lines per thread, by managed thread id then line index.
    private readonly Dictionary<int, Dictionary<long, InFlightLine>> _inFlightByThread = [];

    private readonly List<PersistenceIssue> _issues = [];
    private readonly HashSet<(PersistenceIssueKind, long, long)> _issuesSeen = [];

    // Orders flush captures, so a drain never makes a line durable with older content than it already has.
    private long _flushStamp;
    private long _drainCount;

    /// <summary>Creates a zero-filled domain of <paramref name="length"/> bytes whose durable image is all zeros.</summary>
    /// <param name="length">Initial number of addressable bytes.</param>
    /// <param name="options">Capacity, store tracking and checking mode; defaults when null.</param>
    public SimulatedDomain(long length, SimulationOptions? options = null)
        : this(Reserve(length, options), length, options ?? new SimulationOptions())
    {
    }

    private SimulatedDomain(Reservation reservation, long length, SimulationOptions options)
        : base(reservation.Base, length)
    {
        _options = options;
        _allocation = reservation.Allocation;
        _capacity = reservation.Capacity;
        _durable = new byte[RoundUpToLine(length)];
        ObservesStores = options.TrackStores;
    }

    /// <summary>
    /// Creates a domain whose live memory and durable image are both <paramref name="image"/>: how a pool is reopened
    /// from a crash image.
    /// </summary>
    /// <param name="image">The content; the domain's length is its length.</param>
    /// <param name="options">Capacity, store tracking and checking mode; defaults when null.</param>
    public static SimulatedDomain FromImage(ReadOnlySpan<byte> image, SimulationOptions? options = null)
    {
        var domain = new SimulatedDomain(image.Length, options);
        image.CopyTo(new Span<byte>(domain.BaseAddress, image.Length));
        image.CopyTo(domain._durable);
        return domain;
    }

    /// <inheritdoc />
    public override FlushPath FlushPath => FlushPath.Simulated;

    /// <inheritdoc />
    public override bool IsPersistentMemory => true;

    /// <summary>The largest length <see cref="Extend"/> accepts.</summary>
    public long Capacity => _capacity;

    /// <summary>The settings this domain was created with.</summary>
    public SimulationOptions Options => _options;

    /// <summary>Number of <see cref="Drain"/> calls completed (including those made by Persist, Copy, Fill and Move).</summary>
    public long DrainCount => Interlocked.Read(ref _drainCount);

    /// <summary>
    /// Invoked at every drain before it makes anything durable, on the draining thread, with
    /// <see cref="DrainCount"/> still the number of earlier drains: the place to take crash images.
    /// Drains made by the hook itself on this domain do not invoke the hooks again.
    /// </summary>
    public Action<SimulatedDomain>? BeforeDrain { get; set; }

    /// <summary>Invoked at every drain after it has made the calling thread's flushed lines durable.</summary>
    public Action<SimulatedDomain>? AfterDrain { get; set; }

    /// <summary>
    /// Issues collected by checking mode at drains (see <see cref="SimulationOptions.CheckingMode"/>) and by
    /// <see cref="CollectIssues"/>; each distinct issue is recorded once, when first found.
    /// </summary>
    public IReadOnlyList<PersistenceIssue> Issues
    {
        get
        {
            lock (_lock)
            {
                return _issues.ToArray();
            }
        }
    }

    /// <inheritdoc />
    public override void Flush(long offset, long length)
    {
        CheckRange(offset, length);
        if (length == 0)
        {
            return;
        }

        int thread = Environment.CurrentManagedThreadId;
        lock (_lock)
        {
            if (!_inFlightByThread.TryGetValue(thread, out var inFlight))
            {
                inFlight = [];
                _inFlightByThread[thread] = inFlight;
            }

            long stamp = ++_flushStamp;
            for (long line = offset / LineSize, last = (offset + length - 1) / LineSize; line <= last; line++)
            {
                // A clean line's write-back changes nothing: skip it, so persisting a large mostly-clean range stays cheap.
                if (!_lines.ContainsKey(line) && LiveLine(line).SequenceEqual(DurableLine(line)))
                {
                    continue;
                }

                var state = GetOrAddLine(line);
                if (!inFlight.TryGetValue(line, out var capture))
                {
                    capture = new InFlightLine();
                    inFlight[line] = capture;
                    state.InFlightCount++;
                }

                // A second flush of the line by this thread supersedes the first: the line persists in order.
                LiveLine(line).CopyTo(capture.Content);
                capture.StoreSequence = state.TotalStores;
                capture.Stamp = stamp;
            }
        }
    }

    /// <inheritdoc />
    public override void Drain()
    {
        bool runHooks = t_runningHooksOf != this;
        if (runHooks)
        {
            RunHook(BeforeDrain);
        }

        int thread = Environment.CurrentManagedThreadId;
        lock (_lock)
        {
            if (_inFlightByThread.Remove(thread, out var inFlight))
            {
                foreach (var (line, capture) in inFlight)
                {
                    MakeDurable(line, capture);
                }
            }

            _drainCount++;
            if (_options.CheckingMode)
            {
                RecordIssues(FindIssues(), PersistenceIssueKind.NotFlushed);
            }
        }

        if (runHooks)
        {
            RunHook(AfterDrain);
        }
    }

    /// <inheritdoc />
    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        CheckRange(offset, source.Length);
        source.CopyTo(new Span<byte>(BaseAddress + offset, source.Length));
        CompleteStore(offset, source.Length, flags);
    }

    /// <inheritdoc />
    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        CheckRange(offset, length);
        NativeMemory.Fill(BaseAddress + offset, (nuint)length, value);
        CompleteStore(offset, length, flags);
    }

    /// <inheritdoc />
    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        CheckRange(sourceOffset, length);
        CheckRange(destinationOffset, length);
        Buffer.MemoryCopy(BaseAddress + sourceOffset, BaseAddress + destinationOffset, length, length);
        CompleteStore(destinationOffset, length, flags);
    }

    /// <summary>Grows the domain up to <see cref="Capacity"/>; the base address and the data stay, new bytes are zero and durable.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="newLength"/> is below the length or above the capacity.</exception>
    public override void Extend(long newLength)
    {
        lock (_lock)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(newLength, Length);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(newLength, _capacity);
            long lineLength = RoundUpToLine(newLength);
            if (lineLength > _durable.Length)
            {
                Array.Resize(ref _durable, checked((int)lineLength));
            }

            SetLength(newLength);
        }
    }

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
    /// What is not durable now: lines stored but not flushed (or stored again after their flush), and lines flushed
    /// but not drained, as ranges of adjacent lines with the same issue. Does not record them in <see cref="Issues"/>.
    /// </summary>
    public IReadOnlyList<PersistenceIssue> CheckPersistence()
    {
        lock (_lock)
        {
            return FindIssues();
        }
    }

    /// <summary>Runs <see cref="CheckPersistence"/>, records in <see cref="Issues"/> what was not recorded before, and returns that.</summary>
    public IReadOnlyList<PersistenceIssue> CollectIssues()
    {
        lock (_lock)
        {
            return RecordIssues(FindIssues(), kindFilter: null);
        }
    }

    /// <summary>Forgets the collected <see cref="Issues"/>.</summary>
    public void ClearIssues()
    {
        lock (_lock)
        {
            _issues.Clear();
            _issuesSeen.Clear();
        }
    }

    /// <summary>Throws unless everything stored is durable now.</summary>
    /// <exception cref="PersistenceCheckException">Some line is not flushed or not drained; the message names each range.</exception>
    public void AssertAllDurable()
    {
        var issues = CheckPersistence();
        if (issues.Count > 0)
        {
            throw new PersistenceCheckException(issues);
        }
    }

    /// <summary>Throws if checking mode or <see cref="CollectIssues"/> has recorded any issue.</summary>
    /// <exception cref="PersistenceCheckException">The recorded issues.</exception>
    public void AssertNoIssues()
    {
        var issues = Issues;
        if (issues.Count > 0)
        {
            throw new PersistenceCheckException(issues);
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            if (_allocation != null)
            {
                NativeMemory.Free(_allocation);
                _allocation = null;
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Records a store made through the base class's write methods or <see cref="PersistenceDomain.NotifyStore"/> (with store tracking).</summary>
    protected override void OnStore(long offset, long length) => RecordStore(offset, length);

    /// <summary>Releases the native memory if the domain was not disposed.</summary>
    ~SimulatedDomain() => Dispose(false);

    private void RunHook(Action<SimulatedDomain>? hook)
    {
        if (hook is null)
        {
            return;
        }

        var previous = t_runningHooksOf;
        t_runningHooksOf = this;
        try
        {
            hook(this);
        }
        finally
        {
            t_runningHooksOf = previous;
        }
    }

    // Copy, Fill and Move with libpmem's flags: NoFlush = just stored; NoDrain = flushed (non-temporal stores are
    // in flight from the store on, which ends in the same state); otherwise durable on return.
    private void CompleteStore(long offset, long length, PmemCopyFlags flags)
    {
        NotifyStore(offset, length);
        if ((flags & PmemCopyFlags.NoFlush) != 0)
        {
            return;
        }

        Flush(offset, length);
        if ((flags & PmemCopyFlags.NoDrain) == 0)
        {
            Drain();
        }
    }

    private void RecordStore(long offset, long length)
    {
        CheckRange(offset, length);
        if (length == 0)
        {
            return;
        }

        lock (_lock)
        {
            // Each aligned 8-byte word of the store is one atomic piece, in address order: a wider or unaligned store
            // may tear at word boundaries, never inside a word.
            long end = offset + length;
            for (long position = offset; position < end;)
            {
                long wordEnd = Math.Min((position & ~(long)(WordSize - 1)) + WordSize, end);
                long line = position / LineSize;
                var state = GetOrAddLine(line);
                state.TotalStores++;
                if (!state.Overflowed)
                {
                    int pieceLength = (int)(wordEnd - position);
                    ulong value = 0;
                    new ReadOnlySpan<byte>(BaseAddress + position, pieceLength).CopyTo(new Span<byte>(&value, pieceLength));
                    state.Stores.Add(new StorePiece((byte)(position - line * LineSize), (byte)pieceLength, value));
                    if (state.Stores.Count > _options.MaxStoresPerLine)
                    {
                        state.Overflowed = true;
                        state.Stores.Clear();
                    }
                }

                position = wordEnd;
            }
        }
    }

    private void MakeDurable(long line, InFlightLine capture)
    {
        var state = _lines[line];
        state.InFlightCount--;
        if (capture.Stamp > state.DurableStamp)
        {
            capture.Content.CopyTo(_durable.AsSpan(checked((int)(line * LineSize)), LineSize));
            state.DurableStamp = capture.Stamp;
            long covered = capture.StoreSequence - state.DurableStores;
            if (covered > 0)
            {
                if (!state.Overflowed)
                {
                    state.Stores.RemoveRange(0, (int)covered);
                }

                state.DurableStores = capture.StoreSequence;
                if (state.Overflowed && state.DurableStores == state.TotalStores)
                {
                    state.Overflowed = false;
                }
            }
        }

        if (state.InFlightCount == 0 && state.TotalStores == state.DurableStores && !state.Overflowed)
        {
            _lines.Remove(line);
        }
    }

    private LineState GetOrAddLine(long line)
    {
        if (!_lines.TryGetValue(line, out var state))
        {
            state = new LineState();
            _lines[line] = state;
        }

        return state;
    }

    private Span<byte> LiveLine(long line) => new(BaseAddress + line * LineSize, LineSize);

    private ReadOnlySpan<byte> DurableLine(long line) => _durable.AsSpan(checked((int)(line * LineSize)), LineSize);

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

    private List<PersistenceIssue> FindIssues()
    {
        var issues = new List<PersistenceIssue>();
        long length = Length;
        var lines = PendingLines();
        foreach (var inFlight in _inFlightByThread.Values)
        {
            lines.AddRange(inFlight.Keys);
        }

        lines.Sort();
        long previousLine = -1;
        foreach (long line in lines)
        {
            if (line == previousLine)
            {
                continue;
            }

            previousLine = line;
            var kind = Classify(line);
            if (kind is null)
            {
                continue;
            }

            long start = line * LineSize;
            long end = Math.Min(start + LineSize, length);
            if (issues.Count > 0 && issues[^1].Kind == kind && issues[^1].End == start)
            {
                issues[^1] = issues[^1] with { Length = end - issues[^1].Offset };
            }
            else
            {
                issues.Add(new PersistenceIssue(kind.Value, start, end - start, _drainCount));
            }
        }

        return issues;
    }

    private PersistenceIssueKind? Classify(long line)
    {
        var live = LiveLine(line);
        var durable = DurableLine(line);
        bool dirty = !live.SequenceEqual(durable);
        bool liveCaptured = false;
        bool captureDiffers = false;
        foreach (var inFlight in _inFlightByThread.Values)
        {
            if (inFlight.TryGetValue(line, out var capture))
            {
                liveCaptured |= live.SequenceEqual(capture.Content);
                captureDiffers |= !durable.SequenceEqual(capture.Content);
            }
        }

        if (dirty && !liveCaptured)
        {
            return PersistenceIssueKind.NotFlushed;
        }

        // A flush of a line that holds nothing new is harmless without a drain.
        return dirty || captureDiffers ? PersistenceIssueKind.FlushedNotDrained : null;
    }

    private List<PersistenceIssue> RecordIssues(List<PersistenceIssue> found, PersistenceIssueKind? kindFilter)
    {
        var added = new List<PersistenceIssue>();
        foreach (var issue in found)
        {
            if ((kindFilter is null || issue.Kind == kindFilter) && _issuesSeen.Add((issue.Kind, issue.Offset, issue.Length)))
            {
                _issues.Add(issue);
                added.Add(issue);
            }
        }

        return added;
    }

    private static long RoundUpToLine(long value) => (value + LineSize - 1) & ~(long)(LineSize - 1);

    private static Reservation Reserve(long length, SimulationOptions? options)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long capacity = Math.Max(length, options?.Capacity ?? 0);

        // The durable image is a managed array, so the capacity is bounded by its maximum length.
        long lineCapacity = RoundUpToLine(Math.Max(capacity, 1));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lineCapacity, (long)Array.MaxLength & ~(long)(LineSize - 1), nameof(options.Capacity));

        // Zeroed allocation (calloc: lazily zeroed pages for large sizes), base aligned up to a cache line.
        void* allocation = NativeMemory.AllocZeroed((nuint)(lineCapacity + AllocationSlack));
        byte* aligned = (byte*)(((nuint)allocation + (nuint)(LineSize - 1)) & ~(nuint)(LineSize - 1));
        return new Reservation(aligned, allocation, capacity);
    }

    private readonly struct Reservation(byte* baseAddress, void* allocation, long capacity)
    {
        public byte* Base { get; } = baseAddress;
        public void* Allocation { get; } = allocation;
        public long Capacity { get; } = capacity;
    }

    /// <summary>One atomic piece of a store: at most 8 bytes inside one aligned word of a line.</summary>
    private readonly record struct StorePiece(byte OffsetInLine, byte Length, ulong Value);

    /// <summary>A line not durable yet: its stores since it was last durable and the flushes in flight for it.</summary>
    private sealed class LineState
    {
        /// <summary>Stores (pieces) made since the line was last durable, in order; empty when overflowed.</summary>
        public readonly List<StorePiece> Stores = [];

        /// <summary>Pieces ever stored to the line while it was tracked; a flush remembers this to know what it covers.</summary>
        public long TotalStores;

        /// <summary>Pieces already durable (<see cref="TotalStores"/> minus the pending ones).</summary>
        public long DurableStores;

        /// <summary>Too many stores to keep: the line persists whole (old or new content) until a drain catches up.</summary>
        public bool Overflowed;

        /// <summary>Number of threads with a flush of this line in flight.</summary>
        public int InFlightCount;

        /// <summary>Stamp of the flush that last made the line durable.</summary>
        public long DurableStamp;
    }

    /// <summary>A line's content captured by a flush, durable once the flushing thread drains.</summary>
    private sealed class InFlightLine
    {
        public readonly byte[] Content = new byte[LineSize];
        public long StoreSequence;
        public long Stamp;
    }
}
