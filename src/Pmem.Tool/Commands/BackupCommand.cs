// BackupCommand -- `pmem backup`: copy a pool that no one has open, then check the copy as `pmem check` does.
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;

namespace Pmem.Tool.Commands;

/// <summary>Copies a closed pool file to a new file and checks the copy.</summary>
internal static class BackupCommand
{
    private const string LiveBackupHint =
        "pmem backup copies a pool no program has open for writing; a program that has it open can take a consistent copy while it runs with PersistentPool.Backup, or close it and retry";

    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string source, string destination, bool force, bool json, string? tempDirectory)
    {
        if (Directory.Exists(destination))
        {
            destination = Path.Combine(destination, Path.GetFileName(Path.TrimEndingDirectorySeparator(source)));
        }

        if (string.Equals(Path.GetFullPath(source), Path.GetFullPath(destination), StringComparison.Ordinal))
        {
            return Refuse(console, source, json, new IOException($"{destination}: the destination is the pool itself"));
        }

        if (File.Exists(destination) && !force)
        {
            return Refuse(console, source, json, new IOException($"{destination}: the destination exists (use --force to replace it)"));
        }

        long bytes;
        try
        {
            bytes = Copy(console, source, destination, force);
        }
        catch (PoolLockedException e)
        {
            return Failures.Report(console, "backup", source, e, json, LiveBackupHint);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "backup", source, e, json);
        }

        CheckJson check;
        try
        {
            check = CheckCommand.CheckPool(console, destination, tempDirectory);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            // The copy is the pool's bytes: what fails here fails for the source too. Keep it; say so.
            console.Error.WriteLine($"pmem backup: the copy {destination} was written but does not open, nor would the pool");
            return Failures.Report(console, "backup", destination, e, json);
        }

        if (json)
        {
            Failures.WriteJson(console, new BackupJson(source, destination, bytes, check), ToolJsonContext.Output.BackupJson);
        }
        else
        {
            console.Out.WriteLine($"copied {source} to {destination}: {Format.BytesExact(bytes)}");
            CheckCommand.WriteText(console, check);
        }

        return CheckCommand.ExitCode(check);
    }

    private static int Refuse(ToolConsole console, string source, bool json, IOException reason)
    {
        console.Error.WriteLine($"pmem backup: {reason.Message}");
        if (json)
        {
            Failures.WriteJson(console, new ErrorJson(source, new ErrorDetailJson(nameof(IOException), reason.Message)), ToolJsonContext.Output.ErrorJson);
        }

        return ExitCodes.CannotOpen;
    }

    /// <summary>
    /// Copies under a shared lock into a hidden temporary file beside the destination, flushed to disk, then renamed
    /// over it (the rename made durable too): a failed or interrupted backup never leaves a partial file under the
    /// destination's name.
    /// </summary>
    private static long Copy(ToolConsole console, string source, string destination, bool force)
    {
        using var file = PoolFile.Open(source); // refuses a pool open elsewhere, and anything that is not a pool
        var temporary = DurableFiles.TemporaryBeside(destination);
        try
        {
            using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
            {
                // Every byte written (no holes): a pool later mapped from a sparse file could fault on a full disk.
                var progress = ProgressReporter.Start(console, $"copying {source}");
                file.CopyTo((_, chunk) => output.Write(chunk), skipZeros: false, progress);
                progress?.Done();
                output.Flush(flushToDisk: true);
            }

            DurableFiles.Publish(temporary, destination, overwrite: force); // the rename, too, survives a power failure
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }

        return file.Length;
    }
}
