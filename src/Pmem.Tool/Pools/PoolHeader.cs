// PoolHeader -- the pool file header (docs/pool-format.md), parsed from the file's bytes without mapping or opening.
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tool.Pools;

/// <summary>
/// The header fields of a pool file, as stored. Reading it never validates more than the magic: a damaged header is
/// shown as it is (with <see cref="ChecksumValid"/> false) and refused later by <see cref="PersistentPool.Open(PersistenceDomain, string, long, string?)"/>.
/// </summary>
internal sealed record PoolHeader(
    uint FormatVersion,
    uint HeaderSize,
    Guid Uuid,
    long CreatedTicks,
    int DurabilityValue,
    int LaneCount,
    int LaneSize,
    long HeapStart,
    string Layout,
    bool LayoutValid,
    long PoolSize,
    long RetiredThrough,
    bool ChecksumValid)
{
    // Offsets of docs/pool-format.md (PoolLayout in Pmem.Core is internal).
    public const int Size = 4096;
    private const ulong Magic = 0x4C4F4F504D454D50; // "PMEMPOOL"
    private const int VersionOffset = 8;
    private const int HeaderSizeOffset = 12;
    private const int UuidOffset = 16;
    private const int CreatedOffset = 32;
    private const int DurabilityOffset = 40;
    private const int LaneCountOffset = 44;
    private const int LaneSizeOffset = 48;
    private const int HeapOffsetOffset = 56;
    private const int LayoutNameOffset = 64;
    private const int LayoutNameCapacity = 256;
    private const int ChecksumOffset = LayoutNameOffset + LayoutNameCapacity; // 320: XxHash64 of bytes 0..319
    private const int PoolSizeOffset = 512;
    private const int RetiredThroughOffset = 544;

    /// <summary>The durability mode, or null when the stored value names none.</summary>
    public DurabilityMode? Durability =>
        Enum.IsDefined((DurabilityMode)DurabilityValue) ? (DurabilityMode)DurabilityValue : null;

    /// <summary>The creation time, or null when the stored ticks are out of range.</summary>
    public DateTime? Created =>
        CreatedTicks is >= 0 and <= 3155378975999999999 ? new DateTime(CreatedTicks, DateTimeKind.Utc) : null;

    /// <summary>Reads the header from the start of <paramref name="file"/> (its position is left at the header's end).</summary>
    /// <exception cref="PoolCorruptedException">The file is shorter than a header or has no pool signature.</exception>
    public static PoolHeader Read(Stream file, string path)
    {
        var bytes = new byte[Size];
        file.Position = 0;
        var read = file.ReadAtLeast(bytes, Size, throwOnEndOfStream: false);
        if (read < Size)
        {
            throw new PoolCorruptedException(path, $"not a pool: {file.Length} bytes is shorter than a pool header");
        }

        return Parse(bytes, path);
    }

    /// <summary>Parses a header image of at least <see cref="Size"/> bytes.</summary>
    /// <exception cref="PoolCorruptedException">No pool signature.</exception>
    public static PoolHeader Parse(ReadOnlySpan<byte> header, string path)
    {
        if (header.Length < Size || BinaryPrimitives.ReadUInt64LittleEndian(header) != Magic)
        {
            throw new PoolCorruptedException(path, "not a pool (no pool signature at the start of the file)");
        }

        var name = header.Slice(LayoutNameOffset, LayoutNameCapacity);
        var end = name.IndexOf((byte)0);
        string layout;
        bool layoutValid;
        try
        {
            layout = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(end < 0 ? name : name[..end]);
            layoutValid = end > 0;
        }
        catch (DecoderFallbackException)
        {
            layout = Encoding.UTF8.GetString(end < 0 ? name : name[..end]);
            layoutValid = false;
        }

        return new PoolHeader(
            FormatVersion: BinaryPrimitives.ReadUInt32LittleEndian(header[VersionOffset..]),
            HeaderSize: BinaryPrimitives.ReadUInt32LittleEndian(header[HeaderSizeOffset..]),
            Uuid: new Guid(header.Slice(UuidOffset, 16)),
            CreatedTicks: BinaryPrimitives.ReadInt64LittleEndian(header[CreatedOffset..]),
            DurabilityValue: BinaryPrimitives.ReadInt32LittleEndian(header[DurabilityOffset..]),
            LaneCount: BinaryPrimitives.ReadInt32LittleEndian(header[LaneCountOffset..]),
            LaneSize: BinaryPrimitives.ReadInt32LittleEndian(header[LaneSizeOffset..]),
            HeapStart: BinaryPrimitives.ReadInt64LittleEndian(header[HeapOffsetOffset..]),
            Layout: layout,
            LayoutValid: layoutValid,
            PoolSize: BinaryPrimitives.ReadInt64LittleEndian(header[PoolSizeOffset..]),
            RetiredThrough: BinaryPrimitives.ReadInt64LittleEndian(header[RetiredThroughOffset..]),
            ChecksumValid: BinaryPrimitives.ReadUInt64LittleEndian(header[ChecksumOffset..]) == XxHash64.HashToUInt64(header[..ChecksumOffset]))
        {
            WriteAheadLogActive = BinaryPrimitives.ReadUInt64LittleEndian(header[PoolLayout.WriteAheadLifeOffset..]) != 0,
            GrowthLimit = BinaryPrimitives.ReadInt64LittleEndian(header[PoolLayout.GrowthLimitOffset..]),
        };
    }

    /// <summary>The header names an active write-ahead log: the pool was not closed cleanly and its log holds commits.</summary>
    public bool WriteAheadLogActive { get; init; }

    /// <summary>The size the pool grows to by itself, as its creation recorded it (0: none).</summary>
    public long GrowthLimit { get; init; }
}
