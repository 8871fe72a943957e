// ImportCommand -- `pmem import`: a new pool built from a `pmem export` file, with no program classes needed.
using System.Globalization;
using Pmem.Tool.Output;
using Pmem.Tooling;

namespace Pmem.Tool.Commands;

/// <summary>Creates a new pool from an export; refuses an existing destination and leaves nothing behind when it fails.</summary>
internal static class ImportCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string file, string pool, string? size, bool json)
    {
        long bytes = 0;
        if (size is not null && !TryParseSize(size, out bytes))
        {
            console.Error.WriteLine($"pmem import: --size takes bytes with an optional K, M or G suffix (like 64M), not '{size}'");
            return ExitCodes.CannotOpen;
        }

        PoolImportResult result;
        try
        {
            using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var working = ProgressReporter.StartIndeterminate(console, "importing " + file);
            result = PoolExport.Import(input, pool, new PoolImportOptions { Size = bytes, SourceName = file });
        }
        catch (Exception e) when (Failures.IsReadFailure(e))
        {
            return Failures.Report(console, "import", file, e, json, failure: "cannot import");
        }

        if (json)
        {
            Failures.WriteJson(console, new ImportJson(file, pool, result.Objects, result.Types, result.FileSize), ToolJsonContext.Output.ImportJson);
        }
        else
        {
            console.Out.WriteLine($"{file}: {console.Good("imported")} {result.Objects} object(s) of {result.Types} type(s) into {pool} ({Format.Bytes(result.FileSize)})");
        }

        return ExitCodes.Ok;
    }

    /// <summary>"1048576", "64K", "64M", "2G" (powers of 1024).</summary>
    internal static bool TryParseSize(string text, out long bytes)
    {
        var shift = char.ToUpperInvariant(text.Length > 0 ? text[^1] : ' ') switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            _ => 0,
        };
        var digits = shift == 0 ? text : text[..^1];
        bytes = 0;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0 || value > long.MaxValue >> shift)
        {
            return false;
        }

        bytes = value << shift;
        return true;
    }
}
