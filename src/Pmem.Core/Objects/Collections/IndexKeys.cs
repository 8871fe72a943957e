// IndexKeys -- the keys of an index tree: a property's value and its object's offset, ordered by value, then offset.
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>One entry of an index: an object's value of the indexed property, and the object.</summary>
/// <param name="Value">The property's value.</param>
/// <param name="Object">The object's offset.</param>
internal readonly record struct IndexEntry<T>(T Value, long Object);

/// <summary>
/// The keys of an index tree (a sorted dictionary without values): the value's slot, then the object's offset as the
/// last 8 bytes, so equal values keep one entry per object and a value's objects are one contiguous range. The durable
/// order is the value's <see cref="KeyOrder"/> with <see cref="SortedLayout.ObjectOffsetOrder"/> set.
/// </summary>
internal abstract class IndexKeys<T> : SortedKeys<IndexEntry<T>>
{
    /// <summary>Compares the value part of <paramref name="slot"/> with <paramref name="value"/>.</summary>
    public abstract int CompareValue(PersistentPool pool, ReadOnlySpan<byte> slot, T value);

    /// <summary>The value the property holds in the object at <paramref name="objectOffset"/> (through the running transaction).</summary>
    public abstract T ReadProperty(PersistentPool pool, long objectOffset, int propertyOffset);

    /// <summary>Whether <paramref name="value"/> equals the property's default (null for strings: such objects are not indexed), as the index compares.</summary>
    public abstract bool IsDefault(T value);

    protected static long ObjectOf(ReadOnlySpan<byte> slot, int slotSize) => BinaryPrimitives.ReadInt64LittleEndian(slot[(slotSize - 8)..]);

    protected static int CompareObjects(ReadOnlySpan<byte> slot, int slotSize, long other) => ((ulong)ObjectOf(slot, slotSize)).CompareTo((ulong)other);
}

/// <summary>Index keys of an unmanaged property: its bytes (padded to 8), then the object.</summary>
internal sealed class RawIndexKeys<T> : IndexKeys<T> where T : unmanaged
{
    public static readonly RawIndexKeys<T> Instance = new();

    private static readonly int s_valueSlot = (Unsafe.SizeOf<T>() + 7) & ~7;

    private readonly EntryCodec _codec = new();

    public override ElementCodec<IndexEntry<T>> Codec => _codec;

    public override KeyOrder Order => RawSortedKeys<T>.Instance.Order | SortedLayout.ObjectOffsetOrder;

    public override int Width => Unsafe.SizeOf<T>();

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, IndexEntry<T> key)
    {
        var c = Comparer<T>.Default.Compare(MemoryMarshal.Read<T>(slot), key.Value);
        return c != 0 ? c : CompareObjects(slot, s_valueSlot + 8, key.Object);
    }

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, in SearchKey<IndexEntry<T>> key) => Compare(pool, slot, key.Key);

    public override int Compare(IndexEntry<T> a, IndexEntry<T> b)
    {
        var c = Comparer<T>.Default.Compare(a.Value, b.Value);
        return c != 0 ? c : ((ulong)a.Object).CompareTo((ulong)b.Object);
    }

    public override int CompareValue(PersistentPool pool, ReadOnlySpan<byte> slot, T value) => Comparer<T>.Default.Compare(MemoryMarshal.Read<T>(slot), value);

    public override T ReadProperty(PersistentPool pool, long objectOffset, int propertyOffset) => pool.ReadValue<T>(objectOffset + propertyOffset);

    /// <remarks>
    /// By the index's own order, not by bytes: a value the index finds equal to the default (0.00m, a DateTime of
    /// tick 0 of any kind, a DateTimeOffset at instant 0 with any offset) is exempt like the default, or a unique
    /// index would refuse it beside objects that hold the default, yet take both in the other order.
    /// </remarks>
    public override bool IsDefault(T value) => Comparer<T>.Default.Compare(value, default) == 0;

    private sealed class EntryCodec : ElementCodec<IndexEntry<T>>
    {
        public override int SlotSize => s_valueSlot + 8;

        public override SlotKind Kind => SlotKind.Raw;

        public override IndexEntry<T> Read(PersistentPool pool, long slot) => new(pool.ReadValue<T>(slot), pool.ReadValue<long>(slot + s_valueSlot));

        public override void Write(PersistentPool pool, long slot, IndexEntry<T> value)
        {
            Span<byte> bytes = stackalloc byte[SlotSize];
            Encode(pool, bytes, value);
            pool.WriteBytesInTransaction(slot, bytes);
        }

        public override ulong Hash(IndexEntry<T> value) => StableHash.OfBytes(in value);

        public override bool SlotEquals(PersistentPool pool, long slot, IndexEntry<T> value) => Read(pool, slot) == value;

        public override IndexEntry<T> Decode(PersistentPool pool, ReadOnlySpan<byte> slot) => new(MemoryMarshal.Read<T>(slot), ObjectOf(slot, SlotSize));

        public override void Encode(PersistentPool pool, Span<byte> slot, IndexEntry<T> value)
        {
            slot[..SlotSize].Clear(); // the padding too: slots compare as bytes in checks
            var key = value.Value;
            MemoryMarshal.Write(slot, in key);
            BinaryPrimitives.WriteInt64LittleEndian(slot[s_valueSlot..], value.Object);
        }
    }
}

