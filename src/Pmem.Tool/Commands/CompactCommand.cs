// CompactCommand -- `pmem compact`: PoolCompaction.Compact on the pool file; reports the sizes before and after.
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;
using Pmem.Tooling;

namespace Pmem.Tool.Commands;

/// <summary>Defragments a pool file and shrinks it (a new file beside it, renamed over it).</summary>
internal static class CompactCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string path, bool json)
    {
        PoolCompactionResult result;
        try
        {
            var layout = LayoutOf(path);
            using var working = ProgressReporter.StartIndeterminate(console, "compacting " + path);
            result = PoolCompaction.Compact(path, layout);
        }
        catch (PoolLockedException e)
        {
            return Failures.Report(console, "compact", path, e, json, "close it everywhere and retry");
        }
        catch (FileWriteException e)
        {
            // The new file beside the pool could not be made (disk full, not writable): the pool is unchanged.
            return Failures.Report(console, "compact", e.File, e.InnerException!, json, failure: "cannot write");
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "compact", path, e, json);
        }

        if (json)
        {
            Failures.WriteJson(console, new CompactJson(result.Path, result.SizeBefore, result.SizeAfter, result.Blocks, result.LiveBytes, result.RecoveredTransactions, result.FormatVersions.Before, result.FormatVersions.After) { Replaced = result.Replaced }, MaintenanceJsonContext.Output.CompactJson);
            return ExitCodes.Ok;
        }

        var saved = result.SizeBefore - result.SizeAfter;
        if (!result.Replaced)
        {
            console.Out.WriteLine($"{path}: {console.Good("already compact")}: a compacted copy would not be smaller than {Format.Bytes(result.SizeBefore)}; the pool is left as it was");
            return ExitCodes.Ok;
        }

        console.Out.WriteLine($"{path}: {console.Good("compacted")}: {Format.Bytes(result.SizeBefore)} -> {Format.Bytes(result.SizeAfter)} ({(result.SizeBefore == 0 ? 0 : saved * 100 / result.SizeBefore)}% smaller)");
        console.Out.WriteLine($"  {result.Blocks:N0} block(s) moved; live bytes {Format.Bytes(result.LiveBytes)} (header, type table, lanes and blocks): the file is {(double)result.SizeAfter / result.LiveBytes:0.00}x that");
        if (result.FormatVersions.Before != result.FormatVersions.After)
        {
            console.Out.WriteLine($"  format version {result.FormatVersions.Before} -> {result.FormatVersions.After} ({(result.FormatVersions.Before < PoolLayout.RoomyLanesVersion
                ? "more log slots per lane, see pmem info; blocks up to 128 KiB share chunks"
                : "blocks up to 128 KiB share chunks")})");
        }

        if (result.RecoveredTransactions > 0)
        {
            console.Out.WriteLine($"  note: {result.RecoveredTransactions} committed log(s) were recovered first");
        }

        if (File.Exists(PersistentPool.WriteAheadLogPath(path)))
        {
            console.Out.WriteLine($"  note: {PersistentPool.WriteAheadLogPath(path)} is not used by the compacted pool until an open with a write-ahead log takes it up; delete it to get its space back");
        }

        return ExitCodes.Ok;
    }

    /// <summary>The layout name the header records (the pool is opened with it), read under a shared lock released at once.</summary>
    /// <exception cref="IOException">Cannot read it (every <see cref="PoolException"/> is one).</exception>
    public static string LayoutOf(string path)
    {
        using var file = PoolFile.Open(path);
        if (!file.Header.LayoutValid)
        {
            throw new PoolCorruptedException(path, "the header's layout name is not valid UTF-8 text");
        }

        return file.Header.Layout;
    }
}
