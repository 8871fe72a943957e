using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Memory;

namespace Pmem.Pool;

/// <summary>What a redo entry does to its target when applied. Or/And make concurrent bitmap updates commute.</summary>
internal enum RedoOperation : byte
{
    Set = 1,
    Or = 2,
    And = 3,

    /// <summary>Applies nothing: the log counts as committed only if the target range hashes as recorded.</summary>
    Verify = 4,
}

/// <summary>A whole log found in a lane slot (see <see cref="RedoLog.TryRead"/>).</summary>
/// <param name="SlotOffset">Where the slot lies in the pool.</param>
/// <param name="Sequence">The commit's sequence number.</param>
/// <param name="Retired">The watermark R the log carries: every commit at or below it had its apply durable.</param>
/// <param name="Committed">The watermark C the log carries: every commit at or below it had passed its commit point.</param>
/// <param name="EntryCount">Entries the header counts.</param>
/// <param name="Entries">The encoded entries.</param>
internal sealed record SlotLog(long SlotOffset, ulong Sequence, long Retired, long Committed, uint EntryCount, byte[] Entries);

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

    /// <summary>Bytes of entries.</summary>
    public int Length { get; private set; }

    /// <summary>The owning thread's commit state, kept here so a commit finds it without a thread-static read.</summary>
    public CommitPipeline.ThreadCommits? ThreadCommits { get; set; }

    public int Count { get; private set; }

    /// <summary>Content too large to verify by hash was written: drain it before the log is written.</summary>
    public bool DrainBeforeLog { get; private set; }

    public ReadOnlySpan<byte> Entries => _buffer.AsSpan(RedoLog.HeaderSize, Length);

    /// <summary>The header followed by the entries, as the slot will hold them.</summary>
    internal Span<byte> Log => _buffer.AsSpan(0, RedoLog.HeaderSize + Length);

    public void Clear()
    {
        Length = 0;
        Count = 0;
        DrainBeforeLog = false;
    }

    /// <summary>
    /// Ties the commit to content written in place before it (a new object's zeroes, a new string's characters):
    /// those lines are flushed but, like the log, not yet drained, so either could persist without the other. Small
    /// content is hashed into the log (recovery refuses the log unless the content matches); large content is
    /// drained before the log is written, which costs one fence but no hashing.
    /// </summary>
    public void RequireDurable(long offset, ReadOnlySpan<byte> content)
    {
        if (content.Length > VerifyLimit)
        {
            DrainBeforeLog = true;
            return;
        }

        Word(RedoOperation.Verify, offset, (ulong)content.Length);
        var hash = Reserve(8, countsAsEntry: false);
        BinaryPrimitives.WriteUInt64LittleEndian(hash, XxHash3.HashToUInt64(content));
    }

    public const int VerifyLimit = 4096;

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

    public void Or(long offset, ulong mask) => Word(RedoOperation.Or, offset, mask);

    public void And(long offset, ulong mask) => Word(RedoOperation.And, offset, mask);

    private void Word(RedoOperation operation, long offset, ulong operand)
    {
        if ((offset & 7) != 0 && operation != RedoOperation.Verify)
        {
            throw new InvalidOperationException($"Bitwise redo entries need an aligned 8-byte word, not offset {offset}.");
        }

        var span = Reserve(16);
        BinaryPrimitives.WriteUInt64LittleEndian(span, ((ulong)operation << 56) | (ulong)offset);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], operand);
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

/// <summary>
/// A redo log in a lane slot: writing, applying and reading it back (the protocol is <see cref="CommitPipeline"/>).
/// </summary>
/// <remarks>
/// Slot layout: <c>[seq u64][entry bytes u32][entry count u32][checksum u64][watermark R i64][watermark C i64]
/// [external i64]</c>, padded to 64 bytes, then the entries — or, when <c>external</c> is not 0, the entries lie in a
/// heap block at that offset (a log too large for its slot; the block is reserved, never allocated, and released once
/// the log is retired). The checksum covers header and entries wherever they lie.
/// A log is valid only when its checksum matches, so a torn write of the log is simply an uncommitted transaction.
/// </remarks>
internal static class RedoLog
{
    public const int HeaderSize = 64;
    private const int ChecksumOffset = 16;
    private const int RetiredOffset = 24; // the watermark R when the log was written: durable with it, on the same page
    private const int CommittedOffset = 32; // the watermark C: every commit at or below it had passed its commit point
    private const int ExternalOffset = 40; // where the entries lie when they do not fit the slot (0: in the slot)

