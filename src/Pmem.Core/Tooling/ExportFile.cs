// ExportFile -- the first pass over an export file: its format, layout, schema and which object ids of which types it defines.
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Tooling;

/// <summary>
/// What an import learns from reading an export file once without its values: the format version, the layout name,
/// the recorded pool size, the stored types (as the schema records the program's registration would write), the root
/// id and every object's id and type, in file order. Anything malformed throws <see cref="PoolImportException"/>
/// naming what and where.
/// </summary>
internal sealed class ExportFile
{
    private ExportFile(string source) => Source = source;

    /// <summary>The file's name, for messages.</summary>
    public string Source { get; }

    public string Layout { get; private set; } = "";

    public long PoolSize { get; private set; }

    /// <summary>The exported pool's durability mode (<see cref="DurabilityMode.PowerFailure"/> in files that do not say).</summary>
    public DurabilityMode Durability { get; private set; } = DurabilityMode.PowerFailure;

    /// <summary>The indexes the exported pool kept: a type, one of its properties, the kind.</summary>
    public List<(TypeShape Type, PersistentPropertyInfo Property, PersistentIndexKind Kind)> Indexes { get; } = [];

    /// <summary>The root's id, or 0 for none.</summary>
    public long RootId { get; private set; }

    /// <summary>The stored types in the order the source pool recorded them.</summary>
    public List<TypeShape> Types { get; } = [];

    /// <summary>Each object's type by id.</summary>
    public Dictionary<long, TypeShape> ObjectTypes { get; } = [];

    /// <summary>Object ids in file order (the second pass reads values in the same order).</summary>
    public List<long> ObjectIds { get; } = [];

