// RedoLog -- the on-media log slot: write, seal, read, validate.
using System.Buffers.Binary;
using System.IO.Hashing;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Log;

/// <summary>A whole log found in a lane slot (see <see cref="RedoLog.TryRead"/>).</summary>
/// <param name="SlotOffset">Where the slot lies in the pool.</param>
/// <param name="Sequence">The commit's sequence number.</param>
/// <param name="Retired">The watermark R the log carries: every commit at or below it had its apply durable.</param>
/// <param name="Committed">The watermark C the log carries: every commit at or below it had passed its commit point.</param>
/// <param name="EntryCount">Entries the header counts.</param>
/// <param name="Entries">The encoded entries.</param>
/// <param name="Previous">The previous commit of the same thread (0: none known): it had passed its commit point.</param>
internal sealed record SlotLog(long SlotOffset, ulong Sequence, long Retired, long Committed, uint EntryCount, byte[] Entries, long Previous);

/// <summary>
/// A redo log in a lane slot: writing, sealing, reading and validating it (applying it is <see cref="RedoApply"/>, the
/// protocol <see cref="CommitPipeline"/>).
/// </summary>
/// <remarks>
/// Slot layout: <c>[seq u64][entry bytes u32][entry count u32][checksum u64][watermark R i64][watermark C i64]
/// [external i64][previous i64]</c>, padded to 64 bytes, then the entries — or, when <c>external</c> is not 0, the entries lie in a
/// heap block at that offset (a log too large for its slot; the block is reserved, never allocated, and released once
/// the log is retired). The checksum covers header and entries wherever they lie. The offsets below are the one
/// definition of that header.
/// A log is valid only when its checksum matches, so a torn write of the log is simply an uncommitted transaction.
/// </remarks>
internal static class RedoLog
{
    /// <summary>Bytes of the slot header, in front of the entries.</summary>
    public const int HeaderSize = 64;
    public const int SequenceOffset = 0;
    public const int EntryBytesOffset = 8;
    public const int EntryCountOffset = 12;
    public const int ChecksumOffset = 16; // or the seal (see WriteLog); 0 marks an empty slot
    public const int RetiredOffset = 24; // the watermark R when the log was written: durable with it, on the same page
    public const int CommittedOffset = 32; // the watermark C: every commit at or below it had passed its commit point
    public const int ExternalOffset = 40; // where the entries lie when they do not fit the slot (0: in the slot)
    public const int PreviousOffset = 48; // the same thread's previous commit, which had returned (0: none known)

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
    public static void WriteLog(PersistenceDomain domain, long slotOffset, int slotSize, RedoBuilder entries, ulong sequence, long retiredThrough, long committedThrough, bool seal, string poolPath, long external = 0, long previous = 0)
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
        WriteHeader(log, entries.Count, sequence, retiredThrough, committedThrough, external, previous, checksum: !seal);
        if (!seal)
        {
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
    /// Fills in the header in front of <paramref name="log"/>'s entries (the rest of the span), with its checksum when
    /// <paramref name="checksum"/> (else 0, for a seal stored later).
    /// </summary>
    public static void WriteHeader(Span<byte> log, int count, ulong sequence, long retiredThrough, long committedThrough, long external = 0, long previous = 0, bool checksum = true)
    {
        var header = log[..HeaderSize];
        var data = log[HeaderSize..];
        BinaryPrimitives.WriteUInt64LittleEndian(header[SequenceOffset..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(header[EntryBytesOffset..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[EntryCountOffset..], (uint)count);
        BinaryPrimitives.WriteInt64LittleEndian(header[RetiredOffset..], retiredThrough);
        BinaryPrimitives.WriteInt64LittleEndian(header[CommittedOffset..], committedThrough);
        BinaryPrimitives.WriteInt64LittleEndian(header[ExternalOffset..], external);
        BinaryPrimitives.WriteInt64LittleEndian(header[PreviousOffset..], previous);
        BinaryPrimitives.WriteUInt64LittleEndian(header[ChecksumOffset..], checksum ? Checksum(header, data) : 0);
    }

    /// <summary>
    /// Reads a log kept outside the slots (a write-ahead log's record: header and entries in one span, entries in
    /// place): null when it is not one whole log.
    /// </summary>
    public static SlotLog? TryParse(ReadOnlySpan<byte> log, long position)
    {
        if (log.Length < HeaderSize)
        {
            return null;
        }

        var header = log[..HeaderSize];
        var data = log[HeaderSize..];
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[EntryBytesOffset..]) != data.Length || data.Length % 8 != 0
            || BinaryPrimitives.ReadInt64LittleEndian(header[ExternalOffset..]) != 0
            || BinaryPrimitives.ReadUInt64LittleEndian(header[ChecksumOffset..]) != Checksum(header, data))
        {
            return null;
        }

        return FromHeader(position, header, data);
    }

    /// <summary>A whole log's header fields and a copy of its entries.</summary>
    private static SlotLog FromHeader(long position, ReadOnlySpan<byte> header, ReadOnlySpan<byte> data) => new(
        position,
        BinaryPrimitives.ReadUInt64LittleEndian(header[SequenceOffset..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[RetiredOffset..]),
        BinaryPrimitives.ReadInt64LittleEndian(header[CommittedOffset..]),
        BinaryPrimitives.ReadUInt32LittleEndian(header[EntryCountOffset..]),
        data.ToArray(),
        BinaryPrimitives.ReadInt64LittleEndian(header[PreviousOffset..]));

    /// <summary>
    /// Empties a slot: its log is no longer whole, so recovery never reads it again (one aligned 8-byte store, flushed,
    /// not drained). A process-crash pool of a version that clears applied logs does this once a log is applied.
    /// </summary>
    public static void Clear(PersistenceDomain domain, long slotOffset)
    {
        domain.Write(slotOffset + ChecksumOffset, 0UL);
        domain.Flush(slotOffset + ChecksumOffset, 8);
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
    public static bool TryLocateEntries(PersistenceDomain domain, long slotOffset, int slotSize, ReadOnlySpan<byte> header, out long offset, out int length)
    {
        var bytes = BinaryPrimitives.ReadUInt32LittleEndian(header[EntryBytesOffset..]);
        var external = BinaryPrimitives.ReadInt64LittleEndian(header[ExternalOffset..]);
        offset = external == 0 ? slotOffset + HeaderSize : external;
        length = (int)Math.Min(bytes, int.MaxValue);
        if (bytes % 8 != 0 || bytes > int.MaxValue)
        {
            return false;
        }

        return external == 0
            ? bytes <= slotSize - HeaderSize
            : external > 0 && external % 64 == 0 && external <= domain.Length - bytes;
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
        var sealedWhole = sealsAllowed && stored == Seal(BinaryPrimitives.ReadUInt64LittleEndian(header[SequenceOffset..]));
        if (!sealedWhole && Checksum(header, data) != stored)
        {
            return null; // torn log (or a sealed one cut short before its seal): never committed
        }

        return FromHeader(slotOffset, header, data);
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
            if (reader.Operation == RedoOperation.Verify &&
                (reader.Target < 0 || reader.Target + reader.Length > domain.Length || XxHash3.HashToUInt64(domain.GetSpan(reader.Target, (int)reader.Length)) != reader.Operand))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Checks that a whole log's entries decode and stay inside [<paramref name="lowestTarget"/>,
    /// <paramref name="poolSize"/>) (the pool's mutable words and everything after them), before recovery replays it.
    /// </summary>
    /// <exception cref="PoolCorruptedException">The log is whole but its entries are impossible.</exception>
    /// <param name="log">The log.</param>
    /// <param name="lowestTarget">The first byte entries may target, but for <paramref name="alsoAllowed"/>.</param>
    /// <param name="poolSize">The end of the pool.</param>
    /// <param name="poolPath">Names the pool in exceptions.</param>
    /// <param name="alsoAllowed">Ranges below <paramref name="lowestTarget"/> an entry may cover whole (the header words a format upgrade logs).</param>
    /// <param name="where">Where the log lies, for exceptions (default: its slot's offset).</param>
    public static void Validate(SlotLog log, long lowestTarget, long poolSize, string poolPath, ReadOnlySpan<(long Offset, int Length)> alsoAllowed = default, string? where = null)
    {
        where ??= $"in the slot at offset {log.SlotOffset}";
        var (data, count) = (log.Entries, log.EntryCount);
        uint seen = 0;
        var reader = new RedoReader(data);
        string? error;
        while (reader.MoveNext(out error))
        {
            var (target, length) = (reader.Target, reader.Length);
            if ((target < lowestTarget && !IsAllowed(target, length, alsoAllowed)) || target + length > poolSize || (reader.Operation is RedoOperation.Or or RedoOperation.And && (target & 7) != 0))
            {
                throw Corrupt(poolPath, where, $"an entry targets [{target}, {target + length}) outside the pool's {poolSize} bytes");
            }

            seen++;
        }

        if (error is not null)
        {
            throw Corrupt(poolPath, where, error);
        }

        if (seen != count)
        {
            throw Corrupt(poolPath, where, $"the header counts {count} entries but the log holds {seen}");
        }
    }

    private static bool IsAllowed(long target, long length, ReadOnlySpan<(long Offset, int Length)> ranges)
    {
        foreach (var (offset, rangeLength) in ranges)
        {
            if (target >= offset && target + length <= offset + rangeLength)
            {
                return true;
            }
        }

        return false;
    }

    private static PoolCorruptedException Corrupt(string poolPath, string where, string what) =>
        new(poolPath, $"the redo log {where} is committed but invalid: {what}");

    /// <summary>XxHash3 of the entries, seeded with the header's sequence, length, count and watermarks (one call, no state).</summary>
    internal static ulong Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data)
    {
        var seed = BinaryPrimitives.ReadUInt64LittleEndian(header[SequenceOffset..]) * 0x9E37_79B9_7F4A_7C15UL
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[EntryBytesOffset..]) // the entry bytes and count together
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[RetiredOffset..]) * 0xC2B2_AE3D_27D4_EB4FUL
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[CommittedOffset..]) * 0x1656_67B1_9E37_79F9UL
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[ExternalOffset..]) * 0x27D4_EB2F_1656_67C5UL // 0 in older logs: they check as before
            ^ BinaryPrimitives.ReadUInt64LittleEndian(header[PreviousOffset..]) * 0x85EB_CA77_C2B2_AE63UL;
        var value = XxHash3.HashToUInt64(data, (long)seed);
        return value == 0 ? 1 : value; // 0 marks an invalid log
    }
}