/// <summary>
/// Index keys of a string property as pools before <see cref="KeyOrder.OrdinalPrefixed"/> stored them: an owned copy
/// of the string (ordinal order), then the object; every comparison reads the string. Null strings are not indexed.
/// Trees of this layout are still read and written; new trees use <see cref="PrefixedStringIndexKeys"/>.
/// </summary>
internal sealed class StringIndexKeys : IndexKeys<string>
{
    public static readonly StringIndexKeys Instance = new();

    private readonly EntryCodec _codec = new();

    public override ElementCodec<IndexEntry<string>> Codec => _codec;

    public override KeyOrder Order => KeyOrder.Ordinal | SortedLayout.ObjectOffsetOrder;

    public override int Width => 8;

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, IndexEntry<string> key)
    {
        var c = CompareValue(pool, slot, key.Value);
        return c != 0 ? c : CompareObjects(slot, 16, key.Object);
    }

    public override int Compare(IndexEntry<string> a, IndexEntry<string> b)
    {
        var c = string.CompareOrdinal(a.Value, b.Value);
        return c != 0 ? c : ((ulong)a.Object).CompareTo((ulong)b.Object);
    }

    public override int CompareValue(PersistentPool pool, ReadOnlySpan<byte> slot, string value) =>
        pool.CompareStringAt(MemoryMarshal.Read<long>(slot), value);

    public override bool ComparesOutOfLine => true;

    public override void Prefetch(PersistentPool pool, ReadOnlySpan<byte> slot) => PrefetchString(pool, slot);

    public override string ReadProperty(PersistentPool pool, long objectOffset, int propertyOffset) => pool.ReadString(objectOffset + propertyOffset)!;

    public override bool IsDefault(string value) => value is null;

    private sealed class EntryCodec : ElementCodec<IndexEntry<string>>
    {
        public override int SlotSize => 16;

        public override SlotKind Kind => SlotKind.String; // the first 8 bytes: the tree owns its copy of the string

        public override IndexEntry<string> Read(PersistentPool pool, long slot) => new(pool.ReadString(slot)!, pool.ReadValue<long>(slot + 8));

        public override void Write(PersistentPool pool, long slot, IndexEntry<string> value)
        {
            Span<byte> bytes = stackalloc byte[SlotSize];
            Encode(pool, bytes, value);
            pool.WriteBytesInTransaction(slot, bytes);
        }

        public override ulong Hash(IndexEntry<string> value) =>
            XxHash3.HashToUInt64(MemoryMarshal.AsBytes(value.Value.AsSpan())) ^ (ulong)value.Object;

        public override bool SlotEquals(PersistentPool pool, long slot, IndexEntry<string> value) => Read(pool, slot) == value;

        public override IndexEntry<string> Decode(PersistentPool pool, ReadOnlySpan<byte> slot) =>
            new(pool.ReadStringAt(MemoryMarshal.Read<long>(slot)), ObjectOf(slot, 16));

        public override void Encode(PersistentPool pool, Span<byte> slot, IndexEntry<string> value)
        {
            MemoryMarshal.Write(slot, pool.NewStringInTransaction(value.Value));
            BinaryPrimitives.WriteInt64LittleEndian(slot[8..], value.Object);
        }
    }
}

