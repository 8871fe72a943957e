// RedoBuilder -- redo entries collected in ordinary memory before a commit writes them to a lane slot.
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pmem.Log;

/// <summary>
/// Collects redo entries in ordinary memory before they are written to a lane. Reused per thread, and used only by
/// its thread (it carries that thread's commit state).
/// </summary>
/// <remarks>
/// Entry encoding (8-byte words): <c>[op &lt;&lt; 56 | target offset] [length or mask] [data, padded to 8]</c>.
/// The buffer keeps <see cref="RedoLog.HeaderSize"/> bytes in front of the entries, where
/// <see cref="RedoLog.WriteLog"/> builds the log header, so header and entries reach the slot in one copy.
/// </remarks>
internal sealed class RedoBuilder
{
    private byte[] _buffer = new byte[1024]; // [header][entries]; the header's padding stays zero
    private int _lastWordEnd = -1;           // where the last Or/And entry ends (merged into when it is the last entry)
    private int _adjacentStart = -1;         // where the last SetAdjacent entry starts, and ends (extended when it is the last entry)
    private int _adjacentEnd = -1;
    private int _loggedContent;              // bytes of published content copied into a write-ahead record so far

    /// <summary>Bytes of entries.</summary>
    public int Length { get; private set; }

    /// <summary>A builder for the thread whose commit state is <paramref name="threadCommits"/>.</summary>
    public RedoBuilder(ThreadCommits threadCommits) => ThreadCommits = threadCommits;

    /// <summary>The owning thread's commit state, kept here so a commit finds it without a thread-static read.</summary>
    public ThreadCommits ThreadCommits { get; }

    public int Count { get; private set; }

    /// <summary>Content too large to verify by hash was written: drain it before the log is written.</summary>
    public bool DrainBeforeLog { get; private set; }

    public ReadOnlySpan<byte> Entries => _buffer.AsSpan(RedoLog.HeaderSize, Length);

    /// <summary>The header followed by the entries, as the slot will hold them.</summary>
    internal Span<byte> Log => _buffer.AsSpan(0, RedoLog.HeaderSize + Length);

    /// <summary>Bytes the builder holds for the header and entries (for tests).</summary>
    internal int Capacity => _buffer.Length;

    /// <summary>Empties the builder; one grown past 1 MiB by a large commit gives that memory back.</summary>
    public void Clear()
    {
        if (_buffer.Length > KeptCapacity)
        {
            _buffer = new byte[1024]; // a thread's builder lives as long as the thread: a bulk load's log need not
        }

        Length = 0;
        Count = 0;
        DrainBeforeLog = false;
        _loggedContent = 0;
        _lastWordEnd = -1;
        _adjacentStart = _adjacentEnd = -1;
    }

    /// <summary>
    /// Ties the commit to content written in place before it (a new object's zeroes, a new string's characters):
    /// those lines are flushed but, like the log, not yet drained, so either could persist without the other. As the
    /// pipeline's rule says (<see cref="CommitPipeline.PublishedContentRule"/>): small content is hashed into the log
    /// (recovery refuses the log unless the content matches) and other content drained before the log is written
    /// (one more fence, no hashing); or, in a write-ahead log, the content is copied into the log itself, up to
    /// <paramref name="loggedBudget"/> bytes a record (<see cref="CommitPipeline.LoggedContentBudget"/>), and drained beyond it.
    /// </summary>
    public void RequireDurable(long offset, ReadOnlySpan<byte> content, PublishedContent rule, int loggedBudget)
    {
        if (rule == PublishedContent.Log)
        {
            if (content.Length <= loggedBudget - _loggedContent)
            {
                _loggedContent += content.Length;
                SetAdjacent(offset, content); // the record carries it: the pool file's pages wait for a checkpoint
                return;
            }

            // Too much to carry (a large table, list or string; a bulk load): synced in the pool file before the record
            // is written, so the record stays small whatever the transaction makes. No record that wrote into these
            // blocks before is replayable by then (a block is reserved only once a checkpoint covers its free).
            DrainBeforeLog = true;
            return;
        }

        if (content.Length > VerifyLimit || rule == PublishedContent.Drain)
        {
            DrainBeforeLog = true;
            return;
        }

        Word(RedoOperation.Verify, offset, (ulong)content.Length);
        var hash = Reserve(8, countsAsEntry: false);
        BinaryPrimitives.WriteUInt64LittleEndian(hash, XxHash3.HashToUInt64(content));
    }

    public const int VerifyLimit = 4096;

    private const int KeptCapacity = 1 << 20;

    /// <summary>
    /// Published content a write-ahead record carries at most; the rest is synced in place before the record. Copying
    /// into the log saves a sync but writes the bytes twice (log, then checkpoint): past a megabyte the extra write
    /// outweighs the sync, and carrying it all would let the record's limit cap what one transaction can make.
    /// </summary>
    public const int MaxLoggedContent = 1 << 20;

