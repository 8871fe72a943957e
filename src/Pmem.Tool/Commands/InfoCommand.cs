// InfoCommand -- `pmem info`: header, sizes, objects per type, stored types and logs awaiting recovery.
using System.Globalization;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;

namespace Pmem.Tool.Commands;

/// <summary>Describes a pool, opening a private copy so the file is never written.</summary>
internal static class InfoCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string path, bool json, string? tempDirectory)
    {
        InfoJson info;
        try
        {
            using var snapshot = PoolSnapshot.OpenForReading(console, path, tempDirectory);
            using var working = ProgressReporter.StartIndeterminate(console, "counting objects");
            info = Describe(path, snapshot);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "info", path, e, json);
        }

        if (json)
        {
            Failures.WriteJson(console, info, ToolJsonContext.Output.InfoJson);
        }
        else
        {
            WriteText(console, info);
        }

        return ExitCodes.Ok;
    }

    /// <summary>Gathers everything <c>info</c> shows from an opened copy.</summary>
    internal static InfoJson Describe(string path, PoolSnapshot snapshot)
    {
        var pool = snapshot.Pool;
        var h = snapshot.Header;
        var stats = pool.GetStatistics();
        var inspection = pool.Inspect();
        var sizeOf = new Dictionary<string, int>();
        foreach (var type in inspection.StoredTypes)
        {
            sizeOf[type.Name] = type.Size;
        }

        var objects = stats.ObjectsPerType
            .OrderByDescending(pair => pair.Value).ThenBy(pair => pair.Key, StringComparer.Ordinal)
            .Select(pair => new TypeCountJson(pair.Key, pair.Value, sizeOf.TryGetValue(pair.Key, out var size) ? pair.Value * size : null))
            .ToList();
        var storedTypes = inspection.StoredTypes
            .Select(type => new StoredTypeJson(
                type.TypeId.ToString("x16", CultureInfo.InvariantCulture),
                type.Name,
                type.Size,
                type.LayoutHash.ToString("x16", CultureInfo.InvariantCulture),
                type.Fields.Select(field => new FieldJson(field.Offset, KindName(field.Kind))).ToList())
            {
                Version = type.Version,
                Properties = type.Properties.Select(p => new PropertyJson(p.Name, p.StorageType, p.Offset, p.Size, p.Target, p.Group, IndexName(p.Index))).ToList(),
            })
            .ToList();
        var header = new HeaderJson(
            h.FormatVersion,
            h.Layout,
            h.Uuid,
            h.Created,
            h.Durability?.ToString() ?? $"unknown ({h.DurabilityValue})",
            h.PoolSize,
            h.LaneCount,
            h.LaneSize,
            PoolLayout.SlotsPerLane(h.FormatVersion, h.LaneSize),
            h.HeapStart,
            h.ChecksumValid)
        {
            WriteAheadLog = h.WriteAheadLogActive ? PersistentPool.WriteAheadLogPath(path) : null,
            GrowthLimit = h.GrowthLimit,
        };
        var sizes = new SizesJson(stats.PoolSize, stats.HeapSize, stats.AllocatedBytes, stats.FreeChunkBytes, stats.ObjectCount);
        return new InfoJson(path, snapshot.FileLength, header, sizes, pool.RecoveredTransactions, objects, storedTypes) { Migration = inspection.MigrationInProgress };
    }

    private static string KindName(PersistentFieldKind kind) => kind switch
    {
        PersistentFieldKind.String => "string",
        PersistentFieldKind.Reference => "reference",
        PersistentFieldKind.Collection => "collection",
        _ => $"unknown ({(int)kind})",
    };

    /// <summary>How the info output names a property's index: <c>indexed</c>, <c>unique</c>, or null for none.</summary>
    private static string? IndexName(PersistentIndexKind kind) => kind switch
    {
        PersistentIndexKind.Indexed => "indexed",
        PersistentIndexKind.Unique => "unique",
        PersistentIndexKind.Hashed => "hashed",
        PersistentIndexKind.HashedUnique => "hashed, unique",
        _ => null,
    };

    private static void WriteText(ToolConsole console, InfoJson info)
    {
        var o = console.Out;
        var h = info.Header;
        o.WriteLine($"{console.Strong("pool")}         {info.Path}");
        o.WriteLine($"layout       {h.Layout}");
        o.WriteLine($"format       version {h.FormatVersion}");
        o.WriteLine($"uuid         {h.Uuid}");
        o.WriteLine($"created      {(h.Created is { } created ? created.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "(invalid)")}");
        o.WriteLine($"durability   {h.Durability}");
        o.WriteLine($"pool size    {Format.BytesExact(h.PoolSize)}{(info.FileSize != h.PoolSize ? $", file {Format.BytesExact(info.FileSize)}" : "")}");
        o.WriteLine($"grows to     {(h.GrowthLimit > 0 ? Format.BytesExact(h.GrowthLimit) : "never by itself")}");
        o.WriteLine($"lanes        {h.LaneCount} × {Format.Bytes(h.LaneSize)}, {h.LogSlotsPerLane} log slots each");
        o.WriteLine($"heap start   {h.HeapStart}");
        o.WriteLine($"checksum     {(h.ChecksumValid ? console.Good("ok") : console.Bad("FAILED"))}");
        o.WriteLine(info.LogsAwaitingRecovery == 0
            ? "recovery     no logs awaiting recovery"
            : $"recovery     {console.Warn($"{info.LogsAwaitingRecovery} committed log(s) awaiting recovery")} (replayed on a copy; opening the pool will replay them)");

        if (info.Migration is { } migration)
        {
            o.WriteLine($"migration    {console.Warn($"{migration} in progress")} (interrupted: objects are part converted, each read in its own version; open the pool with the program version that started it to finish it)");
        }

        if (h.WriteAheadLog is { } log)
        {
            o.WriteLine($"write-ahead  {console.Warn("active")}: {log} (the pool was not closed cleanly; its commits there are replayed at the next open)");
        }

        var s = info.Sizes;
        o.WriteLine();
        o.WriteLine(console.Strong("space"));
        o.WriteLine($"  heap         {Format.BytesExact(s.HeapSize)}");
        o.WriteLine($"  allocated    {Format.BytesExact(s.AllocatedBytes)} in {s.ObjectCount} block(s)");
        o.WriteLine($"  free chunks  {Format.BytesExact(s.FreeChunkBytes)} (free blocks inside runs not counted)");

        o.WriteLine();
        o.WriteLine(console.Strong("objects"));
        if (info.Objects.Count == 0)
        {
            o.WriteLine("  (none)");
        }
        else
        {
            var width = Math.Max(5, info.Objects.Max(t => t.Count.ToString(CultureInfo.InvariantCulture).Length));
            o.WriteLine($"  {"count".PadLeft(width)}  {"bytes",12}  type");
            foreach (var t in info.Objects)
            {
                var bytes = t.ObjectBytes is { } b ? b.ToString(CultureInfo.InvariantCulture) : "";
                o.WriteLine($"  {t.Count.ToString(CultureInfo.InvariantCulture).PadLeft(width)}  {bytes,12}  {t.Type}");
            }
        }

        o.WriteLine();
        o.WriteLine(console.Strong("stored types"));
        if (info.StoredTypes.Count == 0)
        {
            o.WriteLine("  (none)");
        }

        foreach (var t in info.StoredTypes)
        {
            o.WriteLine($"  {t.Name}  version {t.Version}  {t.Size} bytes  layout {t.LayoutHash}  id {t.TypeId}");
            foreach (var p in t.Properties)
            {
                var target = p.Target is null ? "" : $" -> {p.Target}";
                var index = p.Index is null ? "" : $" [{p.Index}]";
                o.WriteLine($"       +{p.Offset,-5} {p.Name}: {p.StorageType}{target} ({p.Size} bytes){index}");
            }

            if (t.Properties.Count == 0)
            {
                foreach (var f in t.Fields)
                {
                    o.WriteLine($"       +{f.Offset,-5} {f.Kind}");
                }
            }
        }
    }
}
