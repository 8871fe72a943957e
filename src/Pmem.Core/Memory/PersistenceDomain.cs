using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Pmem.Memory;

/// <summary>
/// A range of memory together with the rules by which stores to it become durable: the seam between the engine
/// and every layer above it. Layers above speak offsets into the domain; only this layer holds pointers.
/// </summary>
/// <remarks>
/// <para>
/// The base address never moves for the life of a domain: implementations reserve the address space they may grow
/// into up front, so <see cref="Extend"/> never invalidates an offset another thread is using.
/// </para>
/// <para>
/// <see cref="Flush"/> starts write-back of the cache lines covering a range; <see cref="Drain"/> waits until every
/// flush issued before it is durable (libpmem's <c>pmem_flush</c> / <c>pmem_drain</c>). On a mapping that is not
/// persistent memory, flush records the range and drain syncs the recorded ranges.
/// </para>
/// </remarks>
public abstract unsafe class PersistenceDomain : IDisposable
{
    /// <summary>Size of a cache line, the unit of flushing and of crash atomicity on x86.</summary>
    public const int CacheLineSize = 64;

    private byte* _base;
    private long _length;
    private bool _disposed;
    private IStoreObserver? _storeObserver;
    private InlineFlush _inlineFlush;      // how this domain kind flushes a single store (set by the subclass)
    private InlineFlush _storeFlush;       // the same, or OutOfLine while a store observer is installed

    /// <summary>Creates a domain over memory at <paramref name="baseAddress"/> of <paramref name="length"/> bytes.</summary>
    /// <param name="baseAddress">First byte of the domain; must stay valid until <see cref="Dispose()"/>.</param>
    /// <param name="length">Number of addressable bytes.</param>
    protected PersistenceDomain(byte* baseAddress, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _base = baseAddress;
        _length = length;
    }

    /// <summary>Number of addressable bytes.</summary>
    public long Length => Volatile.Read(ref _length);

    /// <summary>What exceptions call the domain (a mapped file's path; the class name otherwise).</summary>
    protected virtual string Name => GetType().Name;

    /// <summary>Which mechanism makes stores durable in this domain.</summary>
    public abstract FlushPath FlushPath { get; }

    /// <summary>True when flushes reach the persistence domain through cache-line write-back (real or simulated pmem).</summary>
    public virtual bool IsPersistentMemory => FlushPath is FlushPath.Clwb or FlushPath.ClflushOpt or FlushPath.Clflush or FlushPath.NoFlushNeeded;

    /// <summary>The first byte of the domain, for the memory layer's kernels only.</summary>
    protected internal byte* BaseAddress => _base;

    /// <summary>
    /// True when <see cref="OnStore"/> is called for every store made through this class: <see cref="Write"/>, the
    /// single-store writes of the layers above (a property set, a log word) and <see cref="NotifyStore"/>. A derived
    /// domain that models what a crash keeps of a cache line (the stores to it, in order) turns it on in its
    /// constructor. While it is on, single stores are flushed through the virtual <see cref="Flush"/> and
    /// <see cref="Drain"/> rather than the engine's inlined path. Off by default, as in every production domain.
    /// </summary>
    /// <remarks>
    /// This and <see cref="OnStore"/> are the extension point for simulations outside this assembly (the
    /// <c>Pmem.Objects.Testing</c> package's <c>SimulatedDomain</c>); a domain that only implements flush and drain
    /// needs neither.
    /// </remarks>
    protected bool ObservesStores
    {
        get => _storeObserver is DerivedStoreObserver;
        init => StoreObserver = value ? new DerivedStoreObserver(this) : null;
    }

    /// <summary>
    /// Told that bytes [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) were just
    /// stored, after the store and before any flush of it; called only while <see cref="ObservesStores"/> is on.
    /// </summary>
    /// <param name="offset">First byte stored.</param>
    /// <param name="length">Number of bytes stored.</param>
    protected virtual void OnStore(long offset, long length)
    {
    }

    /// <summary>
    /// An observer told of every store made through this type's write methods: a derived domain's
    /// <see cref="OnStore"/> (see <see cref="ObservesStores"/>), or one a test installs on any domain. Null in
    /// production domains.
    /// </summary>
    internal IStoreObserver? StoreObserver
    {
        get => _storeObserver;
        set
        {
            _storeObserver = value;
            _storeFlush = value is null ? _inlineFlush : InlineFlush.OutOfLine;
        }
    }

    /// <summary>
    /// How <see cref="WriteAndFlush"/> and <see cref="WriteAndPersist"/> flush a store inline. Subclasses whose
    /// <see cref="Flush"/> and <see cref="Drain"/> are exactly the engine's (<see cref="LibPmem.Flush"/> and
    /// <see cref="LibPmem.Drain"/>), or nothing and a compiler barrier, say so here; others keep the out-of-line path.
    /// </summary>
    private protected InlineFlush InlineStoreFlush
    {
        init
        {
            _inlineFlush = value;
            _storeFlush = _storeObserver is null ? value : InlineFlush.OutOfLine;
        }
    }