    /// <summary>Sets one 8-byte value (the common entry: a field in a transaction), without span copies.</summary>
    public void SetWord(long offset, long value)
    {
        ref var entry = ref Reserve(24)[0];
        Unsafe.WriteUnaligned(ref entry, ((ulong)RedoOperation.Set << 56) | (ulong)offset);
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref entry, 8), 8UL);
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref entry, 16), value);
    }

    public void Set(long offset, ReadOnlySpan<byte> data)
    {
        var padded = (data.Length + 7) & ~7;
        var span = Reserve(16 + padded);
        BinaryPrimitives.WriteUInt64LittleEndian(span, ((ulong)RedoOperation.Set << 56) | (ulong)offset);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], (ulong)data.Length);
        data.CopyTo(span[16..]);
        span[(16 + data.Length)..].Clear();
    }

    public void Set<T>(long offset, T value) where T : unmanaged =>
        Set(offset, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <summary>
    /// Sets bytes of a block nobody reads before the commit publishes it (a new block's content or allocation header),
    /// extending the entry just before when that one was set here too and ends where these begin: a batch of adjacent
    /// new blocks costs one entry, not one each. Not for words other threads may read meanwhile: an extended entry is
    /// applied by one copy, not by 8-byte stores.
    /// </summary>
    public void SetAdjacent(long offset, ReadOnlySpan<byte> data)
    {
        if (_adjacentEnd == Length && Length > 0)
        {
            var head = _buffer.AsSpan(RedoLog.HeaderSize + _adjacentStart, 16);
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(head[8..]);
            if ((long)(BinaryPrimitives.ReadUInt64LittleEndian(head) & TargetMask) + length == offset)
            {
                var (padded, extended) = ((length + 7) & ~7, length + data.Length);
                var growth = ((extended + 7) & ~7) - padded;
                Reserve(growth, countsAsEntry: false); // may move the buffer
                var entry = _buffer.AsSpan(RedoLog.HeaderSize + _adjacentStart, 16 + padded + growth);
                BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], (ulong)extended);
                data.CopyTo(entry[(16 + length)..]); // over the old padding, which was zero
                entry[(16 + extended)..].Clear();
                _adjacentEnd = Length;
                return;
            }
        }

        _adjacentStart = Length;
        Set(offset, data);
        _adjacentEnd = Length;
    }

    /// <summary><see cref="SetAdjacent(long, ReadOnlySpan{byte})"/> of one value.</summary>
    public void SetAdjacent<T>(long offset, T value) where T : unmanaged =>
        SetAdjacent(offset, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <summary>The target offset's bits of an entry's first word (the operation takes the top byte).</summary>
    internal const ulong TargetMask = 0x00FF_FFFF_FFFF_FFFF;

    public void Or(long offset, ulong mask) => Word(RedoOperation.Or, offset, mask);

    public void And(long offset, ulong mask) => Word(RedoOperation.And, offset, mask);

    private void Word(RedoOperation operation, long offset, ulong operand)
    {
        if ((offset & 7) != 0 && operation != RedoOperation.Verify)
        {
            throw new InvalidOperationException($"Bitwise redo entries need an aligned 8-byte word, not offset {offset}.");
        }

        var head = ((ulong)operation << 56) | (ulong)offset;
        if (operation != RedoOperation.Verify && _lastWordEnd == Length && Length > 0)
        {
            // The same operation on the same word as the entry just before: one entry does both (bits of blocks
            // allocated or freed together), and nothing between them can observe the difference.
            var last = _buffer.AsSpan(RedoLog.HeaderSize + Length - 16, 16);
            if (BinaryPrimitives.ReadUInt64LittleEndian(last) == head)
            {
                var mask = BinaryPrimitives.ReadUInt64LittleEndian(last[8..]);
                BinaryPrimitives.WriteUInt64LittleEndian(last[8..], operation == RedoOperation.Or ? mask | operand : mask & operand);
                return;
            }
        }

        var span = Reserve(16);
        BinaryPrimitives.WriteUInt64LittleEndian(span, head);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], operand);
        _lastWordEnd = operation == RedoOperation.Verify ? -1 : Length;
    }

    private Span<byte> Reserve(int bytes, bool countsAsEntry = true)
    {
        var start = RedoLog.HeaderSize + Length;
        if (start + bytes > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, start + bytes));
        }

        var span = _buffer.AsSpan(start, bytes);
        Length += bytes;
        Count += countsAsEntry ? 1 : 0;
        return span;
    }
}

/// <summary>How a commit makes content it publishes but does not otherwise log durable (see <see cref="RedoBuilder.RequireDurable"/>).</summary>
internal enum PublishedContent
{
    /// <summary>Drained before the log is written.</summary>
    Drain,

    /// <summary>Hashed into the log when small (a Verify entry), else drained.</summary>
    Hash,

    /// <summary>Copied into the log (a write-ahead log's records are replayed in order, content first).</summary>
    Log,
}