    /// <summary>
    /// Writes the entries and a checksummed header into a slot, flushed but not drained: the caller's next drain is
    /// the commit point. Content too large to verify by hash is drained first. Entries that do not fit the slot go to
    /// <c>external</c>, a reserved heap block of at least their length (0: they must fit).
    /// </summary>
    /// <remarks>
    /// With <c>seal</c> the log is sealed instead of checksummed: only for a domain where the process's stores become
    /// durable in the order it makes them (a process-crash pool: a killed process loses none of its stores, and x86
    /// makes them visible in program order). The old seal is cleared first, the log copied, and the seal stored last,
    /// so a log with its seal is whole. That saves hashing the log on every commit, about a tenth of a process-crash
    /// transfer.
    /// </remarks>
    public static void WriteLog(PersistenceDomain domain, long slotOffset, int slotSize, RedoBuilder entries, ulong sequence, long retiredThrough, long committedThrough, bool seal, string poolPath, long external = 0)
    {
        if (external == 0 && !FitsSlot(entries.Length, slotSize))
        {
            throw new TransactionTooLargeException(poolPath, HeaderSize + entries.Length, slotSize);
        }

        if (entries.DrainBeforeLog)
        {
            domain.Drain();
        }

        // The header is built in front of the entries in the builder, then header and entries go out in one copy.
        // Their order within the slot does not matter: the checksum covers both, so any torn mix is no log at all.
        var log = entries.Log;
        var data = log[HeaderSize..];
        var header = log[..HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(header, sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)entries.Count);
        BinaryPrimitives.WriteInt64LittleEndian(header[RetiredOffset..], retiredThrough);
        BinaryPrimitives.WriteInt64LittleEndian(header[CommittedOffset..], committedThrough);
        BinaryPrimitives.WriteInt64LittleEndian(header[ExternalOffset..], external);
        if (!seal)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(header[ChecksumOffset..], Checksum(header, data));
            if (external != 0)
            {
                domain.Copy(external, data, PmemCopyFlags.NoDrain);
                domain.Copy(slotOffset, header, PmemCopyFlags.NoDrain);
                return;
            }

            domain.Copy(slotOffset, log, PmemCopyFlags.NoDrain);
            return;
        }

        // The slot's old log is retired, but a seal left on it over half-copied entries would make a whole log.
        BinaryPrimitives.WriteUInt64LittleEndian(header[ChecksumOffset..], 0);
        domain.Write(slotOffset + ChecksumOffset, 0UL);
        if (external != 0)
        {
            domain.Copy(external, data, PmemCopyFlags.NoDrain);
            domain.Copy(slotOffset, header, PmemCopyFlags.NoDrain);
        }
        else
        {
            domain.Copy(slotOffset, log, PmemCopyFlags.NoDrain);
        }

        if (log.Length > 2048)
        {
            // Large copies may use string stores, which x86 orders only among themselves: fence before the seal.
            Interlocked.MemoryBarrier();
        }

