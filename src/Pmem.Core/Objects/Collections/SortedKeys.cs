// SortedKeys -- how a sorted collection orders its keys: the comparison of a stored key slot with a key, and its durable order code.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// The keys of a sorted collection: their slot codec, their durable <see cref="KeyOrder"/> (which
/// <see cref="SortedLayout"/> uses to check order without the program's types) and the comparison of a stored slot with
/// a key, which must agree with it.
/// </summary>
internal abstract class SortedKeys<TKey>
{
    public abstract ElementCodec<TKey> Codec { get; }

    public abstract KeyOrder Order { get; }

    /// <summary>The key's own bytes in its slot (the slot is rounded up to 8).</summary>
    public abstract int Width { get; }

    /// <summary>Compares the key stored in <paramref name="slot"/> with <paramref name="key"/>.</summary>
    public abstract int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, TKey key);

    /// <summary><paramref name="key"/> ready for the comparisons of one search (<see cref="Compare(PersistentPool, ReadOnlySpan{byte}, in SearchKey{TKey})"/>).</summary>
    public virtual SearchKey<TKey> Prepare(TKey key) => new(key, default);

    /// <summary>Compares the key stored in <paramref name="slot"/> with a prepared search key.</summary>
    public virtual int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, in SearchKey<TKey> key) => Compare(pool, slot, key.Key);

    public abstract int Compare(TKey a, TKey b);

    /// <summary>The node size of a new tree with these keys.</summary>
    public virtual int NodeSize(int keySize, int valueSize) => SortedLayout.NodeSizeFor(keySize, valueSize);

    /// <summary>
    /// Keys of the same type in the layout trees written before this one hold (read and written in it), or null: a tree
    /// whose header records them is kept in its own layout.
    /// </summary>
    public virtual SortedKeys<TKey>? Former => null;

    /// <summary>
    /// Whether a comparison reads more than the slot (a string key's block): the tree then starts loading every key of
    /// a node before its binary search (<see cref="Prefetch"/>), so that their misses overlap instead of following each other.
    /// </summary>
    public virtual bool ComparesOutOfLine => false;

    /// <summary>Hints that the bytes a comparison with <paramref name="slot"/> reads outside it will be read soon.</summary>
    public virtual void Prefetch(PersistentPool pool, ReadOnlySpan<byte> slot)
    {
    }

    /// <summary>Hints that the first line of the string block a slot names (its length and first characters) will be read soon.</summary>
    protected static void PrefetchString(PersistentPool pool, ReadOnlySpan<byte> slot) =>
        CachePrefetch.Lines(pool.Domain, MemoryMarshal.Read<long>(slot), PersistenceDomain.CacheLineSize);
}

/// <summary>Unmanaged keys stored as their bytes and compared in their default order (<see cref="Comparer{T}.Default"/>, which the JIT devirtualizes).</summary>
internal sealed class RawSortedKeys<T> : SortedKeys<T> where T : unmanaged
{
    public static readonly RawSortedKeys<T> Instance = new();

    private static readonly KeyOrder s_order = OrderOf();

    public override ElementCodec<T> Codec => RawCodec<T>.Instance;

    public override KeyOrder Order => s_order;

