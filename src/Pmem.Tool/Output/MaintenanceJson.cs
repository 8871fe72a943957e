// MaintenanceJson -- the --json shapes of `pmem compact` and `pmem check --repair`, with their source-generated serializer.
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pmem.Tool.Output;

/// <summary><c>pmem compact --json</c>.</summary>
internal sealed record CompactJson(string Path, long SizeBefore, long SizeAfter, long Blocks, long LiveBytes, int RecoveredTransactions, uint FormatVersionBefore, uint FormatVersionAfter)
{
    /// <summary>False when the compacted copy would not have been smaller: the pool was left as it was.</summary>
    public bool Replaced { get; init; } = true;
}

/// <summary><c>pmem check --repair --json</c>: the actions, and with <c>--apply</c> the backup and the check after.</summary>
internal sealed record RepairJson(string Path, bool Applied, string? Backup, IReadOnlyList<RepairActionJson> Actions, CheckJson? After);

/// <summary>One repair action (see <c>Pmem.Tooling.PoolRepairAction</c>).</summary>
internal sealed record RepairActionJson(string Kind, long Offset, string Type, string Description);

/// <summary>The serializer for the maintenance commands' JSON (same options as <see cref="ToolJsonContext.Output"/>).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(CompactJson))]
[JsonSerializable(typeof(RepairJson))]
internal sealed partial class MaintenanceJsonContext : JsonSerializerContext
{
    /// <summary>The context the tool writes with.</summary>
    public static MaintenanceJsonContext Output { get; } = new(new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
