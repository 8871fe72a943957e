// ExportCommand -- `pmem export`: a pool's objects, schema and root as a JSON file that `pmem import` turns back into a pool.
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;
using Pmem.Tooling;

namespace Pmem.Tool.Commands;

/// <summary>Exports a pool (from a private copy: the pool file is never written) into a new JSON file.</summary>
internal static class ExportCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string path, string file, bool force, bool json, string? tempDirectory)
    {
        if (PersistentPool.PoolFileNamedBy(file, path) is { } what)
        {
            return Failures.Report(console, "export", file, new IOException($"the destination is {what} (--force does not replace it)"), json, failure: "cannot write");
        }

        if (!force && (File.Exists(file) || Directory.Exists(file)))
        {
            return Failures.Report(console, "export", file, new IOException("the file exists (--force replaces it)"), json, failure: "cannot write");
        }

        var full = Path.GetFullPath(file);
        FileStream? held;
        try
        {
            held = DurableFiles.LockForReplacing(full); // a pool some program has open is never replaced under it
        }
        catch (IOException e)
        {
            return Failures.Report(console, "export", file, e, json, failure: "cannot write");
        }

        PoolSnapshot snapshot;
        try
        {
            snapshot = PoolSnapshot.OpenForReading(console, path, tempDirectory);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            held?.Dispose();
            return Failures.Report(console, "export", path, e, json);
        }

        // Written beside the destination and renamed at the end: a failed export leaves no half file behind.
        DurableFiles.DeleteAbandonedBeside(full, "export"); // what killed exports to this destination left
        var temporary = DurableFiles.TemporaryBeside(full, "export");
        PoolExportResult result;
        using (held)
        using (snapshot)
        {
            try
            {
                using (var working = ProgressReporter.StartIndeterminate(console, "exporting " + path))
                using (var stream = new NamedFileStream(temporary, full))
                {
                    DurableFiles.CopyAccess(path, temporary, owner: false); // the export holds the pool's data: as private as the pool
                    result = PoolExport.Export(snapshot.Pool, stream);
                }

                try
                {
                    DurableFiles.Replace(temporary, full, overwrite: force); // the export and its name survive a power failure
                }
                catch (Exception e) when (FileWriteException.IsWriteFailure(e))
                {
                    throw FileWriteException.Renamed(e, temporary, full);
                }
            }
            catch (FileWriteException e)
            {
                // Writing failed, not reading: named by the destination, not the hidden file it was written as.
                DurableFiles.DeleteQuietly(temporary);
                return Failures.Report(console, "export", file, e.InnerException!, json, failure: "cannot write");
            }
            catch (Exception e) when (Failures.IsReadFailure(e))
            {
                DurableFiles.DeleteQuietly(temporary);
                return Failures.Report(console, "export", path, e, json, failure: "cannot export");
            }
        }

        var bytes = new FileInfo(full).Length;
        if (json)
        {
            Failures.WriteJson(console, new ExportJson(path, file, result.Objects, result.Types, bytes), ToolJsonContext.Output.ExportJson);
        }
        else
        {
            console.Out.WriteLine($"{path}: {console.Good("exported")} {result.Objects} object(s) of {result.Types} type(s) to {file} ({Format.Bytes(bytes)})");
        }

        return ExitCodes.Ok;
    }
}
