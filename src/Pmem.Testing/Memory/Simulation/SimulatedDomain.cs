// SimulatedDomain -- the crash-testing persistence domain: the live memory, the durable image beside it, and the rules
// by which stores, flushes and drains move lines from one to the other. Crash images (SimulatedDomain.CrashImages.cs),
// persistence checks (SimulatedDomain.Checks.cs) and the per-line state (SimulatedDomain.LineState.cs) are partials of
// it: they share one set of line states and one lock.
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
public sealed unsafe partial class SimulatedDomain : PersistenceDomain
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
    public override bool IsPersistentMemory => _options.PersistentMemory;

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
}
