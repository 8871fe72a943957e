// PoolExport, PoolDump -- the public API of export, import and dump: a pool's objects as JSON and back, or as text, without the program's classes.
using System.Text.Encodings.Web;
using System.Text.Json;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>
/// Saves a pool's objects as JSON and builds a new pool from such a file, using only the schema the pool records
/// (no program classes needed): objects, references (shared objects stay shared, cycles are fine), strings, every
/// collection, every scalar exactly, the root, the layout name and the stored types. The format is described in
/// <c>docs/tool.md</c> ("Export format") and versioned by its <c>"format"</c> field (<see cref="Format"/>).
/// </summary>
/// <example>
/// <code>
/// using (var file = File.Create("shop.json")) PoolExport.Export(pool, file);
/// PoolExport.Import(File.OpenRead("shop.json"), "shop-copy.pool");
/// using var copy = PersistentPool.Open("shop-copy.pool", "shop"); // opens with the program's classes
/// </code>
/// </example>
public static class PoolExport
{
    /// <summary>The format (and version) this release writes and reads: <c>pmem-export/1</c>.</summary>
    public const string Format = ExportWriter.ExportFormat;

    /// <summary>Writes every live object of <paramref name="pool"/> (the root's graph first) as UTF-8 JSON to <paramref name="utf8Json"/>.</summary>
    /// <param name="pool">The pool; only read.</param>
    /// <param name="utf8Json">Where the JSON goes; left open.</param>
    /// <param name="indented">Indent the JSON (bigger, for people); compact by default.</param>
    /// <returns>How many objects and types were written.</returns>
    /// <exception cref="PoolException">A migration is in progress (interrupted: finish it first), or a stored type has no schema record (a format-3 pool the program has not opened since), or a stored type is not one this library stores, or a value the export form cannot carry: a string with half a surrogate pair, a DateTime, DateTimeOffset or decimal whose bytes are no value of its type (the message names the object and property).</exception>
    /// <exception cref="PoolCorruptedException">An object, string, reference or collection cannot be read (the message says which).</exception>
    public static PoolExportResult Export(PersistentPool pool, Stream utf8Json, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(utf8Json);
        if (pool.MigrationUnderWay)
        {
            // Its objects are part in one version of a class and part in the next: no export format holds both.
            throw new PoolException(pool.Path, $"cannot be exported: a migration of {pool.Inspect().MigrationInProgress} is in progress; open the pool with the program version that started it to finish it first");
        }

        var reader = new GraphReader(pool);
        if (reader.Problems.Count > 0)
        {
            throw new PoolException(pool.Path, "cannot be exported: " + reader.Problems[0]);
        }

        using var json = new Utf8JsonWriter(utf8Json, WriterOptions(indented));
        var writer = new ExportWriter(reader, json);
        var root = pool.RootOffset;
        IEnumerable<long> everything = reader.Types.SelectMany(type => pool.AllOfType(type.Name));
        writer.WriteDocument(ExportWriter.ExportFormat, root == 0 ? everything : everything.Prepend(root), withStarts: false);
        return new PoolExportResult(writer.ObjectCount, reader.Types.Count);
    }

