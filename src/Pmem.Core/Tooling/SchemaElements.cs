// SchemaElements -- collection codecs driven by a stored element type instead of a C# type: what an import fills collections with.
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>Sixteen bytes inline: the widest scalar.</summary>
[InlineArray(16)]
internal struct ScalarBytes
{
    private byte _first;
}

/// <summary>One element as an import holds it: a scalar's bytes, a string, or a reference (the new pool's offset).</summary>
internal struct SchemaElement
{
    public ScalarBytes Bytes;
    public string? Text;
    public long Target;
}

/// <summary>
/// Encodes elements of one stored type exactly as the program's codecs would (<see cref="RawCodec{T}"/>,
/// <see cref="StringCodec"/>, <see cref="ReferenceCodec{T}"/>): the same slot sizes and kinds, the same stable hashes
/// (XXH3 of a scalar's bytes, which <see cref="StableHash"/> equals), so the program's collections find every entry.
/// </summary>
internal sealed class SchemaCodec : ElementCodec<SchemaElement>
{
    private readonly ElementShape _shape;
    private readonly bool _prefixed; // sorted string keys: the string's offset, then its prefix (PrefixedStringCodec)

    public SchemaCodec(ElementShape shape, bool sortedKeys = false)
    {
        _shape = shape;
        _prefixed = sortedKeys && shape.Kind == ElementKind.String;
        SlotSize = _prefixed ? SortedLayout.PrefixedStringKeySize : shape.SlotSize;
    }

    public override int SlotSize { get; }

    public override SlotKind Kind => _shape.SlotKind;

    private int Width => _shape.Kind == ElementKind.Scalar ? _shape.Width : 0;

    public override SchemaElement Read(PersistentPool pool, long slot)
    {
        Span<byte> bytes = stackalloc byte[SlotSize];
        pool.ReadBytes(slot, bytes);
        return Decode(pool, bytes);
    }

    public override void Write(PersistentPool pool, long slot, SchemaElement value)
    {
        if (_shape.Kind == ElementKind.String && !_prefixed)
        {
            pool.WriteString(slot, value.Text);
            return;
        }

        Span<byte> bytes = stackalloc byte[SlotSize];
        Encode(pool, bytes, value);
        pool.WriteBytesInTransaction(slot, bytes);
    }

    public override ulong Hash(SchemaElement value) => _shape.Kind switch
    {
        ElementKind.Scalar => XxHash3.HashToUInt64(((ReadOnlySpan<byte>)value.Bytes)[..Width]),
        ElementKind.String => StringCodec.Instance.Hash(value.Text),
        ElementKind.Reference => (ulong)value.Target * 0x9E3779B97F4A7C15UL,
        _ => 0,
    };

    public override bool SlotEquals(PersistentPool pool, long slot, SchemaElement value) => _shape.Kind switch
    {
        ElementKind.String => StringCodec.Instance.SlotEquals(pool, slot, value.Text),
        ElementKind.None => true,
        _ => Read(pool, slot) is var stored && Same(stored, value),
    };

    public override SchemaElement Decode(PersistentPool pool, ReadOnlySpan<byte> slot)
    {
        var element = default(SchemaElement);
        switch (_shape.Kind)
        {
            case ElementKind.Scalar:
                slot[..Width].CopyTo(element.Bytes);
                break;
            case ElementKind.String:
                element.Text = StringCodec.Instance.Decode(pool, slot);
                break;
            case ElementKind.Reference:
                element.Target = MemoryMarshal.Read<long>(slot);
                break;
        }

        return element;
    }

    public override void Encode(PersistentPool pool, Span<byte> slot, SchemaElement value)
    {
        switch (_shape.Kind)
        {
            case ElementKind.Scalar:
                slot[..SlotSize].Clear(); // the padding too: slots compare and hash as bytes
                ((ReadOnlySpan<byte>)value.Bytes)[..Width].CopyTo(slot);
                break;
            case ElementKind.String when _prefixed:
                StringSearchKey.Encode(pool, slot, value.Text!);
                break;
            case ElementKind.String:
                StringCodec.Instance.Encode(pool, slot, value.Text);
                break;
            case ElementKind.Reference:
                MemoryMarshal.Write(slot, pool.ReferenceTo(value.Target));
                break;
        }
    }

    private bool Same(SchemaElement a, SchemaElement b) => _shape.Kind == ElementKind.Reference
        ? a.Target == b.Target
        : ((ReadOnlySpan<byte>)a.Bytes)[..Width].SequenceEqual(((ReadOnlySpan<byte>)b.Bytes)[..Width]);
}

/// <summary>Sorted keys of one stored type, in the durable order <see cref="SortedLayout.Compare"/> defines.</summary>
internal sealed class SchemaSortedKeys : SortedKeys<SchemaElement>
{
    private readonly ElementShape _shape;

    public SchemaSortedKeys(ElementShape shape)
    {
        _shape = shape;
        Codec = new SchemaCodec(shape, sortedKeys: true);
        Order = shape.Kind == ElementKind.String ? KeyOrder.OrdinalPrefixed : shape.Order; // as PrefixedStringSortedKeys writes them
    }

    public override ElementCodec<SchemaElement> Codec { get; }

    public override KeyOrder Order { get; }

    public override int Width => Order == KeyOrder.OrdinalPrefixed ? SortedLayout.PrefixedStringKeySize : _shape.Width;

    public override int NodeSize(int keySize, int valueSize) => Order == KeyOrder.OrdinalPrefixed
        ? PrefixedStringSortedKeys.Instance.NodeSize(keySize, valueSize)
        : base.NodeSize(keySize, valueSize);

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, SchemaElement key) => Order == KeyOrder.OrdinalPrefixed
        ? StringSearchKey.Compare(pool, slot, key.Text!)
        : SortedLayout.Compare(pool, Order, Width, slot[..Width].ToArray(), ((ReadOnlySpan<byte>)key.Bytes)[..Width].ToArray());

    public override SearchKey<SchemaElement> Prepare(SchemaElement key) =>
        new(key, Order == KeyOrder.OrdinalPrefixed ? StringKeyPrefix.Of(key.Text) : default);

    public override int Compare(PersistentPool pool, ReadOnlySpan<byte> slot, in SearchKey<SchemaElement> key) => Order == KeyOrder.OrdinalPrefixed
        ? StringSearchKey.Compare(pool, slot, key.Key.Text!, key.Prefix)
        : Compare(pool, slot, key.Key);

    public override int Compare(SchemaElement a, SchemaElement b) => Order == KeyOrder.OrdinalPrefixed
        ? string.CompareOrdinal(a.Text, b.Text)
        : SortedLayout.Compare(null!, Order, Width, ((ReadOnlySpan<byte>)a.Bytes)[..Width].ToArray(), ((ReadOnlySpan<byte>)b.Bytes)[..Width].ToArray());
}