/// <summary>
/// Index keys of a string property: an owned copy of the string, its <see cref="StringKeyPrefix"/>, then the object
/// (<see cref="KeyOrder.OrdinalPrefixed"/>). A comparison reads the string only when both prefixes are full and equal,
/// so a search stays in the tree's nodes. Null strings are not indexed.
/// </summary>
internal sealed class PrefixedStringIndexKeys : IndexKeys<string>
{
    public static readonly PrefixedStringIndexKeys Instance = new();

    /// <summary>The node size of trees with prefixed string keys.</summary>
    public const int NodeBytes = 2048;

    private const int SlotSize = SortedLayout.PrefixedStringKeySize + 8;

    private readonly EntryCodec _codec = new();

    public override ElementCodec<IndexEntry<string>> Codec => _codec;

    public override KeyOrder Order => KeyOrder.OrdinalPrefixed | SortedLayout.ObjectOffsetOrder;

    public override int Width => SortedLayout.PrefixedStringKeySize;

    /// <summary>
    /// 2 KiB: about 50 entries a leaf, so a lookup among a million strings reads four nodes, not seven (each a miss
    /// waited for; see bench/RESULTS.md, session 15). An insert logs more of its leaf's shifted tail in exchange.
    /// </summary>
    public override int NodeSize(int keySize, int valueSize) => NodeBytes;

    /// <summary>A tree of the former layout (no prefixes, as older pools hold) is read and written in it.</summary>
    public override SortedKeys<IndexEntry<string>> Former => StringIndexKeys.Instance;

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, IndexEntry<string> key)
    {
        var c = CompareValue(pool, slot, key.Value);
        return c != 0 ? c : CompareObjects(slot, SlotSize, key.Object);
    }

    public override SearchKey<IndexEntry<string>> Prepare(IndexEntry<string> key) => new(key, StringKeyPrefix.Of(key.Value));

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, in SearchKey<IndexEntry<string>> key)
    {
        var c = StringSearchKey.Compare(pool, slot, key.Key.Value, key.Prefix);
        return c != 0 ? c : CompareObjects(slot, SlotSize, key.Key.Object);
    }

    public override int Compare(IndexEntry<string> a, IndexEntry<string> b) => StringIndexKeys.Instance.Compare(a, b);

    public override int CompareValue(PersistentPool pool, ReadOnlySpan<byte> slot, string value) => StringSearchKey.Compare(pool, slot, value);

    public override string ReadProperty(PersistentPool pool, long objectOffset, int propertyOffset) => pool.ReadString(objectOffset + propertyOffset)!;

    public override bool IsDefault(string value) => value is null;

    private sealed class EntryCodec : ElementCodec<IndexEntry<string>>
    {
        public override int SlotSize => PrefixedStringIndexKeys.SlotSize;

        public override SlotKind Kind => SlotKind.String; // the first 8 bytes: the tree owns its copy of the string

        public override IndexEntry<string> Read(PersistentPool pool, long slot) => new(pool.ReadString(slot)!, pool.ReadValue<long>(slot + SlotSize - 8));

        public override void Write(PersistentPool pool, long slot, IndexEntry<string> value)
        {
            Span<byte> bytes = stackalloc byte[SlotSize];
            Encode(pool, bytes, value);
            pool.WriteBytesInTransaction(slot, bytes);
        }

        public override ulong Hash(IndexEntry<string> value) => StringIndexKeys.Instance.Codec.Hash(value);

        public override bool SlotEquals(PersistentPool pool, long slot, IndexEntry<string> value) => Read(pool, slot) == value;

        public override IndexEntry<string> Decode(PersistentPool pool, ReadOnlySpan<byte> slot) =>
            new(pool.ReadStringAt(MemoryMarshal.Read<long>(slot)), ObjectOf(slot, SlotSize));

        public override void Encode(PersistentPool pool, Span<byte> slot, IndexEntry<string> value)
        {
            StringSearchKey.Encode(pool, slot, value.Value);
            BinaryPrimitives.WriteInt64LittleEndian(slot[(SlotSize - 8)..], value.Object);
        }
    }
}
