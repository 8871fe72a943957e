// JsonModels -- the shapes of the --json output (docs/tool.md), serialized through a source-generated context.
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pmem.Tool.Output;

/// <summary><c>pmem info --json</c>.</summary>
internal sealed record InfoJson(
    string Path,
    long FileSize,
    HeaderJson Header,
    SizesJson Sizes,
    int LogsAwaitingRecovery,
    IReadOnlyList<TypeCountJson> Objects,
    IReadOnlyList<StoredTypeJson> StoredTypes)
{
    /// <summary>A migration an open left unfinished ("name version 1 -> 2"), or null.</summary>
    public string? Migration { get; init; }
}

/// <summary>The header fields as stored.</summary>
internal sealed record HeaderJson(
    uint FormatVersion,
    string Layout,
    Guid Uuid,
    DateTime? Created,
    string Durability,
    long PoolSize,
    int LaneCount,
    int LaneSize,
    int LogSlotsPerLane,
    long HeapStart,
    bool ChecksumValid)
{
    /// <summary>The write-ahead log file the header names as active (after a crash), or null.</summary>
    public string? WriteAheadLog { get; init; }

    /// <summary>The size the pool grows to by itself, as its creation recorded it (0: it never grows by itself).</summary>
    public long GrowthLimit { get; init; }
}

/// <summary>Sizes from <c>PersistentPool.GetStatistics()</c>.</summary>
internal sealed record SizesJson(long PoolSize, long HeapSize, long AllocatedBytes, long FreeChunkBytes, long ObjectCount);

/// <summary>Allocated blocks of one durable type; <see cref="ObjectBytes"/> is count × object size for stored types, null otherwise.</summary>
internal sealed record TypeCountJson(string Type, long Count, long? ObjectBytes);

/// <summary>An entry of the pool's type table.</summary>
internal sealed record StoredTypeJson(string TypeId, string Name, int Size, string LayoutHash, IReadOnlyList<FieldJson> Fields)
{
    /// <summary>The class version the pool recorded.</summary>
    public int Version { get; init; } = 1;

    /// <summary>The stored schema: every property (empty for a pool written before schema records).</summary>
    public IReadOnlyList<PropertyJson> Properties { get; init; } = [];
}

/// <summary>One stored property of a type's schema.</summary>
internal sealed record PropertyJson(string Name, string StorageType, int Offset, int Size, string? Target, string? Group, string? Index = null);

/// <summary>A field the pool understands: its offset in the object and what it holds.</summary>
internal sealed record FieldJson(int Offset, string Kind);

/// <summary><c>pmem check --json</c>, and the check part of <c>pmem backup --json</c>.</summary>
internal sealed record CheckJson(
    string Path,
    bool Clean,
    bool Consistent,
    long ReachableObjects,
    long AllocatedObjects,
    int LogsAwaitingRecovery,
    IReadOnlyList<string> Errors,
    IReadOnlyList<long> Unreachable,
    IReadOnlyDictionary<string, long> Detached);

/// <summary><c>pmem backup --json</c>.</summary>
internal sealed record BackupJson(string Source, string Destination, long Bytes, CheckJson Check);

/// <summary><c>pmem export --json</c>.</summary>
internal sealed record ExportJson(string Pool, string File, long Objects, int Types, long Bytes);

/// <summary><c>pmem schema-lock --output &lt;file&gt; --json</c>.</summary>
internal sealed record SchemaLockJson(string Pool, string File, int Types);

/// <summary><c>pmem import --json</c>.</summary>
internal sealed record ImportJson(string File, string Pool, long Objects, int Types, long Bytes);

/// <summary>
/// What every command prints with --json when it fails with exit code 2; <see cref="Path"/> is null for a command line
/// that names no file.
/// </summary>
internal sealed record ErrorJson(string? Path, ErrorDetailJson Error);

/// <summary>The exception's type name (or <c>CommandLineError</c>) and the message stderr shows.</summary>
internal sealed record ErrorDetailJson(string Kind, string Message);

/// <summary>The source-generated serializer for every JSON shape (no reflection: the tool stays trimmable).</summary>
/// <remarks>
/// Use <see cref="Output"/>: the same options plus relaxed escaping, so paths and type names keep their characters
/// ("it's", "Müller") instead of \u escapes; the output goes to a terminal or a script, never into HTML.
/// </remarks>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(InfoJson))]
[JsonSerializable(typeof(CheckJson))]
[JsonSerializable(typeof(BackupJson))]
[JsonSerializable(typeof(ErrorJson))]
[JsonSerializable(typeof(ExportJson))]
[JsonSerializable(typeof(ImportJson))]
[JsonSerializable(typeof(SchemaLockJson))]
internal sealed partial class ToolJsonContext : JsonSerializerContext
{
    /// <summary>The context the tool writes with.</summary>
    public static ToolJsonContext Output { get; } = new(new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