    /// <summary>How a single store is made durable without a virtual call (see <see cref="InlineStoreFlush"/>).</summary>
    private protected enum InlineFlush : byte
    {
        /// <summary>Through the virtual <see cref="Flush"/> and <see cref="Drain"/>, in a call (msync, simulation, observers).</summary>
        OutOfLine,

        /// <summary>The engine's flush and drain: cache-line write-back and SFENCE (or whatever the engine chose).</summary>
        Engine,

        /// <summary>Nothing to flush, and a drain that only orders stores (a process-crash domain).</summary>
        OrderOnly,
    }

    /// <summary>Reads a value at <paramref name="offset"/>.</summary>
    /// <remarks>
    /// A read racing with <see cref="Dispose()"/> on another thread returns what was stored there or throws
    /// <see cref="ObjectDisposedException"/>: never the bytes a derived domain leaves in the memory's place.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value does not lie wholly inside the domain.</exception>
    /// <exception cref="ObjectDisposedException">The domain was disposed (before or during the read).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T Read<T>(long offset) where T : unmanaged
    {
        CheckRange(offset, sizeof(T));
        var value = Unsafe.ReadUnaligned<T>(_base + offset);
        ThrowIfDisposedAfterAccess();
        return value;
    }

    /// <summary>
    /// After bytes were read through a span or reference (or stored and made durable), before they are trusted or the
    /// write is reported done: throws <see cref="ObjectDisposedException"/> if the domain was disposed meanwhile, since
    /// the access may then have reached the memory left in its place. One load and a branch.
    /// </summary>
    /// <remarks>
    /// Why this suffices: <see cref="Dispose(bool)"/> sets the flag before a derived domain replaces the memory, and
    /// an access that reached the replacement was translated after the replacement, so this later load sees the flag
    /// (the read barrier keeps the access before it).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ThrowIfDisposedAfterAccess()
    {
        Volatile.ReadBarrier();
        if (Volatile.Read(ref _disposed))
        {
            ThrowDisposed();
        }
    }

    /// <summary>Stores a value at <paramref name="offset"/> without flushing it.</summary>
    /// <remarks>An aligned store of at most 8 bytes is a single atomic store, so it persists whole or not at all.</remarks>
    /// <exception cref="ArgumentOutOfRangeException">The value does not lie wholly inside the domain.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write<T>(long offset, T value) where T : unmanaged
    {
        Store(offset, value);
        _storeObserver?.OnStore(offset, sizeof(T));
    }

    /// <summary>Stores a value and flushes it, without draining: a batch's write (<c>pmem_flush</c> after the store).</summary>
    /// <remarks>
    /// Inlined with no call after which the offset or value is still needed: a caller's loop then keeps them in
    /// registers instead of spilling them to the stack. Those spills are stores, and stores queue behind the flushed
    /// lines' write-backs; in an 8-write batch they cost about 15% (bench/RESULTS.md, session 4).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteAndFlush<T>(long offset, T value) where T : unmanaged => StoreAndFlush(offset, value, drain: false);

    /// <summary>Stores a value and makes it durable before returning (store, flush, drain), as <see cref="WriteAndFlush"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void WriteAndPersist<T>(long offset, T value) where T : unmanaged => StoreAndFlush(offset, value, drain: true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void StoreAndFlush<T>(long offset, T value, bool drain) where T : unmanaged
    {
        var flush = _storeFlush;
        if (flush == InlineFlush.OutOfLine)
        {
            WriteOutOfLine(offset, value, drain);
            return;
        }

        Store(offset, value);
        if (flush == InlineFlush.Engine)
        {
            LibPmem.Flush(_base + offset, (nuint)sizeof(T));
            if (drain)
            {
                LibPmem.Drain();
            }
        }
        else if (drain)
        {
            Volatile.WriteBarrier(); // the process-crash drain (see ProcessCrashDomain.Drain)
        }
    }

