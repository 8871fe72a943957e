// ImportCommand -- `pmem import`: a new pool built from a `pmem export` file, with no program classes needed.
using System.Globalization;
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;
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
            return Failures.ReportInput(console, "import", file, $"--size takes bytes with an optional K, M or G suffix (like 64M), not '{size}'", json);
        }

        if (size is not null && bytes < PersistentPool.MinimumSize)
        {
            return Failures.ReportInput(console, "import", file, $"--size must be at least {PersistentPool.MinimumSize} bytes ({Format.Bytes(PersistentPool.MinimumSize)}), not {size}", json);
        }

        // Refused here, by the destination's name (the library's message names it only as its prefix).
        if (Directory.Exists(pool) || File.Exists(pool))
        {
            var what = Directory.Exists(pool) ? "the destination is a directory" : "the destination exists";
            return Failures.Report(console, "import", pool, new IOException($"{what}; an import creates a new pool and never replaces one"), json, failure: "cannot write");
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(pool))!;
        if (!Directory.Exists(directory))
        {
            return Failures.Report(console, "import", pool, new DirectoryNotFoundException($"its directory {directory} does not exist"), json, failure: "cannot write");
        }

        PoolImportResult result;
        try
        {
            // A FIFO would block the open until a writer came, and a directory reads as "access denied".
            FileKind.RequireRegularFile(file, allowDeviceDax: false);
            using var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var working = ProgressReporter.StartIndeterminate(console, "importing " + file);
            result = PoolExport.Import(input, pool, new PoolImportOptions { Size = bytes, SourceName = file });
        }
        catch (FileWriteException e)
        {
            return Failures.Report(console, "import", pool, e.InnerException!, json, failure: "cannot write");
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
