// SchemaLockCommand -- `pmem schema-lock`: the schema lock file (pmem.schema.json) for the types a pool records.
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;

namespace Pmem.Tool.Commands;

/// <summary>Writes the lock file the generator checks builds against, from a pool's stored schema (a private copy: the pool is never written).</summary>
internal static class SchemaLockCommand
{
    /// <summary>
    /// Runs the command; returns the exit code. Without <paramref name="file"/> the lock file goes to stdout; with
    /// <paramref name="json"/> failures are JSON documents, and a written file is reported as one.
    /// </summary>
    public static int Run(ToolConsole console, string path, string? file, bool force, bool json, string? tempDirectory)
    {
        if (file is not null && PersistentPool.PoolFileNamedBy(file, path) is { } what)
        {
            return Failures.Report(console, "schema-lock", file, new IOException($"the destination is {what} (--force does not replace it)"), json, failure: "cannot write");
        }

        if (file is not null && !force && (File.Exists(file) || Directory.Exists(file)))
        {
            return Failures.Report(console, "schema-lock", file, new IOException("the file exists (--force replaces it)"), json, failure: "cannot write");
        }

        string text;
        int types;
        try
        {
            using var snapshot = PoolSnapshot.OpenForReading(console, path, tempDirectory);
            var inspection = snapshot.Pool.Inspect();
            text = PersistentSchemaLock.ToJson(inspection);
            types = inspection.StoredTypes.Count;
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "schema-lock", path, e, json);
        }
        catch (ArgumentException e)
        {
            return Failures.Report(console, "schema-lock", path, e, json, failure: "cannot lock");
        }

        if (file is null)
        {
            console.Out.Write(text);
            return ExitCodes.Ok;
        }

        // Written beside the destination and renamed over it: a failed write leaves the old file, or none.
        var full = Path.GetFullPath(file);
        DurableFiles.DeleteAbandonedBeside(full, "lock");
        var temporary = DurableFiles.TemporaryBeside(full, "lock");
        try
        {
            File.WriteAllText(temporary, text);
            DurableFiles.Replace(temporary, full, overwrite: force); // the lock file and its name survive a power failure
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }

            return Failures.Report(console, "schema-lock", file, e, json, failure: "cannot write");
        }

        if (json)
        {
            Failures.WriteJson(console, new SchemaLockJson(path, file, types), ToolJsonContext.Output.SchemaLockJson);
        }
        else
        {
            console.Out.WriteLine($"{path}: {console.Good("locked")} {types} type(s) in {file}");
        }

        return ExitCodes.Ok;
    }
}