    public override int Width => Unsafe.SizeOf<T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, T key) => Comparer<T>.Default.Compare(MemoryMarshal.Read<T>(slot), key);

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, in SearchKey<T> key) => Comparer<T>.Default.Compare(MemoryMarshal.Read<T>(slot), key.Key);

    public override int Compare(T a, T b) => Comparer<T>.Default.Compare(a, b);

    /// <summary>The durable order of <typeparamref name="T"/>; enums order as their underlying integers.</summary>
    /// <exception cref="NotSupportedException">A key type whose order is not stable or not byte-defined (floating point, other structs).</exception>
    private static KeyOrder OrderOf()
    {
        if (typeof(T) == typeof(Guid))
        {
            return KeyOrder.Guid;
        }

        if (typeof(T) == typeof(DateTime))
        {
            return KeyOrder.DateTime;
        }

        if (typeof(T) == typeof(DateTimeOffset))
        {
            return KeyOrder.DateTimeOffset;
        }

        if (typeof(T) == typeof(decimal))
        {
            return KeyOrder.Decimal;
        }

        if (typeof(T) == typeof(TimeSpan) || typeof(T) == typeof(Int128))
        {
            return KeyOrder.Signed;
        }

        if (typeof(T) == typeof(UInt128))
        {
            return KeyOrder.Unsigned;
        }

        return Type.GetTypeCode(typeof(T)) switch // an enum answers with its underlying type's code
        {
            TypeCode.SByte or TypeCode.Int16 or TypeCode.Int32 or TypeCode.Int64 => KeyOrder.Signed,
            TypeCode.Byte or TypeCode.UInt16 or TypeCode.UInt32 or TypeCode.UInt64 or TypeCode.Char or TypeCode.Boolean => KeyOrder.Unsigned,
            _ => 0,
        };
    }

    /// <summary>Throws for key types without a durable order (before anything is written).</summary>
    public static void ThrowIfUnsupported()
    {
        if (s_order == 0)
        {
            throw new NotSupportedException($"Sorted collections take integer, enum, char, bool, Guid, DateTime, DateTimeOffset, TimeSpan, decimal, Int128, UInt128 or string keys, not {typeof(T).Name}.");
        }
    }
}

/// <summary>
/// String keys as trees before <see cref="KeyOrder.OrdinalPrefixed"/> hold them: owned persistent strings, compared
/// ordinally by reading each; null keys are refused. New trees use <see cref="PrefixedStringSortedKeys"/>.
/// </summary>
internal sealed class StringSortedKeys : SortedKeys<string>
{
    public static readonly StringSortedKeys Instance = new();

    public override ElementCodec<string> Codec => StringCodec.Instance!;

    public override KeyOrder Order => KeyOrder.Ordinal;

    public override int Width => 8;

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, string key) =>
        pool.CompareStringAt(MemoryMarshal.Read<long>(slot), key);

    public override int Compare(string a, string b) => string.CompareOrdinal(a, b);

    public override bool ComparesOutOfLine => true;

    public override void Prefetch(PersistentPool pool, ReadOnlySpan<byte> slot) => PrefetchString(pool, slot);
}

/// <summary>
/// String keys with inline prefixes (<see cref="KeyOrder.OrdinalPrefixed"/>): each slot holds the owned string's offset,
/// then its <see cref="StringKeyPrefix"/>, so a comparison reads the string only when both prefixes are cut and equal.
/// Null keys are refused. Trees of the former layout (<see cref="StringSortedKeys"/>) are kept in it.
/// </summary>
internal sealed class PrefixedStringSortedKeys : SortedKeys<string>
{
    public static readonly PrefixedStringSortedKeys Instance = new();

    public override ElementCodec<string> Codec => PrefixedStringCodec.Instance;

    public override KeyOrder Order => KeyOrder.OrdinalPrefixed;

    public override int Width => SortedLayout.PrefixedStringKeySize;

    /// <inheritdoc cref="PrefixedStringIndexKeys.NodeSize" />
    public override int NodeSize(int keySize, int valueSize) => Math.Max(PrefixedStringIndexKeys.NodeBytes, base.NodeSize(keySize, valueSize));

    public override SortedKeys<string> Former => StringSortedKeys.Instance;

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, string key) => StringSearchKey.Compare(pool, slot, key);

    public override SearchKey<string> Prepare(string key) => new(key, StringKeyPrefix.Of(key));

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, in SearchKey<string> key) => StringSearchKey.Compare(pool, slot, key.Key, key.Prefix);

    public override int Compare(string a, string b) => string.CompareOrdinal(a, b);
}