    /// <summary>
    /// Creates the pool <paramref name="newPoolPath"/> from an export: the same layout name, types (with the schema
    /// records the program's own registration writes, so it opens with the program's classes), objects, root and
    /// values. It is built in a temporary file beside the destination and renamed at the end: a failed import leaves
    /// nothing behind.
    /// </summary>
    /// <param name="utf8Json">The export (read whole into memory, in pieces: any size the memory holds).</param>
    /// <param name="newPoolPath">The pool to create; must not exist.</param>
    /// <param name="options">The new pool's size and how the file is named in messages.</param>
    /// <returns>What was imported.</returns>
    /// <exception cref="IOException">The destination exists, or the file system refuses the new file (its message then names the destination, not the hidden file written first).</exception>
    /// <exception cref="PoolImportException">The export is not valid JSON, not this format or version, or inconsistent (the message says what and where).</exception>
    /// <exception cref="PoolOutOfSpaceException">The objects do not fit the size given, grown to four times that (the message says so and names the exported pool's size), or the file could not grow.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The size given is below <see cref="PersistentPool.MinimumSize"/>.</exception>
    public static PoolImportResult Import(Stream utf8Json, string newPoolPath, PoolImportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(utf8Json);
        ArgumentException.ThrowIfNullOrEmpty(newPoolPath);
        options ??= new PoolImportOptions();
        if (File.Exists(newPoolPath) || Directory.Exists(newPoolPath))
        {
            throw new IOException($"{newPoolPath}: the destination exists; an import creates a new pool and never replaces one.");
        }

        if (options.Size is > 0 and var given && given < PersistentPool.MinimumSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options), given, $"{newPoolPath}: a pool needs at least {PersistentPool.MinimumSize} bytes; the size given is {given}.");
        }

        var bytes = ExportBytes.ReadAll(utf8Json, options.PieceSize);
        var source = options.SourceName ?? "the export";
        var file = ExportFile.Read(bytes, source);
        var size = options.Size > 0 ? options.Size : Math.Max(file.PoolSize, PersistentPool.MinimumSize);
        if (size > PoolLayout.MaxGrowthLimit)
        {
            throw file.Error($"the pool size {size} is more than a pool can hold ({PoolLayout.MaxGrowthLimit} bytes)");
        }

        var full = Path.GetFullPath(newPoolPath);
        DurableFiles.DeleteAbandonedBeside(full, "import"); // what killed imports to this destination left
        var temporary = DurableFiles.TemporaryBeside(full, "import");
        var limit = Math.Min(size * 4, PoolLayout.MaxGrowthLimit);
        try
        {
            // Nothing reads the file before it is whole and synced by the rename below: no sync per transaction.
            using (var pool = PersistentPool.CreateUnsynced(temporary, file.Layout, size, new PoolCreateOptions { MaxSize = limit, Durability = file.Durability }))
            {
                try
                {
                    new ImportBuilder(file, pool, options.TransactionSize).Build(bytes);
                }
                catch (JsonException e)
                {
                    throw file.Error($"it is not valid JSON ({e.Message})");
                }
                catch (PoolOutOfSpaceException e) when (e.InnerException is { } failure && FileWriteException.IsWriteFailure(failure))
                {
                    throw failure; // the file could not grow (a full disk, a file-size limit): the new pool cannot be written, as below
                }
                catch (PoolOutOfSpaceException e)
                {
                    // Named by the destination, not the temporary file, with the size that would do.
                    throw new PoolOutOfSpaceException(full, e.RequestedBytes, e.InnerException is { } failure
                        ? $"out of space: the pool file could not grow ({failure.Message})"
                        : $"out of space: the export's objects do not fit a pool of {size} bytes grown to its limit of {limit} bytes (the exported pool was {file.PoolSize} bytes); import with a larger size", e.InnerException);
                }
            }

            DurableFiles.Replace(temporary, full, overwrite: false); // the new pool and its name survive a power failure
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            // The new pool could not be written (a full disk, a file-size limit): named by the destination, not the hidden file.
            DurableFiles.DeleteQuietly(temporary);
            throw FileWriteException.Renamed(e, temporary, full);
        }
        catch
        {
            DurableFiles.DeleteQuietly(temporary);
            throw;
        }

        return new PoolImportResult(full, file.ObjectIds.Count, file.Types.Count, new FileInfo(full).Length);
    }

    internal static JsonWriterOptions WriterOptions(bool indented) => new()
    {
        Indented = indented,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // names and text keep their characters; the output never goes into HTML
        SkipValidation = true, // the writer's own structure is right by construction; validation costs a tenth of the time
    };
}

