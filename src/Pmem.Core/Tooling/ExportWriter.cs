// ExportWriter -- writes a pool's objects as the versioned JSON export format: the schema, then each object once, references as "#id".
using System.Runtime.InteropServices;
using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>
/// Writes the JSON of <c>pmem export</c> and <c>pmem dump --json</c> (docs/tool.md, "Export format"): the layout name,
/// the stored schema, the root, and every object once under an id (<c>"#1"</c>), other objects named by their ids, so
/// shared objects stay shared and cycles need nothing special. Objects are written as they are found: from the given
/// starting points, then every object they reach (breadth first, an explicit queue: no recursion on deep graphs).
/// </summary>
internal sealed class ExportWriter
{
    public const string ExportFormat = "pmem-export/1";
    public const string DumpFormat = "pmem-dump/1";

    /// <summary>
    /// Bytes the JSON writer may hold before they go to the stream. A <see cref="Utf8JsonWriter"/> over a stream keeps
    /// everything written until <see cref="Utf8JsonWriter.Flush"/>: without this, a whole export or dump sat in memory
    /// (3 M objects, ~450 MB of JSON: 1.4 GB of buffer, bench/RESULTS.md session 32).
    /// </summary>
    private const int FlushAt = 1 << 16;

    private static readonly JsonEncodedText IdName = JsonEncodedText.Encode("id");
    private static readonly JsonEncodedText TypeName = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText ValuesName = JsonEncodedText.Encode("values");

    private readonly GraphReader _reader;
    private readonly Utf8JsonWriter _json;
    private readonly Dictionary<long, long> _ids = [];
    private readonly Queue<long> _pending = new();
    private readonly HashSet<long> _seen = [];
    private readonly byte[] _scratch = new byte[16];

    public ExportWriter(GraphReader reader, Utf8JsonWriter json)
    {
        _reader = reader;
        _json = json;
    }

    /// <summary>Objects written so far.</summary>
    public long ObjectCount => _seen.Count;

    /// <summary>Writes the whole document: header, schema, the objects from <paramref name="starts"/> and all they reach.</summary>
    public void WriteDocument(string format, IEnumerable<long> starts, bool withStarts)
    {
        var pool = _reader.Pool;
        _json.WriteStartObject();
        _json.WriteString("format", format);
        _json.WriteString("layout", pool.Layout);
        _json.WriteNumber("poolSize", pool.Size);
        _json.WriteString("durability", pool.Durability.ToString());
        var root = pool.RootOffset;
        if (withStarts)
        {
            // A dump names the root only when it starts there: the objects of one type may not reach it.
            var listed = starts.ToList();
            starts = listed;
            _json.WritePropertyName("root");
            WriteReference(listed.Contains(root) ? root : 0, follow: false);
            _json.WriteStartArray("start");
            foreach (var start in listed)
            {
                WriteReference(start, follow: false);
            }

            _json.WriteEndArray();
        }
        else
        {
            _json.WritePropertyName("root");
            WriteReference(root, follow: false);
        }

        WriteTypes();
        _json.WriteStartArray("objects");
        foreach (var start in starts)
        {
            Enqueue(start);
            while (_pending.TryDequeue(out var offset))
            {
                WriteObject(offset);
                FlushIfFull();
            }
        }

        _json.WriteEndArray();
        _json.WriteEndObject();
        _json.Flush();
    }

    private void FlushIfFull()
    {
        if (_json.BytesPending >= FlushAt)
        {
            _json.Flush();
        }
    }

    private void WriteTypes()
    {
        _json.WriteStartArray("types");
        foreach (var type in _reader.Types)
        {
            var schema = type.Schema;
            _json.WriteStartObject();
            _json.WriteString("name", schema.Name);
            _json.WriteNumber("version", schema.Version);
            _json.WriteNumber("size", schema.Size);
            _json.WriteString("layoutHash", schema.LayoutHash.ToString("x16"));
            _json.WriteStartArray("properties");
            foreach (var property in schema.Properties)
            {
                _json.WriteStartObject();
                _json.WriteString("name", property.Name);
                _json.WriteString("storageType", property.StorageType);
                _json.WriteNumber("offset", property.Offset);
                _json.WriteNumber("size", property.Size);
                WriteOptional("target", property.Target);
                WriteOptional("group", property.Group);
                if (property.IsNullable)
                {
                    _json.WriteBoolean("nullable", true);
                }

                if (_reader.IndexAt(type, property.Offset) is var index and not PersistentIndexKind.None)
                {
                    _json.WriteString("index", IndexName(index));
                }

                if (property.FormerNames.Length > 0)
                {
                    _json.WriteStartArray("formerNames");
                    foreach (var former in property.FormerNames)
                    {
                        _json.WriteStringValue(former);
                    }

                    _json.WriteEndArray();
                }

                _json.WriteEndObject();
            }

            _json.WriteEndArray();
            _json.WriteEndObject();
        }

        _json.WriteEndArray();
    }

    /// <summary>How the export names an index kind (<c>"indexed"</c>, <c>"unique"</c>, <c>"hashed"</c>, <c>"hashedUnique"</c>).</summary>
    public static string IndexName(PersistentIndexKind kind) => kind switch
    {
        PersistentIndexKind.Unique => "unique",
        PersistentIndexKind.Hashed => "hashed",
        PersistentIndexKind.HashedUnique => "hashedUnique",
        _ => "indexed",
    };

    private void WriteOptional(string name, string? value)
    {
        if (value is not null)
        {
            _json.WriteString(name, value);
        }
    }