/// <summary>
/// A key as one search compares it: the key, and what each comparison would otherwise work out again (a prefixed
/// string key's <see cref="StringKeyPrefix"/>; default for other keys).
/// </summary>
internal readonly struct SearchKey<TKey>(TKey key, StringKeyPrefix.Words prefix)
{
    public TKey Key { get; } = key;

    public StringKeyPrefix.Words Prefix { get; } = prefix;
}

/// <summary>A string key slot's string and prefix, compared with a search key and written.</summary>
internal static class StringSearchKey
{
    public const int PrefixAt = 8;

    /// <summary>
    /// Compares the prefixed string key in <paramref name="slot"/> with <paramref name="key"/> (ordinally), encoding the
    /// key's prefix for this one comparison: searches prepare it once instead (<see cref="SortedKeys{TKey}.Prepare"/>).
    /// </summary>
    public static int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, string key) => Compare(pool, slot, key, StringKeyPrefix.Of(key));

    /// <summary>Compares the prefixed string key in <paramref name="slot"/> with <paramref name="key"/>, whose prefix is <paramref name="prefix"/>.</summary>
    public static int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, string key, in StringKeyPrefix.Words prefix)
    {
        var c = StringKeyPrefix.Compare(slot.Slice(PrefixAt, StringKeyPrefix.Size), prefix);
        return c != StringKeyPrefix.Undecided ? c : pool.CompareStringAt(MemoryMarshal.Read<long>(slot), key);
    }

    /// <summary>Writes a new owned copy of <paramref name="text"/> and its prefix into a slot's first bytes (in the running transaction).</summary>
    public static void Encode(PersistentPool pool, Span<byte> slot, string text)
    {
        MemoryMarshal.Write(slot, pool.NewStringInTransaction(text));
        StringKeyPrefix.Encode(text, slot[PrefixAt..]);
    }
}

/// <summary>The slots of <see cref="PrefixedStringSortedKeys"/>: an owned string's offset, then its prefix.</summary>
internal sealed class PrefixedStringCodec : ElementCodec<string>
{
    public static readonly PrefixedStringCodec Instance = new();

    public override int SlotSize => SortedLayout.PrefixedStringKeySize;

    public override SlotKind Kind => SlotKind.String; // the first 8 bytes: an owned string

    public override string Read(PersistentPool pool, long slot) => pool.ReadString(slot)!;

    public override void Write(PersistentPool pool, long slot, string value)
    {
        Span<byte> bytes = stackalloc byte[SlotSize];
        Encode(pool, bytes, value);
        pool.WriteBytesInTransaction(slot, bytes);
    }

    public override ulong Hash(string value) => StringCodec.Instance.Hash(value);

    public override bool SlotEquals(PersistentPool pool, long slot, string value) => string.Equals(pool.ReadString(slot), value, StringComparison.Ordinal);

    public override string Decode(PersistentPool pool, ReadOnlySpan<byte> slot) => pool.ReadStringAt(MemoryMarshal.Read<long>(slot));

    public override void Encode(PersistentPool pool, Span<byte> slot, string value) => StringSearchKey.Encode(pool, slot, value);
}

/// <summary>The values of a set: none, in a slot of no bytes.</summary>
internal sealed class NoValueCodec : ElementCodec<bool>
{
    public static readonly NoValueCodec Instance = new();

    public override int SlotSize => 0;

    public override SlotKind Kind => SlotKind.Raw;

    public override bool Read(PersistentPool pool, long slot) => true;

    public override void Write(PersistentPool pool, long slot, bool value)
    {
    }

    public override ulong Hash(bool value) => 0;

    public override bool SlotEquals(PersistentPool pool, long slot, bool value) => true;

    public override bool Decode(PersistentPool pool, ReadOnlySpan<byte> slot) => true;

    public override void Encode(PersistentPool pool, Span<byte> slot, bool value)
    {
    }
}