/// <summary>Writes a pool's object graph for people (<c>pmem dump</c>) or scripts, using only the recorded schema.</summary>
public static class PoolDump
{
    /// <summary>
    /// Writes the graph from the root (or from every object of <see cref="PoolDumpOptions.TypeName"/>) as indented
    /// text: each object once with an id, later occurrences as <c>→ #id</c>, strings quoted, collections with their
    /// count and first <see cref="PoolDumpOptions.MaxItems"/> items.
    /// </summary>
    /// <returns>How many objects were shown.</returns>
    /// <exception cref="ArgumentException">The pool stores no type of that name.</exception>
    /// <exception cref="PoolCorruptedException">Something reached cannot be read (the message says which).</exception>
    public static long WriteText(PersistentPool pool, TextWriter output, PoolDumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(output);
        options ??= new PoolDumpOptions();
        var reader = new GraphReader(pool);
        var writer = new DumpWriter(reader, output, options.MaxItems);
        writer.Write(Starts(pool, reader, options));
        return writer.ObjectCount;
    }

    /// <summary>
    /// Writes the same graph as JSON in the export's object form (format <c>pmem-dump/1</c>: every item of every
    /// collection, plus the ids the dump started from).
    /// </summary>
    /// <inheritdoc cref="WriteText" />
    public static long WriteJson(PersistentPool pool, Stream utf8Json, PoolDumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(utf8Json);
        options ??= new PoolDumpOptions();
        var reader = new GraphReader(pool);
        using var json = new Utf8JsonWriter(utf8Json, PoolExport.WriterOptions(indented: true));
        var writer = new ExportWriter(reader, json);
        writer.WriteDocument(ExportWriter.DumpFormat, Starts(pool, reader, options), withStarts: true);
        return writer.ObjectCount;
    }

    private static IEnumerable<long> Starts(PersistentPool pool, GraphReader reader, PoolDumpOptions options)
    {
        if (options.TypeName is { } name)
        {
            if (reader.Find(name) is null)
            {
                // No parameter name: the message is the whole story, shown to people as it is.
                throw new ArgumentException(pool.StoredTypes.Any(t => t.Name == name && !t.IsRetired)
                    ? $"{pool.Path}: the type '{name}' cannot be read: {string.Join("; ", reader.Problems)}"
                    : $"{pool.Path}: the pool stores no type named '{name}' (pmem info lists the stored types)");
            }

            return pool.AllOfType(name);
        }

        return pool.RootOffset == 0 ? [] : [pool.RootOffset];
    }
}

/// <summary>What <see cref="PoolDump"/> shows.</summary>
public sealed record PoolDumpOptions
{
    /// <summary>Start from every object of this durable type name instead of the root.</summary>
    public string? TypeName { get; init; }

    /// <summary>Items shown per collection in text (the JSON lists all); the rest are counted. Default 100.</summary>
    public int MaxItems { get; init; } = 100;
}

/// <summary>How <see cref="PoolExport.Import"/> creates the pool.</summary>
public sealed record PoolImportOptions
{
    /// <summary>The new pool's size in bytes; 0 (the default) takes the exported pool's size. The pool may grow to four times this.</summary>
    public long Size { get; init; }

    /// <summary>How the export is named in error messages (its file name); default "the export".</summary>
    public string? SourceName { get; init; }

    /// <summary>Writes per transaction: bounds the log and memory of a large import. Default 4096.</summary>
    public int TransactionSize { get; init; } = 4096;

    /// <summary>Bytes per piece the export is read in (tests make it small, so that tokens cross pieces).</summary>
    internal int PieceSize { get; init; } = ExportBytes.DefaultPiece;
}

/// <summary>What an export wrote.</summary>
/// <param name="Objects">Objects written.</param>
/// <param name="Types">Stored types written.</param>
public sealed record PoolExportResult(long Objects, int Types);

/// <summary>What an import created.</summary>
/// <param name="Path">The new pool's full path.</param>
/// <param name="Objects">Objects created.</param>
/// <param name="Types">Types recorded.</param>
/// <param name="FileSize">The new pool file's size in bytes.</param>
public sealed record PoolImportResult(string Path, long Objects, int Types, long FileSize);

/// <summary>An export file cannot be imported: not JSON, another format or version, or inconsistent with its own schema. Nothing was created.</summary>
/// <param name="source">The export's name (its file).</param>
/// <param name="message">What is wrong, and where.</param>
public sealed class PoolImportException(string source, string message) : PoolException(source, message);