    /// <summary>The store of <see cref="Write"/>, without telling an observer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store<T>(long offset, T value) where T : unmanaged
    {
        CheckRange(offset, sizeof(T));
        if (sizeof(T) == 8 && (offset & 7) == 0)
        {
            // One 8-byte store: the unit x86 persists atomically.
            Volatile.Write(ref Unsafe.AsRef<long>(_base + offset), Unsafe.As<T, long>(ref value));
        }
        else
        {
            Unsafe.WriteUnaligned(_base + offset, value);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteOutOfLine<T>(long offset, T value, bool drain) where T : unmanaged
    {
        Write(offset, value);
        Flush(offset, sizeof(T));
        if (drain)
        {
            Drain();
        }
    }

    /// <summary>Stores a value and makes it durable before returning (store, flush, drain).</summary>
    public virtual void WriteDurable<T>(long offset, T value) where T : unmanaged
    {
        Write(offset, value);
        Persist(offset, sizeof(T));
    }

    /// <summary>A writable view of <paramref name="length"/> bytes at <paramref name="offset"/>.</summary>
    /// <remarks>Stores through the span are not seen by a store observer; call <see cref="NotifyStore"/> after them.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> GetSpan(long offset, int length)
    {
        CheckRange(offset, length);
        return new Span<byte>(_base + offset, length);
    }

    /// <summary>A reference to the value at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref T GetRef<T>(long offset) where T : unmanaged
    {
        CheckRange(offset, sizeof(T));
        return ref Unsafe.AsRef<T>(_base + offset);
    }

    /// <summary>Tells the store observer (if any) that bytes were stored through a span or reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void NotifyStore(long offset, long length) => _storeObserver?.OnStore(offset, length);

    /// <summary>Starts write-back of every cache line overlapping the range (<c>pmem_flush</c>).</summary>
    public abstract void Flush(long offset, long length);

    /// <summary>Waits until every flush this thread issued is durable (<c>pmem_drain</c>).</summary>
    public abstract void Drain();

    /// <summary>Flush then drain (<c>pmem_persist</c>).</summary>
    public void Persist(long offset, long length)
    {
        Flush(offset, length);
        Drain();
    }

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/> and makes it durable as the flags say (<c>pmem_memcpy</c>).</summary>
    public abstract void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None);

    /// <summary>Sets <paramref name="length"/> bytes at <paramref name="offset"/> to <paramref name="value"/> and makes them durable as the flags say (<c>pmem_memset</c>).</summary>
    public abstract void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None);

    /// <summary>Moves <paramref name="length"/> bytes inside the domain (overlap allowed) and makes them durable as the flags say (<c>pmem_memmove</c>).</summary>
    public abstract void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None);

    /// <summary>
    /// A hint that the range is about to be written throughout: a mapped domain maps its pages writable in one call
    /// instead of taking a page fault for each page as it is first written. Changes no byte, never fails, and does
    /// nothing where the platform cannot (or for a domain that is not a mapping).
    /// </summary>
    internal virtual void PrefaultForWrite(long offset, long length)
    {
    }

    /// <summary>
    /// Gives the bytes <paramref name="start"/>..<paramref name="end"/>, already inside the domain, their blocks on
    /// the file system (a file's sparse tail that a crashed growth left), so that a full disk fails here and not as
    /// SIGBUS at a store. Nothing for a domain that is not a file.
    /// </summary>
    /// <exception cref="PmemIOException">The file system has no room for them.</exception>
    internal virtual void EnsureAllocated(long start, long end)
    {
    }

    /// <summary>Grows the domain to <paramref name="newLength"/> bytes; the base address does not move.</summary>
    /// <exception cref="NotSupportedException">This domain cannot grow.</exception>
    public virtual void Extend(long newLength) =>
        throw new NotSupportedException($"{GetType().Name} cannot grow.");

    /// <summary>Called by implementations after they have grown.</summary>
    protected void SetLength(long newLength) => Volatile.Write(ref _length, newLength);

    /// <summary>Throws when [offset, offset + length) is not inside the domain.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void CheckRange(long offset, long length)
    {
        if ((ulong)offset > (ulong)_length || (ulong)length > (ulong)(_length - offset))
        {
            ThrowOutOfRange(offset, length);
        }
    }

    // Not NoInlining: the JIT then sees that it always throws and treats the call as one that does not return, so the
    // callers' values need not survive it (no stack spills on the hot paths).
    [DoesNotReturn]
    private void ThrowOutOfRange(long offset, long length)
    {
        ThrowIfDisposed();
        throw new ArgumentOutOfRangeException(nameof(offset), $"Range [{offset}, {offset}+{length}) is outside the domain of {_length} bytes.");
    }

    /// <summary>
    /// Throws <see cref="ObjectDisposedException"/> once the domain is disposed: for the layers above, before they report
    /// damage they met in bytes an access racing with <see cref="Dispose()"/> read after the memory was closed.
    /// </summary>
    internal void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed))
        {
            ThrowDisposed();
        }
    }

    [DoesNotReturn]
    private void ThrowDisposed() =>
        throw new ObjectDisposedException(Name, "The memory was closed (its pool was disposed): objects of a closed pool cannot be read or written.");

    /// <summary>
    /// Releases the memory; every later access throws <see cref="ObjectDisposedException"/>. The length goes to 0 first,
    /// and the base address stays: an access that passed its range check on another thread just before reaches what a
    /// derived domain leaves there (a mapping leaves scratch memory, see <see cref="PmemMapping.Dispose"/>).
    /// </summary>
    protected virtual void Dispose(bool disposing)
    {
        Volatile.Write(ref _disposed, true);
        Volatile.Write(ref _length, 0);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Forwards stores to the derived domain's <see cref="OnStore"/>.</summary>
    private sealed class DerivedStoreObserver(PersistenceDomain domain) : IStoreObserver
    {
        public void OnStore(long offset, long length) => domain.OnStore(offset, length);
    }
}

/// <summary>Told of stores made through a <see cref="PersistenceDomain"/> (a derived domain's hook, or a test's).</summary>
internal interface IStoreObserver
{
    /// <summary>Bytes [offset, offset + length) were just stored.</summary>
    void OnStore(long offset, long length);
}
