// GraphReader -- reads a pool's objects, strings, references and collections by the stored schema alone, checking each step.
using Pmem.Heap;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>Where a value is read from, for messages (formatted only when something is wrong).</summary>
internal readonly record struct Where(string TypeName, long Offset, string Property)
{
    /// <summary>As the subject of a sentence: "the T at offset N, property 'P'," (the comma before its verb).</summary>
    public override string ToString() => Offset == 0 ? TypeName : $"{Place},";

    /// <summary>As a heading before a colon: "the T at offset N, property 'P'".</summary>
    public string Place => Offset == 0 ? TypeName : $"the {TypeName} at offset {Offset}, property '{Property}'";
}

/// <summary>A collection element or property value as read: a scalar (its bytes in the caller's buffer), a string or a reference.</summary>
internal readonly record struct StoredValue(ElementKind Kind, string? Text, long Target);

/// <summary>
/// Reads the object graph of a pool with nothing but its type table's schema records: every object's properties by
/// name, every string, every reference (checked to be an object of the recorded target type) and every collection
/// (through <see cref="CollectionLayout"/> and <see cref="SortedLayout"/>, which check the headers). What cannot be
/// read throws <see cref="PoolCorruptedException"/> naming the object and property, never a crash.
/// </summary>
internal sealed class GraphReader
{
    private readonly Dictionary<uint, TypeShape> _byIndex = [];
    private readonly Dictionary<string, TypeShape> _byName = new(StringComparer.Ordinal);
    private readonly bool _migrating;
    private readonly Dictionary<uint, string> _unreadable = [];
    private readonly Dictionary<(TypeShape Type, int Offset), PersistentIndexKind> _indexes = [];
    private byte[] _buffer = new byte[256];

    public GraphReader(PersistentPool pool)
    {
        Pool = pool;
        _migrating = pool.MigrationUnderWay;
        var types = new List<TypeShape>();
        foreach (var stored in pool.StoredTypes.Where(t => !t.IsRetired))
        {
            if (stored.Schema is null)
            {
                _unreadable[stored.Index] = $"the type '{stored.Name}' was stored before schema records (format 3) and has none: open the pool once with the program to record it";
                continue;
            }

            try
            {
                var shape = TypeShape.Of(stored.Schema);
                _byIndex[stored.Index] = shape;
                _byName[shape.Name] = shape;
                types.Add(shape);
                foreach (var property in pool.PropertiesWithIndexes(stored).Where(p => p.Index != PersistentIndexKind.None))
                {
                    _indexes[(shape, property.Offset)] = property.Index;
                }
            }
            catch (FormatException e)
            {
                _unreadable[stored.Index] = e.Message;
            }
        }

        Types = types;
        Problems = [.. _unreadable.Values];
    }

    public PersistentPool Pool { get; }

    /// <summary>The readable stored types, in type table order.</summary>
    public IReadOnlyList<TypeShape> Types { get; }

    /// <summary>Why some stored types cannot be read (no schema, an unknown storage type); empty when all can.</summary>
    public IReadOnlyList<string> Problems { get; }

    public long RootOffset => Pool.RootOffset;

    /// <summary>The index the pool keeps of the property of <paramref name="type"/> at <paramref name="offset"/>, or <see cref="PersistentIndexKind.None"/>.</summary>
    public PersistentIndexKind IndexAt(TypeShape type, int offset) => _indexes.GetValueOrDefault((type, offset));

    /// <summary>The readable type of this name, or null.</summary>
    public TypeShape? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The type of the object at <paramref name="offset"/>.</summary>
    /// <exception cref="PoolCorruptedException">No object of a readable type starts there.</exception>
    public TypeShape ShapeAt(long offset, Where context)
    {
        if (Pool.TryGetBlockType(offset, out var index))
        {
            if (_byIndex.TryGetValue(index, out var shape))
            {
                return shape;
            }

            if (_unreadable.TryGetValue(index, out var why))
            {
                throw new PoolCorruptedException(Pool.Path, $"{context.Place}: {why}");
            }
        }

        throw new PoolCorruptedException(Pool.Path, $"{context} points to offset {offset}, where no object starts");
    }

    /// <summary>The object's bytes (a buffer reused by the next call).</summary>
    public ReadOnlySpan<byte> ReadObject(long offset, TypeShape shape)
    {
        var size = shape.Schema.Size;
        if (_buffer.Length < size)
        {
            _buffer = new byte[size];
        }

        var bytes = _buffer.AsSpan(0, size);
        Pool.ReadBytes(offset, bytes);
        return bytes;
    }

