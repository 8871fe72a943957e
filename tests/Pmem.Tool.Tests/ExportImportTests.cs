using System.Text;
using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

/// <summary><c>pmem export</c> and <c>pmem import</c>, run as their own processes: round trips, refusals and damaged inputs.</summary>
public sealed class ExportImportTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Export_then_import_gives_a_pool_the_program_opens_with_the_same_objects()
    {
        var source = _files.CreateLibrary(books: 4);
        var before = ToolHarness.Hash(source);
        var file = _files.PathOf("library.json");
        var copy = _files.PathOf("copy.pool");

        var export = ToolHarness.RunProcess("export", source, file);
        var import = ToolHarness.RunProcess("import", file, copy);

        Assert.Equal(0, export.ExitCode);
        Assert.StartsWith($"{source}: exported 5 object(s) of 2 type(s) to {file} (", export.Out);
        Assert.Equal(0, import.ExitCode);
        Assert.StartsWith($"{file}: imported 5 object(s) of 2 type(s) into {copy} (", import.Out);
        Assert.Equal(before, ToolHarness.Hash(source)); // export only reads
        Assert.Equal(0, ToolHarness.RunProcess("check", copy).ExitCode);
        using var pool = PersistentPool.Open(copy, ToolHarness.Layout);
        var library = pool.Root<Library>();
        Assert.Equal("Tools", library.Name);
        Assert.Equal(["Book 0", "Book 1", "Book 2", "Book 3"], library.Books.Select(b => b!.Title));
        Assert.Equal([100, 101, 102, 103], library.Books.Select(b => b!.Pages));
        Assert.Equal(library.Books[0]!.Offset, library.Featured!.Offset); // one object, as in the source
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void Export_and_import_json_report_what_they_did()
    {
        var source = _files.CreateLibrary(books: 2);
        var file = _files.PathOf("library.json");
        var copy = _files.PathOf("copy.pool");

        var export = JsonDocument.Parse(ToolHarness.RunProcess("export", source, file, "--json").Out).RootElement;
        var import = JsonDocument.Parse(ToolHarness.RunProcess("import", file, copy, "--json", "--size", "16M").Out).RootElement;

        Assert.Equal(3, export.GetProperty("objects").GetInt64());
        Assert.Equal(new FileInfo(file).Length, export.GetProperty("bytes").GetInt64());
        Assert.Equal(3, import.GetProperty("objects").GetInt64());
        Assert.Equal(2, import.GetProperty("types").GetInt32());
        Assert.Equal(16L << 20, import.GetProperty("bytes").GetInt64());
    }

    [Fact]
    public void Export_refuses_an_existing_file_unless_forced()
    {
        var source = _files.CreateLibrary();
        var file = _files.PathOf("existing.json");
        File.WriteAllText(file, "keep me");

        var refused = ToolHarness.RunProcess("export", source, file);

        Assert.Equal(2, refused.ExitCode);
        Assert.Equal($"pmem export: cannot write {file}: the file exists (--force replaces it)", refused.Error.TrimEnd());
        Assert.Equal("keep me", File.ReadAllText(file));
        Assert.Equal(0, ToolHarness.RunProcess("export", source, file, "--force").ExitCode);
        Assert.StartsWith("{\"format\":\"pmem-export/1\"", File.ReadAllText(file));
    }

    [Fact]
    public void Import_refuses_an_existing_destination_and_leaves_it_alone()
    {
        var source = _files.CreateLibrary();
        var file = Export(source);
        var other = _files.CreateLibrary("other.pool", books: 1);
        var before = ToolHarness.Hash(other);

        var run = ToolHarness.RunProcess("import", file, other);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"pmem import: cannot write {other}: the destination exists; an import creates a new pool and never replaces one", run.Error.TrimEnd());
        Assert.Equal(before, ToolHarness.Hash(other));
    }

    [Fact]
    public void A_truncated_export_is_one_line_exit_2_and_leaves_nothing_behind()
    {
        var file = Export(_files.CreateLibrary());
        var bytes = TestFiles.ReadAllBytes(file);
        TestFiles.WriteAllBytes(file, bytes[..(bytes.Length * 2 / 3)]);

        AssertRefused(file, "it is not valid JSON (");
    }

    [Fact]
    public void An_export_of_another_format_version_is_refused()
    {
        var file = Edit(Export(_files.CreateLibrary()), json => json.Replace("\"pmem-export/1\"", "\"pmem-export/2\""));

        AssertRefused(file, "its format is 'pmem-export/2'; this version reads 'pmem-export/1'");
    }

    [Fact]
    public void A_json_file_that_is_not_an_export_is_refused()
    {
        var file = _files.PathOf("other.json");
        File.WriteAllText(file, "{\"name\": \"something else\"}");

        AssertRefused(file, "it has an unknown property 'name' (an export has format, layout, poolSize, durability, root, types and objects)");
    }

    [Fact]
    public void A_reference_to_an_id_the_file_does_not_define_is_refused()
    {
        var file = Edit(Export(_files.CreateLibrary()), json => json.Replace("\"Featured\":\"#2\"", "\"Featured\":\"#99\""));

        AssertRefused(file, "object #1, property 'Featured' (reference) refers to #99, which the file does not define");
    }

    [Fact]
    public void A_value_that_does_not_match_the_schema_is_refused()
    {
        var file = Edit(Export(_files.CreateLibrary()), json => json.Replace("\"Pages\":100", "\"Pages\":\"a hundred\""));

        AssertRefused(file, "property 'Pages' (System.Int32): \"a hundred\" is not a value of this type");
    }

    [Fact]
    public void A_reference_to_an_object_of_the_wrong_type_is_refused()
    {
        var file = Edit(Export(_files.CreateLibrary()), json => json.Replace("\"Featured\":\"#2\"", "\"Featured\":\"#1\""));

        AssertRefused(file, "object #1, property 'Featured' (reference) refers to #1, a tooltests.library, where a tooltests.book belongs");
    }

    /// <summary>JSON can escape half a surrogate pair, which no string holds: refused like any bad value, not a crash (exit 3).</summary>
    [Fact]
    public void A_string_with_half_a_surrogate_pair_is_refused_by_place()
    {
        var file = Edit(Export(_files.CreateLibrary()), json => json.Replace("\"Title\":\"Book 0\"", "\"Title\":\"\\ud800\""));

        AssertRefused(file, "object #2, property 'Title' (string): \"\\ud800\" is not valid text (half a surrogate pair, or bytes that are not UTF-8)");
    }

    /// <summary>A property moved onto another's bytes would make writes to one change the other, and check cannot see it.</summary>
    [Fact]
    public void A_type_whose_properties_share_bytes_is_refused_naming_both()
    {
        var file = Edit(Export(_files.CreateLibrary()), json => json.Replace("{\"name\":\"Pages\",\"storageType\":\"System.Int32\",\"offset\":8", "{\"name\":\"Pages\",\"storageType\":\"System.Int32\",\"offset\":4"));

        AssertRefused(file, "type 'tooltests.book': properties 'Title' (offset 0, 8 bytes) and 'Pages' (offset 4, 4 bytes) share bytes");
    }

    [Fact]
    public void Export_of_a_damaged_pool_is_one_line_exit_2_and_writes_no_file()
    {
        var path = _files.CreateLibrary();
        long root;
        using (var pool = PersistentPool.Open(path, ToolHarness.Layout))
        {
            root = pool.Root<Library>().Offset;
        }

        var title = Library.PersistentType.Properties.Single(p => p.Name == "Name").Offset;
        ToolHarness.Poke(path, root + title, BitConverter.GetBytes(root)); // the name "string" is the library itself
        var file = _files.PathOf("damaged.json");

        var run = ToolHarness.RunProcess("export", path, file);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"pmem export: cannot export {path}: the tooltests.library at offset {root}, property 'Name', points to offset {root}, where no string starts", run.Error.TrimEnd());
        Assert.Empty(System.IO.Directory.GetFiles(_files.Directory, "*.json*", SearchOption.AllDirectories).Concat(System.IO.Directory.GetFiles(_files.Directory, ".*")));
    }

    [Fact]
    public void Import_of_a_missing_file_is_one_line_exit_2()
    {
        var file = _files.PathOf("missing.json");

        var run = ToolHarness.RunProcess("import", file, _files.PathOf("new.pool"));

        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem import: cannot import {file}: ", run.Error);
    }

    [Fact]
    public void Export_and_import_into_a_missing_directory_are_one_line_and_exit_2()
    {
        var source = _files.CreateLibrary();
        var file = Export(source);
        var missing = _files.PathOf("no-such-directory");

        var export = ToolHarness.RunProcess("export", source, Path.Combine(missing, "out.json"));
        var import = ToolHarness.RunProcess("import", file, Path.Combine(missing, "new.pool"));

        // Named by the destination, not by the source nor the hidden temporary file the export writes first.
        Assert.Equal(2, export.ExitCode);
        var exportError = Assert.Single(export.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem export: cannot write {Path.Combine(missing, "out.json")}: ", exportError);
        Assert.DoesNotContain(".tmp", exportError);
        Assert.Equal(2, import.ExitCode);
        Assert.Equal($"pmem import: cannot write {Path.Combine(missing, "new.pool")}: its directory {missing} does not exist", Assert.Single(import.Error.TrimEnd().Split('\n')));
        Assert.False(System.IO.Directory.Exists(missing));
    }

    [Fact]
    public void Import_with_a_bad_size_is_refused()
    {
        var file = Export(_files.CreateLibrary());

        var run = ToolHarness.RunProcess("import", file, _files.PathOf("new.pool"), "--size", "lots");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("pmem import: --size takes bytes with an optional K, M or G suffix (like 64M), not 'lots'", run.Error.TrimEnd());
    }

    /// <summary>Imports <paramref name="file"/> and expects exit 2, one line naming the file and <paramref name="message"/>, and no new file.</summary>
    private void AssertRefused(string file, string message)
    {
        var files = System.IO.Directory.GetFiles(_files.Directory).Order().ToList();
        var destination = _files.PathOf("imported.pool");

        var run = ToolHarness.RunProcess("import", file, destination);

        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem import: cannot import {file}: ", line);
        Assert.Contains(message, line);
        Assert.Equal("", run.Out);
        Assert.Equal(files, System.IO.Directory.GetFiles(_files.Directory).Order().ToList()); // no pool, no temporary file
    }

    private string Export(string pool)
    {
        var file = _files.PathOf(Path.GetFileNameWithoutExtension(pool) + ".json");
        Assert.Equal(0, ToolHarness.RunProcess("export", pool, file).ExitCode);
        return file;
    }

    private static string Edit(string file, Func<string, string> change)
    {
        var text = File.ReadAllText(file, Encoding.UTF8);
        var changed = change(text);
        Assert.NotEqual(text, changed); // the edit must hit, or the test proves nothing
        File.WriteAllText(file, changed);
        return file;
    }
}