        Volatile.Write(ref domain.GetRef<ulong>(slotOffset + ChecksumOffset), Seal(sequence));
        domain.NotifyStore(slotOffset + ChecksumOffset, 8);
    }

    /// <summary>
    /// The seal of a log with this sequence: not 0 (no log), and for a log's checksum to equal it by chance is as
    /// likely as any 64-bit collision. A seal counts only in pools that may hold sealed logs.
    /// </summary>
    internal static ulong Seal(ulong sequence) => (sequence * 0x9E37_79B9_7F4A_7C15UL) ^ 0x5EA1_ED10_6000_0001UL;

    /// <summary>Whether <paramref name="entryBytes"/> of entries fit in a slot with the header.</summary>
    public static bool FitsSlot(long entryBytes, int slotSize) => HeaderSize + entryBytes <= slotSize;

    /// <summary>
    /// Where a slot's entries lie, or false when the header's length or external offset is impossible (a torn or
    /// damaged header: no log).
    /// </summary>
    private static bool TryLocateEntries(PersistenceDomain domain, long slotOffset, int slotSize, ReadOnlySpan<byte> header, out long offset, out int length)
    {
        var bytes = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        var external = BinaryPrimitives.ReadInt64LittleEndian(header[ExternalOffset..]);
        offset = external == 0 ? slotOffset + HeaderSize : external;
        length = (int)Math.Min(bytes, int.MaxValue);
        if (bytes % 8 != 0 || bytes > int.MaxValue)
        {
            return false;
        }

        return external == 0
            ? bytes <= slotSize - HeaderSize
            : external >= PoolLayout.HeaderSize && external % 64 == 0 && external <= domain.Length - bytes;
    }

    /// <summary>Where <see cref="Apply{TFlusher}"/> sends the ranges it stored to.</summary>
    internal interface IRangeFlusher
    {
        void Flush(long offset, long length);
    }

    /// <summary>Flushes nothing: for a process-crash domain, where a store survives the process once made.</summary>
    internal readonly struct NoFlush : IRangeFlusher
    {
        public void Flush(long offset, long length)
        {
        }
    }

    /// <summary>Flushes each range at once.</summary>
    internal readonly struct FlushNow(PersistenceDomain domain) : IRangeFlusher
    {
        public void Flush(long offset, long length) => domain.Flush(offset, length);
    }

    /// <summary>
    /// Hands stored ranges to a flusher lazily, merging those that share or touch a cache line: a line must be flushed
    /// after its last store, not before, and clustered stores (a log's entries, a run's type words) then cost one flush
    /// per line.
    /// </summary>
    internal struct LineMergingFlush<TFlusher>(TFlusher flusher)
        where TFlusher : struct, IRangeFlusher
    {
        private long _start = -1;
        private long _end = -1;

        /// <summary>Records that [offset, offset + length) was just stored.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Stored(long offset, long length)
        {
            var lineStart = offset & ~(long)(PersistenceDomain.CacheLineSize - 1);
            if (_start >= 0 && lineStart <= _end && offset + length >= _start)
            {
                _start = Math.Min(_start, offset);
                _end = Math.Max(_end, offset + length);
                return;
            }

            Finish();
            (_start, _end) = (offset, offset + length);
        }

        /// <summary>Flushes what is still pending; call after the last store.</summary>
        public void Finish()
        {
            if (_start >= 0)
            {
                flusher.Flush(_start, _end - _start);
                _start = -1;
            }
        }
    }

    /// <summary>Applies entries in place and flushes them (without draining).</summary>
    public static void Apply(PersistenceDomain domain, ReadOnlySpan<byte> entries) => Apply(domain, entries, new FlushNow(domain));

    /// <summary>Applies entries in place and hands each stored range to <paramref name="flusher"/> (merged by line).</summary>
    public static void Apply<TFlusher>(PersistenceDomain domain, ReadOnlySpan<byte> entries, TFlusher flusher)
        where TFlusher : struct, IRangeFlusher
    {
        var pending = new LineMergingFlush<TFlusher>(flusher);
        var reader = new RedoReader(entries);
        while (reader.MoveNext(out _))
        {
            var target = reader.Target;
            var length = reader.Length;
            switch (reader.Operation)
            {
                case RedoOperation.Set when length == 8 && (target & 7) == 0:
                    domain.Write(target, BinaryPrimitives.ReadInt64LittleEndian(reader.Data));
                    break;
                case RedoOperation.Set:
                    reader.Data.CopyTo(domain.GetSpan(target, (int)length));
                    domain.NotifyStore(target, length);
                    break;
                case RedoOperation.Or:
                    Interlocked.Or(ref domain.GetRef<ulong>(target), reader.Operand);
                    domain.NotifyStore(target, 8);
                    break;
                case RedoOperation.And:
                    Interlocked.And(ref domain.GetRef<ulong>(target), reader.Operand);
                    domain.NotifyStore(target, 8);
                    break;
                default:
                    continue; // Verify applies nothing
            }

            pending.Stored(target, length);
        }

        pending.Finish();
    }

    /// <summary>
    /// Flushes (without draining) every range the log of commit <paramref name="sequence"/> in a slot applies to:
    /// another thread's drain after this makes that log's in-place apply durable, whatever thread applied it. Only
    /// for a log already applied. Flushes nothing when the slot holds another log (it may be being rewritten), and
    /// stops at anything that does not decode.
    /// </summary>
    public static void FlushTargets(PersistenceDomain domain, long slotOffset, int slotSize, ulong sequence)
    {
        var header = domain.GetSpan(slotOffset, HeaderSize);
        if (BinaryPrimitives.ReadUInt64LittleEndian(header) != sequence || !TryLocateEntries(domain, slotOffset, slotSize, header, out var entries, out var length))
        {
            return;
        }

        var pending = new LineMergingFlush<FlushNow>(new FlushNow(domain));
        var reader = new RedoReader(domain.GetSpan(entries, length));
        while (reader.MoveNext(out _))
        {
            if (reader.Operation != RedoOperation.Verify && reader.Target >= 0 && reader.Target + reader.Length <= domain.Length)
            {
                pending.Stored(reader.Target, reader.Length);
            }
        }

        pending.Finish();
    }

    /// <summary>
    /// Reads a slot's log: null when there is none or a torn one (its checksum, or seal, does not match), else the
    /// whole log with its header's watermarks and its entries, not yet validated: a whole log below the watermark R
    /// may sit in a slot being reused, so only the logs recovery replays are validated (<see cref="Validate"/>). A
    /// sealed log counts as whole only when <paramref name="sealsAllowed"/> (a process-crash pool of a version that
    /// seals logs).
    /// </summary>
    public static SlotLog? TryRead(PersistenceDomain domain, long slotOffset, int slotSize, bool sealsAllowed)
    {
        var header = domain.GetSpan(slotOffset, HeaderSize);
        var stored = BinaryPrimitives.ReadUInt64LittleEndian(header[ChecksumOffset..]);
        if (stored == 0)
        {
            return null;
        }

        if (!TryLocateEntries(domain, slotOffset, slotSize, header, out var entries, out var length))
        {
            return null; // a torn header: the transaction never committed
        }

        var data = domain.GetSpan(entries, length);
        var sealedWhole = sealsAllowed && stored == Seal(BinaryPrimitives.ReadUInt64LittleEndian(header));
        if (!sealedWhole && Checksum(header, data) != stored)
        {
            return null; // torn log (or a sealed one cut short before its seal): never committed
        }

        return new SlotLog(
            slotOffset,
            BinaryPrimitives.ReadUInt64LittleEndian(header),
            BinaryPrimitives.ReadInt64LittleEndian(header[RetiredOffset..]),
            BinaryPrimitives.ReadInt64LittleEndian(header[CommittedOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(header[12..]),
            data.ToArray());
    }

    /// <summary>
    /// Whether the content a log publishes (its Verify entries) hashes as recorded. Meaningful only for a log that
    /// may not have passed its commit point: later writes may change published content once it has.
    /// </summary>
    public static bool ContentIsDurable(PersistenceDomain domain, ReadOnlySpan<byte> entries)
    {
        var reader = new RedoReader(entries);
        while (reader.MoveNext(out _))
        {
            if (reader.Operation == RedoOperation.Verify && XxHash3.HashToUInt64(domain.GetSpan(reader.Target, (int)reader.Length)) != reader.Operand)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Checks that a whole log's entries decode and stay inside the pool, before recovery replays it.</summary>
    /// <exception cref="PoolCorruptedException">The log is whole but its entries are impossible.</exception>
    public static void Validate(SlotLog log, long poolSize, string poolPath)
    {
        var (data, count, laneOffset) = (log.Entries, log.EntryCount, log.SlotOffset);
        uint seen = 0;
        var reader = new RedoReader(data);
        string? error;
        while (reader.MoveNext(out error))
        {
            var (target, length) = (reader.Target, reader.Length);
            if (target < PoolLayout.PoolSizeOffset || target + length > poolSize || (reader.Operation is RedoOperation.Or or RedoOperation.And && (target & 7) != 0))
            {
                throw Corrupt(poolPath, laneOffset, $"an entry targets [{target}, {target + length}) outside the pool's {poolSize} bytes");
            }

            seen++;
        }

        if (error is not null)
        {
            throw Corrupt(poolPath, laneOffset, error);
        }

        if (seen != count)
        {
            throw Corrupt(poolPath, laneOffset, $"the header counts {count} entries but the log holds {seen}");
        }
    }

    private static PoolCorruptedException Corrupt(string poolPath, long laneOffset, string what) =>
        new(poolPath, $"the redo log in the slot at offset {laneOffset} is committed but invalid: {what}");

    /// <summary>XxHash3 of the entries, seeded with the header's sequence, length, count and watermarks (one call, no state).</summary>
    internal static ulong Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data)
    {
        var seed = BinaryPrimitives.ReadUInt64LittleEndian(header) * 0x9E37_79B9_7F4A_7C15UL
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[8..])
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[RetiredOffset..]) * 0xC2B2_AE3D_27D4_EB4FUL
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[CommittedOffset..]) * 0x1656_67B1_9E37_79F9UL
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[ExternalOffset..]) * 0x27D4_EB2F_1656_67C5UL; // 0 in a slot: older logs check as before
        var value = XxHash3.HashToUInt64(data, (long)seed);
        return value == 0 ? 1 : value; // 0 marks an invalid log
    }
}

