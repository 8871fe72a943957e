// DumpCommand -- `pmem dump`: the object graph from the root (or every object of a type) by the stored schema, as text or JSON.
using Pmem.Pool;
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
            return Failures.ReportInput(console, "dump", path, $"--max-items must be 0 or more, not {maxItems}", json);
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
            if (json)
            {
                return WriteJson(console, snapshot, path, options, tempDirectory);
            }

            try
            {
                var shown = PoolDump.WriteText(snapshot.Pool, console.Out, options);
                if (type is null)
                {
                    // A program without a root (as Realm's are) keeps everything out of the root's graph: say where it is.
                    if ((shown == 0 ? NoRoot(snapshot.Pool) : NotShown(snapshot.Pool, shown)) is { } note)
                    {
                        console.Out.WriteLine(note);
                    }
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

    /// <summary>What a dump of a pool without a root says: which types hold objects, for <c>--type</c>.</summary>
    private static string NoRoot(PersistentPool pool)
    {
        var types = ObjectsPerStoredType(pool).Where(pair => pair.Objects > 0).Select(pair => $"{pair.Name} ({pair.Objects})").ToList();
        return types.Count == 0
            ? "(no root object, and no objects)"
            : $"(no root object: `pmem dump <pool> --type <name>` shows a type's objects; {string.Join(", ", types)})";
    }

    /// <summary>The line after a dump from the root that left objects out (past --max-items, or not reached from the root), or null.</summary>
    private static string? NotShown(PersistentPool pool, long shown)
    {
        var objects = ObjectsPerStoredType(pool).Sum(pair => pair.Objects);
        return objects > shown
            ? $"({objects - shown} more object(s) not shown: past --max-items, or not reached from the root; `pmem dump <pool> --type <name>` shows a type's objects)"
            : null;
    }

    /// <summary>Objects of each persistent class the pool stores (a class's layouts counted once, under its name).</summary>
    private static IEnumerable<(string Name, long Objects)> ObjectsPerStoredType(PersistentPool pool)
    {
        var counts = pool.GetStatistics().ObjectsPerType;
        return pool.Inspect().StoredTypes.Select(t => t.Name).Distinct().Select(name => (name, counts.GetValueOrDefault(name)));
    }

    /// <summary>
    /// Writes the JSON into an unnamed temporary file first and copies it to stdout only when whole: damage met
    /// part-way then leaves stdout holding only the error document, never a document cut off. A file rather than
    /// memory, since a large pool's JSON can be larger than the memory the dump itself needs.
    /// </summary>
    private static int WriteJson(ToolConsole console, PoolSnapshot snapshot, string path, PoolDumpOptions options, string? tempDirectory)
    {
        var directory = tempDirectory ?? Path.GetTempPath();
        var name = Path.Combine(directory, $".pmem-dump-{Guid.NewGuid():N}.json");
        NamedFileStream? buffer = null;
        try
        {
            buffer = new NamedFileStream(name, directory);
            File.Delete(name); // unlinked at once: the open handle keeps it, and not even a killed dump leaves it behind
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            buffer?.Dispose();
            var reason = e is FileWriteException named ? named.InnerException!.Message : e.Message.Replace(name, directory, StringComparison.Ordinal);
            return Failures.Report(console, "dump", directory, new IOException($"the temporary file for the JSON cannot be made: {reason}", e), json: true, failure: "cannot write in");
        }

        using (buffer)
        {
            try
            {
                PoolDump.WriteJson(snapshot.Pool, buffer, options);
                buffer.Flush(); // all of it in the file before it is read back
            }
            catch (FileWriteException e)
            {
                return Failures.Report(console, "dump", directory, new IOException($"the temporary file for the JSON cannot be written: {e.InnerException!.Message}", e), json: true, failure: "cannot write in");
            }
            catch (Exception e) when (Failures.IsReadFailure(e))
            {
                return Failures.Report(console, "dump", path, e, json: true, failure: "cannot read");
            }

            buffer.Inner.Position = 0;
            using (var output = new TextWriterStream(console.Out))
            {
                buffer.Inner.CopyTo(output, 1 << 16);
            }

            console.Out.WriteLine();
        }

        return ExitCodes.Ok;
    }
}
