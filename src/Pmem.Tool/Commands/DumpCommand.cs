// DumpCommand -- `pmem dump`: the object graph from the root (or every object of a type) by the stored schema, as text or JSON.
using Pmem.Tool.Output;
using Pmem.Tool.Pools;
using Pmem.Tooling;

namespace Pmem.Tool.Commands;

/// <summary>Shows a pool's objects without the program's classes, opening a private copy so the file is never written.</summary>
internal static class DumpCommand
{
    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string path, string? type, bool json, int maxItems, string? tempDirectory)
    {
        if (maxItems < 0)
        {
            console.Error.WriteLine($"pmem dump: --max-items must be 0 or more, not {maxItems}");
            return ExitCodes.CannotOpen;
        }

        PoolSnapshot snapshot;
        try
        {
            snapshot = PoolSnapshot.OpenForReading(console, path, tempDirectory);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "dump", path, e, json);
        }

        using (snapshot)
        {
            var options = new PoolDumpOptions { TypeName = type, MaxItems = maxItems };
            try
            {
                if (json)
                {
                    using var stream = new TextWriterStream(console.Out);
                    PoolDump.WriteJson(snapshot.Pool, stream, options);
                    console.Out.WriteLine();
                }
                else
                {
                    PoolDump.WriteText(snapshot.Pool, console.Out, options);
                }
            }
            catch (Exception e) when (Failures.IsReadFailure(e))
            {
                console.Out.Flush();
                return Failures.Report(console, "dump", path, e, json: false, failure: "cannot read");
            }
        }

        return ExitCodes.Ok;
    }
}
