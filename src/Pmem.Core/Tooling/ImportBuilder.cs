// ImportBuilder -- the second pass of an import: fills a new pool with an export's objects, in transactions of bounded size.
using System.Buffers;
using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Transactions;

namespace Pmem.Tooling;

/// <summary>
/// Creates the objects of an <see cref="ExportFile"/> in a new, empty pool and sets their values: types registered
/// in the file's order (each with the schema record the program's registration writes), the root first, other objects
/// when first met (as a record or as the target of a reference), collections through the runtime's own collection
/// code with <see cref="SchemaCodec"/>s. Work is committed every <c>transactionSize</c> writes, so memory and the log
/// stay bounded however large the file; a half-filled pool is the caller's to delete.
/// </summary>
internal sealed class ImportBuilder
{
    private readonly ExportFile _file;
    private readonly PersistentPool _pool;
    private readonly int _transactionSize;
    private readonly Dictionary<long, long> _offsets = [];
    private Transaction _transaction;
    private int _writes;

    public ImportBuilder(ExportFile file, PersistentPool pool, int transactionSize)
    {
        _file = file;
        _pool = pool;
        _transactionSize = Math.Max(1, transactionSize);
    }

    /// <summary>Registers the types, creates the root, then reads every object's values from <paramref name="utf8Json"/>.</summary>
    public void Build(in ReadOnlySequence<byte> utf8Json)
    {
        foreach (var type in _file.Types)
        {
            _pool.TypeIndex(type.Schema);
        }

        if (_file.RootId != 0)
        {
            _offsets[_file.RootId] = _pool.NewRootObject(_file.ObjectTypes[_file.RootId].Schema);
        }

        var json = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 64 });
        _transaction = _pool.BeginTransaction();
        try
        {
            SkipTo(ref json, "objects");
            json.Read(); // [
            var index = 0;
            while (json.Read() && json.TokenType == JsonTokenType.StartObject)
            {
                var id = _file.ObjectIds[index++];
                var type = _file.ObjectTypes[id];
                var offset = OffsetOf(id, null, $"object #{id}");
                while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
                {
                    var isValues = json.ValueTextEquals("values");
                    json.Read();
                    if (isValues)
                    {
                        ReadValues(ref json, id, type, offset);
                    }
                    else
                    {
                        json.Skip();
                    }
                }
            }

            _transaction.Commit();
        }
        finally
        {
            _transaction.Dispose();
        }

        BuildIndexes();
    }

    /// <summary>
    /// Builds the indexes the exported pool kept, over every object now in (a unique one refused first when two objects
    /// hold one value), so the pool opens with them as the original did and no first open has to build them.
    /// </summary>
    private void BuildIndexes()
    {
        var indexes = new List<(uint TypeIndex, int PropertyOffset, PersistentIndexKind Kind)>();
        foreach (var (type, property, kind) in _file.Indexes)
        {
            var typeIndex = _pool.TypeIndex(type.Schema);
            if (kind is PersistentIndexKind.Unique or PersistentIndexKind.HashedUnique &&
                _pool.FirstHeldTwice(typeIndex, property, out var holder, out var value) is var second and not 0)
            {
                var ids = _offsets.Where(pair => pair.Value == holder || pair.Value == second).Select(pair => $"#{pair.Key}").Order(StringComparer.Ordinal);
                throw _file.Error($"type '{type.Name}', property '{property.Name}' is indexed {ExportWriter.IndexName(kind)}, but objects {string.Join(" and ", ids)} both hold {value}");
            }

            indexes.Add((typeIndex, property.Offset, kind));
        }

        _pool.BuildIndexes(indexes);
    }

    private void ReadValues(ref Utf8JsonReader json, long id, TypeShape type, long offset)
    {
        if (json.TokenType != JsonTokenType.StartObject)
        {
            throw _file.Error($"object #{id}: its values are not an object");
        }

        Span<byte> buffer = stackalloc byte[32]; // the widest property value: an Int128? (16 bytes after its flag's padding)
        while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
        {
            var name = _file.GetString(ref json, $"object #{id}, a property name");
            if (!type.ByName.TryGetValue(name, out var property))
            {
                throw _file.Error($"object #{id}: the type '{type.Name}' has no stored property '{name}'");
            }

            json.Read();
            var where = $"object #{id}, property '{name}' ({property.Info.StorageType})";
            var field = offset + property.Offset;
            if (json.TokenType == JsonTokenType.Null && property.Kind != PropertyKind.Scalar)
            {
                continue; // null, no value, or a collection never created: the new object's zeroes say so
            }

            switch (property.Kind)
            {
                case PropertyKind.Scalar or PropertyKind.Nullable:
                    var bytes = buffer[..property.Info.Size];
                    bytes.Clear();
                    var valueOffset = property.NullableValueOffset;
                    if (valueOffset > 0)
                    {
                        bytes[0] = 1;
                    }

                    if (!ScalarText.TryRead(ref json, property.Value.Scalar, bytes.Slice(valueOffset, property.Value.Width)))
                    {
                        throw Mismatch(where, ref json);
                    }

                    _pool.WriteBytesInTransaction(field, bytes);
                    break;
                case PropertyKind.String:
                    _pool.WriteString(field, json.TokenType == JsonTokenType.String ? _file.GetString(ref json, where) : throw Mismatch(where, ref json, "a string"));
                    break;
                case PropertyKind.Reference:
                    _pool.WriteBytesInTransaction(field, BitConverter.GetBytes(_pool.ReferenceTo(Reference(ref json, property.Value, where))));
                    break;
                default:
                    ReadCollection(ref json, property, field, where);
                    break;
            }

            Tick();
        }
    }

    private void ReadCollection(ref Utf8JsonReader json, PropertyShape property, long field, string where)
    {
        if (json.TokenType != JsonTokenType.StartArray)
        {
            throw Mismatch(where, ref json);
        }

        var values = new SchemaCodec(property.Value);
        if (property.Kind == PropertyKind.List)
        {
            var list = new PersistentList<SchemaElement>(_pool, field, values);
            while (json.Read() && json.TokenType != JsonTokenType.EndArray)
            {
                list.Add(Element(ref json, property.Value, where));
                Tick();
            }

            return;
        }

        var key = property.Key!;
        var dictionary = property.Kind == PropertyKind.Dictionary ? new PersistentDictionary<SchemaElement, SchemaElement>(_pool, field, new SchemaCodec(key), values) : null;
        var sorted = dictionary is null ? new PersistentSortedDictionary<SchemaElement, SchemaElement>(_pool, field, new SchemaSortedKeys(key), values) : null;
        while (json.Read() && json.TokenType != JsonTokenType.EndArray)
        {
            SchemaElement k, v = default;
            if (property.Kind == PropertyKind.Set)
            {
                k = Element(ref json, key, where);
            }
            else
            {
                if (json.TokenType != JsonTokenType.StartArray)
                {
                    throw _file.Error($"{where}: an entry is not a [key, value] pair");
                }

                json.Read();
                k = Element(ref json, key, where);
                json.Read();
                v = Element(ref json, property.Value, where);
                if (!json.Read() || json.TokenType != JsonTokenType.EndArray)
                {
                    throw _file.Error($"{where}: an entry is not a [key, value] pair");
                }
            }

            if (key.Kind == ElementKind.String && k.Text is null)
            {
                throw _file.Error($"{where}: a key is null");
            }

            try
            {
                if (dictionary is not null)
                {
                    dictionary.Add(k, v);
                }
                else
                {
                    sorted!.Add(k, v);
                }
            }
            catch (ArgumentException)
            {
                throw _file.Error($"{where}: a key is listed twice");
            }

            Tick();
        }
    }

    private SchemaElement Element(ref Utf8JsonReader json, ElementShape element, string where)
    {
        var value = default(SchemaElement);
        switch (element.Kind)
        {
            case ElementKind.Scalar:
                if (!ScalarText.TryRead(ref json, element.Scalar, ((Span<byte>)value.Bytes)[..element.Width]))
                {
                    throw Mismatch(where, ref json, Wording.WithArticle(element.StorageType));
                }

                break;
            case ElementKind.String:
                value.Text = json.TokenType switch
                {
                    JsonTokenType.String => _file.GetString(ref json, where),
                    JsonTokenType.Null => null,
                    _ => throw Mismatch(where, ref json, "a string"),
                };
                break;
            default:
                value.Target = json.TokenType == JsonTokenType.Null ? 0 : Reference(ref json, element, where);
                break;
        }

        return value;
    }

    /// <summary>The new offset of the object a "#id" names (created now if it was not yet), checked against the target type.</summary>
    private long Reference(ref Utf8JsonReader json, ElementShape element, string where)
    {
        var text = json.TokenType == JsonTokenType.String ? _file.GetString(ref json, where) : null;
        return ExportFile.TryParseId(text, out var id) ? OffsetOf(id, element.Target, where) : throw Mismatch(where, ref json, "an object id like \"#1\"");
    }

    private long OffsetOf(long id, string? target, string where)
    {
        if (!_file.ObjectTypes.TryGetValue(id, out var type))
        {
            throw _file.Error($"{where} refers to #{id}, which the file does not define");
        }

        if (target is not null && type.Name != target)
        {
            throw _file.Error($"{where} refers to #{id}, {Wording.WithArticle(type.Name)}, where {Wording.WithArticle(target)} belongs");
        }

        if (!_offsets.TryGetValue(id, out var offset))
        {
            offset = _pool.NewObject(type.Schema);
            _offsets[id] = offset;
            Tick();
        }

        return offset;
    }

    /// <summary>Counts a write; every <c>transactionSize</c> writes the transaction commits and a new one begins.</summary>
    private void Tick()
    {
        if (++_writes < _transactionSize)
        {
            return;
        }

        _writes = 0;
        _transaction.Commit();
        _transaction.Dispose();
        _transaction = _pool.BeginTransaction();
    }

    /// <summary>A value the schema does not allow; <paramref name="expected"/> comes with its article ("a string").</summary>
    private PoolImportException Mismatch(string where, ref Utf8JsonReader json, string? expected = null) =>
        _file.Error($"{where}: {Describe(ref json)} is not {expected ?? "a value of this type"}");

    private static string Describe(ref Utf8JsonReader json) => json.TokenType switch
    {
        JsonTokenType.String => ExportFile.RawString(ref json),
        JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False => System.Text.Encoding.UTF8.GetString(json.HasValueSequence ? json.ValueSequence.ToArray() : json.ValueSpan),
        JsonTokenType.Null => "null",
        JsonTokenType.StartArray => "an array",
        _ => "an object",
    };

    /// <summary>Moves the reader onto the value of the top-level property <paramref name="name"/> (the first pass checked the structure).</summary>
    private static void SkipTo(ref Utf8JsonReader json, string name)
    {
        json.Read(); // {
        while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
        {
            if (json.ValueTextEquals(name))
            {
                return;
            }

            json.Read();
            json.Skip();
        }
    }
}
