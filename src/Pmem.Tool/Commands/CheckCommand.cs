// CheckCommand -- `pmem check`: PersistentPool.Check on a private copy; exit 0 clean, 1 problems, 2 cannot open.
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;

namespace Pmem.Tool.Commands;

/// <summary>Checks a pool's object graph, opening a private copy so the file is never written.</summary>
internal static class CheckCommand
{
    private const int MaxListedInText = 20;

    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string path, bool json, string? tempDirectory)
    {
        CheckJson result;
        try
        {
            result = CheckPool(console, path, tempDirectory);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "check", path, e, json);
        }

        if (json)
        {
            Failures.WriteJson(console, result, ToolJsonContext.Output.CheckJson);
        }
        else
        {
            WriteText(console, result);
        }

        return ExitCode(result);
    }

    /// <summary>Opens a copy of <paramref name="path"/> and checks it (what <c>check</c> and <c>backup</c> share).</summary>
    /// <exception cref="IOException">Cannot open (every <see cref="PoolException"/> is one).</exception>
    public static CheckJson CheckPool(ToolConsole console, string path, string? tempDirectory)
    {
        using var snapshot = PoolSnapshot.OpenForReading(console, path, tempDirectory);
        using var working = ProgressReporter.StartIndeterminate(console, "checking " + path);
        var report = snapshot.Pool.Check();
        return new CheckJson(
            path,
            Clean: report.IsClean,
            Consistent: report.IsConsistent,
            report.ReachableObjects,
            report.AllocatedObjects,
            snapshot.Pool.RecoveredTransactions,
            report.Errors,
            report.Unreachable,
            new SortedDictionary<string, long>(report.Detached.ToDictionary(), StringComparer.Ordinal));
    }

    /// <summary>0 when clean (no errors, no unreachable blocks), 1 otherwise.</summary>
    public static int ExitCode(CheckJson result) => result.Clean ? ExitCodes.Ok : ExitCodes.ProblemsFound;

    private static string Found(CheckJson result) => result.Detached.Count == 0
        ? "all reachable from the root"
        : $"{result.ReachableObjects} reachable from the root, {result.Detached.Values.Sum()} detached";

    private static string Detached(CheckJson result) => string.Join(", ", result.Detached.Select(pair => $"{pair.Value} {pair.Key}"));

    /// <summary>The human-readable report.</summary>
    public static void WriteText(ToolConsole console, CheckJson result)
    {
        var o = console.Out;
        if (result.Clean)
        {
            o.WriteLine($"{result.Path}: {console.Good("clean")}: {result.AllocatedObjects} allocated block(s), {Found(result)}, no errors");
        }
        else
        {
            var problems = result.Errors.Count + result.Unreachable.Count;
            o.WriteLine($"{result.Path}: {console.Bad($"{problems} problem(s)")}: {result.Errors.Count} error(s), {result.Unreachable.Count} unreachable block(s) of {result.AllocatedObjects} allocated");
            foreach (var error in result.Errors.Take(MaxListedInText))
            {
                o.WriteLine($"  error: {error}");
            }

            if (result.Errors.Count > MaxListedInText)
            {
                o.WriteLine($"  ... and {result.Errors.Count - MaxListedInText} more error(s) (--json lists all)");
            }

            foreach (var offset in result.Unreachable.Take(MaxListedInText))
            {
                o.WriteLine($"  unreachable: the block at offset {offset}");
            }

            if (result.Unreachable.Count > MaxListedInText)
            {
                o.WriteLine($"  ... and {result.Unreachable.Count - MaxListedInText} more unreachable block(s) (--json lists all)");
            }
        }

        if (result.Detached.Count > 0)
        {
            o.WriteLine($"  detached: {Detached(result)} (the root does not reach them; All<T>() and indexes find them)");
        }

        if (result.LogsAwaitingRecovery > 0)
        {
            o.WriteLine($"  note: {result.LogsAwaitingRecovery} committed log(s) await recovery; checked as the next open will see the pool, after replaying them");
        }
    }
}