    /// <summary>Reads the file's structure (not its values).</summary>
    /// <exception cref="PoolImportException">It is not valid JSON, not this format or version, or inconsistent.</exception>
    public static ExportFile Read(in ReadOnlySequence<byte> utf8Json, string source)
    {
        var file = new ExportFile(source);
        var json = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 64 });
        try
        {
            file.ReadDocument(ref json);
        }
        catch (JsonException e)
        {
            throw file.Error($"it is not valid JSON ({e.Message})");
        }

        return file;
    }

    /// <summary>An error about the file.</summary>
    public PoolImportException Error(string message) => new(Source, message);

    /// <summary>
    /// The current string or property name as text. JSON can escape half a surrogate pair (<c>"\ud800"</c>) and a file
    /// can hold bytes that are not UTF-8: neither is text a string holds, and the reader refuses to decode them with an
    /// <see cref="InvalidOperationException"/>, no JSON error. Here they are an error naming <paramref name="where"/>.
    /// </summary>
    /// <exception cref="PoolImportException">The string is not valid text.</exception>
    public string GetString(ref Utf8JsonReader json, string where)
    {
        try
        {
            return json.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw Error($"{where}: {RawString(ref json)} is not valid text (half a surrogate pair, or bytes that are not UTF-8)");
        }
    }

    /// <summary>The current string token as the file spells it, quoted, escapes and all (shortened): for messages.</summary>
    public static string RawString(ref Utf8JsonReader json)
    {
        var text = Encoding.UTF8.GetString(json.HasValueSequence ? json.ValueSequence.ToArray() : json.ValueSpan);
        return $"\"{(text.Length <= 40 ? text : text[..40] + "…")}\"";
    }

    /// <summary>Parses "#id" (a positive integer after '#').</summary>
    public static bool TryParseId(string? text, out long id)
    {
        id = 0;
        return text is ['#', _, ..] && long.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out id) && id > 0;
    }

    private void ReadDocument(ref Utf8JsonReader json)
    {
        Next(ref json, JsonTokenType.StartObject, "the file");
        string? format = null;
        var sawObjects = false;
        while (Read(ref json) && json.TokenType == JsonTokenType.PropertyName)
        {
            var name = GetString(ref json, "a property name");
            Read(ref json);
            switch (name)
            {
                case "format":
                    format = Text(ref json, "format");
                    if (format != ExportWriter.ExportFormat)
                    {
                        throw Error(format == ExportWriter.DumpFormat
                            ? "it is a dump (pmem dump --json), not an export: make one with pmem export"
                            : $"its format is '{format}'; this version reads '{ExportWriter.ExportFormat}'");
                    }

                    break;
                case "layout":
                    Layout = Text(ref json, "layout");
                    break;
                case "poolSize":
                    PoolSize = json.TokenType == JsonTokenType.Number && json.TryGetInt64(out var size) && size > 0 ? size : throw Error("'poolSize' is not a positive integer");
                    break;
                case "durability":
                    var mode = Text(ref json, "'durability'");
                    Durability = ParseDurability(mode);
                    break;
                case "root":
                    RootId = json.TokenType == JsonTokenType.Null ? 0 : TryParseId(json.TokenType == JsonTokenType.String ? GetString(ref json, "'root'") : null, out var root) ? root : throw Error("'root' is neither null nor an object id like \"#1\"");
                    break;
                case "types":
                    RequireFormat(format);
                    ReadTypes(ref json);
                    break;
                case "objects":
                    RequireFormat(format);
                    sawObjects = true;
                    ReadObjects(ref json);
                    break;
                default:
                    throw Error($"it has an unknown property '{name}' (an export has format, layout, poolSize, durability, root, types and objects)");
            }
        }

        RequireFormat(format);
        if (Layout.Length == 0 || PoolSize == 0 || !sawObjects)
        {
            throw Error("it lacks its layout, poolSize or objects");
        }

        if (RootId != 0 && !ObjectTypes.ContainsKey(RootId))
        {
            throw Error($"its root #{RootId} is not among its objects");
        }
    }

    private DurabilityMode ParseDurability(string mode)
    {
        foreach (var known in Enum.GetValues<DurabilityMode>())
        {
            if (known.ToString() == mode)
            {
                return known;
            }
        }

        throw Error($"'durability' is \"{mode}\", none of {string.Join(", ", Enum.GetNames<DurabilityMode>().Select(n => $"\"{n}\""))}");
    }

    private void RequireFormat(string? format)
    {
        if (format is null)
        {
            throw Error($"it does not start with its \"format\" (\"{ExportWriter.ExportFormat}\"): not a pmem export");
        }
    }

    private void ReadTypes(ref Utf8JsonReader json)
    {
        Expect(ref json, JsonTokenType.StartArray, "'types'");
        while (Read(ref json) && json.TokenType != JsonTokenType.EndArray)
        {
            Expect(ref json, JsonTokenType.StartObject, "a type");
            string? name = null;
            int version = 1, size = 0;
            ulong hash = 0;
            var properties = new List<PersistentPropertyInfo>();
            var indexes = new List<(PersistentPropertyInfo Property, PersistentIndexKind Kind)>();
            while (Read(ref json) && json.TokenType == JsonTokenType.PropertyName)
            {
                var field = GetString(ref json, $"type '{name}', a field name");
                Read(ref json);
                switch (field)
                {
                    case "name": name = Text(ref json, "a type's name"); break;
                    case "version": version = Int(ref json, "a type's version"); break;
                    case "size": size = Int(ref json, "a type's size"); break;
                    case "layoutHash":
                        hash = ulong.TryParse(Text(ref json, "a type's layoutHash"), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var h) ? h : throw Error($"type '{name}' has a layoutHash that is not hexadecimal");
                        break;
                    case "properties": ReadProperties(ref json, name, properties, indexes); break;
                    default: throw Error($"type '{name}' has an unknown field '{field}'");
                }
            }

            try
            {
                var type = TypeShape.Of(new PersistentTypeInfo(name ?? throw Error("a type has no name"), size, hash, version, [.. properties]));
                RequireDisjoint(type.Name, properties);
                if (Types.Any(t => t.Name == type.Name))
                {
                    throw Error($"type '{type.Name}' is listed twice");
                }

                Types.Add(type);
                Indexes.AddRange(indexes.Select(index => (type, index.Property, index.Kind)));
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                throw Error($"type '{name}' is not a possible stored type: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Refuses properties that share bytes: a write to one would change the other, and a check of the new pool could
    /// not tell (it follows only strings, references and collections). No class the library stores is laid out so.
    /// </summary>
    private void RequireDisjoint(string typeName, List<PersistentPropertyInfo> properties)
    {
        PersistentPropertyInfo? furthest = null; // of the properties before this one (by offset), the one that reaches furthest
        foreach (var property in properties.OrderBy(p => p.Offset))
        {
            if (furthest is not null && property.Offset < furthest.Offset + furthest.Size)
            {
                throw Error($"type '{typeName}': properties {Range(furthest)} and {Range(property)} share bytes");
            }

            if (furthest is null || property.Offset + property.Size > furthest.Offset + furthest.Size)
            {
                furthest = property;
            }
        }

        static string Range(PersistentPropertyInfo p) => $"'{p.Name}' (offset {p.Offset}, {p.Size} bytes)";
    }

    private void ReadProperties(ref Utf8JsonReader json, string? typeName, List<PersistentPropertyInfo> properties, List<(PersistentPropertyInfo Property, PersistentIndexKind Kind)> indexes)
    {
        Expect(ref json, JsonTokenType.StartArray, $"the properties of '{typeName}'");
        while (Read(ref json) && json.TokenType != JsonTokenType.EndArray)
        {
            Expect(ref json, JsonTokenType.StartObject, $"a property of '{typeName}'");
            string? name = null, storage = null, target = null, group = null;
            int offset = -1, size = 0;
            var nullable = false;
            var index = PersistentIndexKind.None;
            var former = new List<string>();
            while (Read(ref json) && json.TokenType == JsonTokenType.PropertyName)
            {
                var field = GetString(ref json, $"a property of '{typeName}', a field name");
                Read(ref json);
                switch (field)
                {
                    case "name": name = Text(ref json, "a property's name"); break;
                    case "storageType": storage = Text(ref json, "a property's storageType"); break;
                    case "offset": offset = Int(ref json, "a property's offset"); break;
                    case "size": size = Int(ref json, "a property's size"); break;
                    case "target": target = Text(ref json, "a property's target"); break;
                    case "group": group = Text(ref json, "a property's group"); break;
                    case "nullable": nullable = json.TokenType == JsonTokenType.True || (json.TokenType == JsonTokenType.False ? false : throw Error("a property's 'nullable' is not true or false")); break;
                    case "index":
                        var kind = Text(ref json, "a property's index");
                        index = Enum.GetValues<PersistentIndexKind>().FirstOrDefault(k => k != PersistentIndexKind.None && ExportWriter.IndexName(k) == kind);
                        if (index == PersistentIndexKind.None)
                        {
                            throw Error($"property '{name}' of '{typeName}' has the index \"{kind}\", none of \"indexed\", \"unique\", \"hashed\", \"hashedUnique\"");
                        }

                        break;
                    case "formerNames":
                        Expect(ref json, JsonTokenType.StartArray, "formerNames");
                        while (Read(ref json) && json.TokenType != JsonTokenType.EndArray)
                        {
                            former.Add(Text(ref json, "a former name"));
                        }

                        break;
                    default: throw Error($"a property of '{typeName}' has an unknown field '{field}'");
                }
            }

            try
            {
                // Registered without its index: an import builds indexes once the objects are in (ImportBuilder).
                properties.Add(new PersistentPropertyInfo(name!, storage!, offset, size, group, target, nullable, [.. former]));
            }
            catch (ArgumentException e)
            {
                throw Error($"property '{name}' of '{typeName}' is not possible: {e.Message}");
            }

            if (index != PersistentIndexKind.None)
            {
                try
                {
                    IndexOperations.For(storage!);
                }
                catch (NotSupportedException)
                {
                    throw Error($"property '{name}' of '{typeName}' is stored as {storage}, which cannot be indexed");
                }

                indexes.Add((properties[^1], index));
            }
        }
    }

    private void ReadObjects(ref Utf8JsonReader json)
    {
        Expect(ref json, JsonTokenType.StartArray, "'objects'");
        var byName = Types.ToDictionary(t => t.Name, StringComparer.Ordinal);
        while (Read(ref json) && json.TokenType != JsonTokenType.EndArray)
        {
            Expect(ref json, JsonTokenType.StartObject, $"object {ObjectIds.Count + 1} of 'objects'");
            long id = 0;
            TypeShape? type = null;
            while (Read(ref json) && json.TokenType == JsonTokenType.PropertyName)
            {
                var field = GetString(ref json, $"object {ObjectIds.Count + 1}, a field name");
                Read(ref json);
                switch (field)
                {
                    case "id":
                        id = TryParseId(json.TokenType == JsonTokenType.String ? GetString(ref json, $"object {ObjectIds.Count + 1}, its id") : null, out var parsed) ? parsed : throw Error($"object {ObjectIds.Count + 1} has an id that is not like \"#1\"");
                        break;
                    case "type":
                        var name = Text(ref json, "an object's type");
                        type = byName.GetValueOrDefault(name) ?? throw Error($"object {ObjectIds.Count + 1} has the type '{name}', which 'types' (listed before 'objects') does not define");
                        break;
                    case "values":
                        json.Skip();
                        break;
                    default:
                        throw Error($"object {ObjectIds.Count + 1} has an unknown field '{field}'");
                }
            }

            if (id == 0 || type is null)
            {
                throw Error($"object {ObjectIds.Count + 1} lacks its id or type");
            }

            if (!ObjectTypes.TryAdd(id, type))
            {
                throw Error($"object id #{id} is defined twice");
            }

            ObjectIds.Add(id);
        }
    }

    private string Text(ref Utf8JsonReader json, string what) =>
        json.TokenType == JsonTokenType.String ? GetString(ref json, what) : throw Error($"{what} is not a string");

    private int Int(ref Utf8JsonReader json, string what) =>
        json.TokenType == JsonTokenType.Number && json.TryGetInt32(out var value) ? value : throw Error($"{what} is not an integer");

    private void Expect(ref Utf8JsonReader json, JsonTokenType type, string what)
    {
        if (json.TokenType != type)
        {
            throw Error($"{what} is not {(type == JsonTokenType.StartArray ? "an array" : "an object")}");
        }
    }

    private void Next(ref Utf8JsonReader json, JsonTokenType type, string what)
    {
        Read(ref json);
        Expect(ref json, type, what);
    }

    /// <summary>Reads the next token; the end of the data before the document's end is a truncated file.</summary>
    private bool Read(ref Utf8JsonReader json) => json.Read() ? true : throw Error("it ends before its JSON does (truncated?)");
}