    /// <summary>The string a slot holds (0: null).</summary>
    public string? ReadString(long target, Where context)
    {
        try
        {
            return target == 0 ? null : Pool.ReadStringAt(target);
        }
        catch (PersistentTypeMismatchException)
        {
            throw new PoolCorruptedException(Pool.Path, $"{context} points to offset {target}, where no string starts");
        }
    }

    /// <summary>Checks that a reference word (not 0) leads to a live object of the element's target type; returns the object's offset.</summary>
    public long CheckReference(long reference, ElementShape element, Where context)
    {
        if (_migrating)
        {
            reference = Pool.Forwarded(reference); // a migration interrupted in place moved the object and left its old block pointing on
        }

        var target = BlockGeneration.TargetOf(reference);
        var shape = ShapeAt(target, context);
        if (element.Target is { } expected && shape.Name != expected)
        {
            throw new PoolCorruptedException(Pool.Path, $"{context} points to {Wording.WithArticle(shape.Name)} at offset {target} where {Wording.WithArticle(expected)} belongs");
        }

        if (!BlockGeneration.Matches(BlockGeneration.OfReference(reference), Pool.GenerationAt(target)))
        {
            throw new PoolCorruptedException(Pool.Path, $"{context} points to offset {target}, whose object was deleted (its block now holds another {shape.Name}); repair the pool (pmem check --repair) to null the reference");
        }

        return target;
    }

    /// <summary>Reads one element slot: a scalar's bytes into <paramref name="scalar"/>, a string, or a checked reference.</summary>
    public StoredValue ReadElement(long slot, ElementShape element, Span<byte> scalar, Where context)
    {
        switch (element.Kind)
        {
            case ElementKind.Scalar:
                Pool.ReadBytes(slot, scalar[..element.Width]);
                return new StoredValue(ElementKind.Scalar, null, 0);
            case ElementKind.String:
                return new StoredValue(ElementKind.String, ReadString(Pool.ReadValue<long>(slot), context), 0);
            case ElementKind.Reference:
                var target = Pool.ReadValue<long>(slot);
                return new StoredValue(ElementKind.Reference, null, target == 0 ? 0 : CheckReference(target, element, context));
            default:
                return new StoredValue(ElementKind.None, null, 0);
        }
    }

    /// <summary>
    /// How many entries the collection at <paramref name="header"/> holds and their key and value slot addresses
    /// (a list's key slot is 0; a set's value slot is unused), after checking that the block is a collection of the
    /// property's kind whose recorded slots fit the stored element types.
    /// </summary>
    /// <exception cref="PoolCorruptedException">It is not, or its header is damaged.</exception>
    public (long Count, IEnumerable<(long Key, long Value)> Entries) OpenCollection(long header, PropertyShape property, Where context)
    {
        var typeIndex = property.Kind switch
        {
            PropertyKind.List => TypeTable.ListTypeIndex,
            PropertyKind.Dictionary => TypeTable.DictionaryTypeIndex,
            _ => TypeTable.SortedDictionaryTypeIndex,
        };
        if (Pool.AllocatedSizeOf(header, typeIndex) < CollectionLayout.HeaderSize)
        {
            throw new PoolCorruptedException(Pool.Path, $"{context} points to offset {header}, where no {property.Info.StorageType} starts");
        }

        if (property.Kind == PropertyKind.List)
        {
            var (storage, count, slotSize, kind) = CollectionLayout.ListShape(Pool, header);
            if (slotSize != property.Value.SlotSize || kind != property.Value.SlotKind)
            {
                throw Mismatch(header, property, context);
            }

            return (count, ListSlots(storage, count, slotSize));
        }

        var (keySize, keyKind, valueSize, valueKind) = CollectionLayout.EntryShape(Pool, header);
        var key = property.Key!;
        var prefixedStrings = property.Kind != PropertyKind.Dictionary && key.Kind == ElementKind.String && keySize == SortedLayout.PrefixedStringKeySize; // a string, then its prefix
        if ((keySize != key.SlotSize && !prefixedStrings) || keyKind != key.SlotKind || valueSize != property.Value.SlotSize || valueKind != property.Value.SlotKind)
        {
            throw Mismatch(header, property, context);
        }

        var total = Pool.ReadValue<long>(header + CollectionLayout.CountOffset);
        return property.Kind == PropertyKind.Dictionary
            ? (total, CollectionLayout.DictionaryEntries(Pool, header))
            : (total, SortedLayout.Entries(Pool, header));
    }

    private static IEnumerable<(long Key, long Value)> ListSlots(long storage, long count, int slotSize)
    {
        for (long i = 0; i < count; i++)
        {
            yield return (0, storage + i * slotSize);
        }
    }

    private PoolCorruptedException Mismatch(long header, PropertyShape property, Where context) =>
        new(Pool.Path, $"{context.Place}: the collection at offset {header} records other slots than its schema's {property.Info.StorageType}");
}