    private void Enqueue(long offset)
    {
        if (_seen.Add(offset))
        {
            _pending.Enqueue(offset);
        }
    }

    private void WriteObject(long offset)
    {
        var type = _reader.ShapeAt(offset, new Where("an object", 0, ""));
        var bytes = _reader.ReadObject(offset, type);
        _json.WriteStartObject();
        _json.WritePropertyName(IdName);
        WriteReference(offset, follow: false);
        _json.WriteString(TypeName, type.JsonName);
        _json.WriteStartObject(ValuesName);
        foreach (var property in type.Properties)
        {
            _json.WritePropertyName(property.JsonName);
            WriteProperty(bytes, offset, type, property);
        }

        _json.WriteEndObject();
        _json.WriteEndObject();
    }

    private void WriteProperty(ReadOnlySpan<byte> bytes, long offset, TypeShape type, PropertyShape property)
    {
        var at = bytes[property.Offset..];
        var where = new Where(type.Name, offset, property.Name);
        switch (property.Kind)
        {
            case PropertyKind.Scalar:
                WriteScalar(property.Value, at, where);
                return;
            case PropertyKind.Nullable:
                if (at[0] == 0)
                {
                    _json.WriteNullValue();
                }
                else
                {
                    WriteScalar(property.Value, at[property.NullableValueOffset..], where);
                }

                return;
        }

        var slot = MemoryMarshal.Read<long>(at);
        switch (property.Kind)
        {
            case PropertyKind.String:
                WriteString(_reader.ReadString(slot, where), where);
                return;
            case PropertyKind.Reference:
                if (slot != 0)
                {
                    slot = _reader.CheckReference(slot, property.Value, where);
                }

                WriteReference(slot);
                return;
        }

        if (slot == 0)
        {
            _json.WriteNullValue(); // never created (a collection is made on first use)
            return;
        }

        var (_, entries) = _reader.OpenCollection(slot, property, where);
        _json.WriteStartArray();
        foreach (var (key, value) in entries)
        {
            FlushIfFull(); // a collection of millions is one object
            switch (property.Kind)
            {
                case PropertyKind.List:
                    WriteElement(value, property.Value, where);
                    break;
                case PropertyKind.Set:
                    WriteElement(key, property.Key!, where);
                    break;
                default:
                    _json.WriteStartArray();
                    WriteElement(key, property.Key!, where);
                    WriteElement(value, property.Value, where);
                    _json.WriteEndArray();
                    break;
            }
        }

        _json.WriteEndArray();
    }

    private void WriteElement(long slot, ElementShape element, Where where)
    {
        var value = _reader.ReadElement(slot, element, _scratch, where);
        switch (value.Kind)
        {
            case ElementKind.Scalar:
                WriteScalar(element, _scratch, where);
                break;
            case ElementKind.String:
                WriteString(value.Text, where);
                break;
            default:
                WriteReference(value.Target);
                break;
        }
    }

    /// <summary>
    /// Writes a scalar, refusing by name one whose bytes are no value of its type (a DateTime past year 9999, an
    /// offset beyond 14 hours, a decimal of scale 29): its text would be one an import refuses or reads otherwise.
    /// </summary>
    private void WriteScalar(ElementShape element, ReadOnlySpan<byte> bytes, Where where)
    {
        if (!ScalarText.RoundTrips(element.Scalar, bytes))
        {
            throw new PoolException(_reader.Pool.Path,
                $"cannot be exported: {where} holds bytes {Convert.ToHexString(bytes[..element.Width])} (in file order), which are no {element.StorageType.TrimEnd('?')} an import could read back");
        }

        ScalarText.Write(_json, element.Scalar, bytes);
    }

    private void WriteString(string? text, Where where)
    {
        if (text is null)
        {
            _json.WriteNullValue();
            return;
        }

        // JSON text is Unicode: half a surrogate pair (legal in a .NET string) would be replaced, and the import would
        // differ. Refused by name instead; the vectorized search keeps the common case cheap.
        if (text.AsSpan().IndexOfAnyInRange('\ud800', '\udfff') >= 0 && !IsWellFormed(text))
        {
            throw new PoolException(_reader.Pool.Path, $"cannot be exported: {where} holds a string with half a surrogate pair, which JSON text cannot carry");
        }

        if (text.Length <= StringSegment)
        {
            _json.WriteStringValue(text);
            return;
        }

        // One value is limited to 166,666,666 characters by the JSON writer; a pool holds strings up to .NET's limit.
        for (var start = 0; start < text.Length;)
        {
            var end = Math.Min(start + StringSegment, text.Length);
            end -= end < text.Length && char.IsHighSurrogate(text[end - 1]) ? 1 : 0; // a pair stays in one segment
            _json.WriteStringValueSegment(text.AsSpan(start, end - start), isFinalSegment: end == text.Length);
            start = end;
        }
    }

    /// <summary>Characters per piece of a long string written in pieces (below the writer's limit for one value).</summary>
    internal const int StringSegment = 1 << 20;

    private static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Writes "#id" for an object (queued to be written if it is new), or null for 0.</summary>
    private void WriteReference(long offset, bool follow = true)
    {
        if (offset == 0)
        {
            _json.WriteNullValue();
            return;
        }

        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_ids, offset, out var exists);
        if (!exists)
        {
            id = _ids.Count;
        }

        Span<char> text = stackalloc char[24];
        text[0] = '#';
        id.TryFormat(text[1..], out var written, provider: System.Globalization.CultureInfo.InvariantCulture);
        _json.WriteStringValue(text[..(written + 1)]);
        if (follow)
        {
            Enqueue(offset);
        }
    }
}