/// <summary>Walks encoded redo entries (the one decoder Apply, recovery's checks and validation share).</summary>
internal ref struct RedoReader(ReadOnlySpan<byte> entries)
{
    private readonly ReadOnlySpan<byte> _entries = entries;
    private int _position;

    public RedoOperation Operation { get; private set; }

    public long Target { get; private set; }

    /// <summary>Bytes the entry covers: Set's data length, 8 for Or/And, the verified range for Verify.</summary>
    public long Length { get; private set; }

    /// <summary>The mask of Or/And, the expected hash of Verify.</summary>
    public ulong Operand { get; private set; }

    /// <summary>The bytes a Set stores.</summary>
    public ReadOnlySpan<byte> Data { get; private set; }

    /// <summary>Moves to the next entry; false at the end, or with <paramref name="error"/> when the encoding is broken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // Apply runs it per entry on every commit
    public bool MoveNext(out string? error)
    {
        error = null;
        var remaining = _entries.Length - _position;
        if (remaining == 0)
        {
            return false;
        }

        if (remaining < 16)
        {
            error = "an entry is cut short";
            return false;
        }

        var head = BinaryPrimitives.ReadUInt64LittleEndian(_entries[_position..]);
        var operand = BinaryPrimitives.ReadUInt64LittleEndian(_entries[(_position + 8)..]);
        Operation = (RedoOperation)(head >> 56);
        Target = (long)(head & 0x00FF_FFFF_FFFF_FFFF);
        _position += 16;
        remaining -= 16;
        switch (Operation)
        {
            case RedoOperation.Set:
                var padded = (long)((operand + 7) & ~7UL);
                if (operand > int.MaxValue || padded > remaining)
                {
                    error = "an entry's data runs past the log";
                    return false;
                }

                Length = (long)operand;
                Data = _entries.Slice(_position, (int)operand);
                _position += (int)padded;
                return true;
            case RedoOperation.Or or RedoOperation.And:
                Length = 8;
                Operand = operand;
                return true;
            case RedoOperation.Verify:
                if (operand > RedoBuilder.VerifyLimit || remaining < 8)
                {
                    error = "a verify entry is cut short or too long";
                    return false;
                }

                Length = (long)operand;
                Operand = BinaryPrimitives.ReadUInt64LittleEndian(_entries[_position..]);
                _position += 8;
                return true;
            default:
                error = $"unknown operation {(byte)Operation}";
                return false;
        }
    }
}
