// RepairCommand -- `pmem check --repair [--apply]`: a dry run listing what a repair would do, or a backup then the repair.
using Pmem.Tool.Output;
using Pmem.Tooling;

namespace Pmem.Tool.Commands;

/// <summary>Repairs a pool: by default a dry run on a private copy (the file is not changed); with --apply, for real after a backup.</summary>
internal static class RepairCommand
{
    private const int MaxListedInText = 50;

    /// <summary>Runs the command; returns the exit code (see docs/tool.md).</summary>
    public static int Run(ToolConsole console, string path, bool apply, string? backup, bool freeDetached, bool json, string? tempDirectory)
    {
        if (backup is not null && (File.Exists(backup) || Directory.Exists(backup)))
        {
            return Failures.Report(console, "check --repair", backup, new IOException("the backup file exists (--backup names a new file)"), json, failure: "cannot write");
        }

        PoolRepairResult result;
        CheckJson? after = null;
        try
        {
            var layout = CompactCommand.LayoutOf(path);
            using (ProgressReporter.StartIndeterminate(console, (apply ? "repairing " : "planning the repair of ") + path))
            {
                result = PoolRepair.Run(path, layout, apply, backup, tempDirectory, freeDetached);
            }

            if (apply)
            {
                after = CheckCommand.CheckPool(console, path, tempDirectory);
            }
        }
        catch (FileWriteException e)
        {
            // The copy could not be made: the pool is fine (and unchanged), the place the copy goes is not.
            return Failures.Report(console, "check --repair", e.File, e.InnerException!, json, failure: "cannot write");
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "check --repair", path, e, json);
        }

        if (json)
        {
            var actions = result.Actions.Select(a => new RepairActionJson(a.Kind, a.Offset, a.Type, a.Description)).ToList();
            Failures.WriteJson(console, new RepairJson(path, apply, result.BackupPath, actions, after), MaintenanceJsonContext.Output.RepairJson);
        }
        else
        {
            WriteText(console, result, after, freeDetached);
        }

        // A dry run: 0 when nothing needs doing, 1 when the repair would change something. Applied: the check after.
        return after is not null ? CheckCommand.ExitCode(after) : result.Actions.Count == 0 ? ExitCodes.Ok : ExitCodes.ProblemsFound;
    }

    private static void WriteText(ToolConsole console, PoolRepairResult result, CheckJson? after, bool freeDetached)
    {
        var o = console.Out;
        if (result.Applied)
        {
            o.WriteLine($"{result.Path}: backed up to {result.BackupPath}, then {result.Actions.Count} action(s) applied");
        }
        else if (result.Actions.Count == 0)
        {
            o.WriteLine($"{result.Path}: {console.Good("nothing to repair")}");
        }
        else
        {
            o.WriteLine($"{result.Path}: {console.Warn($"dry run: the repair would take {result.Actions.Count} action(s)")} (nothing was written; add --apply to repair)");
        }

        foreach (var group in result.Actions.Where(a => a.Kind == "free-unreachable").GroupBy(a => a.Type).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            o.WriteLine($"  {(result.Applied ? "freed" : "would free")} {group.Count()} unreachable {group.Key} block(s) ({(freeDetached ? "not reachable from the root" : "nothing holds them")})");
        }

        foreach (var action in result.Actions.Where(a => a.Kind != "free-unreachable").Take(MaxListedInText))
        {
            o.WriteLine($"  {action.Kind}: {action.Description}");
        }

        var listed = result.Actions.Count(a => a.Kind != "free-unreachable");
        if (listed > MaxListedInText)
        {
            o.WriteLine($"  ... and {listed - MaxListedInText} more (--json lists all)");
        }

        if (after is not null)
        {
            CheckCommand.WriteText(console, after);
        }
    }
}
