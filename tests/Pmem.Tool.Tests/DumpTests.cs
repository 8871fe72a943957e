using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

/// <summary><c>pmem dump</c>, run as its own process: text and JSON, by root or by type, capped collections, damaged pools.</summary>
public sealed class DumpTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Dump_shows_each_object_once_and_later_occurrences_as_references()
    {
        var path = _files.CreateLibrary(books: 3);

        var run = ToolHarness.RunProcess("dump", path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Error);
        var lines = run.Out.Split('\n');
        Assert.Equal("#1 tooltests.library (root)", lines[0]);
        Assert.Contains("  Name: \"Tools\"", lines);
        Assert.Contains("  Books: list<reference> → tooltests.book, 3 items", lines);
        Assert.Contains("    [0]: #2 tooltests.book", lines);
        Assert.Contains("      Title: \"Book 0\"", lines);
        Assert.Contains("    [2]: #4 tooltests.book", lines);
        Assert.Contains("  Featured: → #2", lines); // the featured book, shown above
        Assert.Contains("      Pages: 102", lines);
        Assert.Single(lines, line => line.EndsWith("#2 tooltests.book", StringComparison.Ordinal));
    }

    [Fact]
    public void Dump_of_a_pool_without_a_root_names_the_types_to_dump_and_cuts_long_strings()
    {
        // An outside tester's cases: a Realm-style pool dumped as nothing, exit 0; a 20,000-character value filled the screen.
        var path = _files.PathOf("rootless.pool");
        using (var pool = PersistentPool.Create(path, ToolHarness.Layout, ToolHarness.PoolSize))
        {
            pool.New<Book>().Title = new string('x', 20_000);
            pool.New<Book>().Title = "short";
        }

        var run = ToolHarness.RunProcess("dump", path);
        var byType = ToolHarness.RunProcess("dump", path, "--type", "tooltests.book");

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("(no root object: `pmem dump <pool> --type <name>` shows a type's objects; tooltests.book (2))", run.Out.Trim());
        Assert.Equal(0, byType.ExitCode);
        Assert.Contains($"  Title: \"{new string('x', 200)}\"… (20000 characters)", byType.Out.Split('\n'));
        Assert.Contains("  Title: \"short\"", byType.Out.Split('\n'));
        Assert.Contains(new string('x', 20_000), ToolHarness.RunProcess("dump", path, "--type", "tooltests.book", "--json").Out); // whole

        var withRoot = _files.CreateLibrary("rooted.pool", books: 2);
        using (var pool = PersistentPool.Open(withRoot, ToolHarness.Layout))
        {
            pool.New<Book>(); // found by All<Book>() only
        }

        var lines = ToolHarness.RunProcess("dump", withRoot).Out.TrimEnd().Split('\n');
        Assert.Equal("(1 more object(s) not shown: past --max-items, or not reached from the root; `pmem dump <pool> --type <name>` shows a type's objects)", lines[^1]);
    }

    [Fact]
    public void Dump_by_type_starts_from_every_object_of_the_type()
    {
        var path = _files.CreateLibrary(books: 3);

        var run = ToolHarness.RunProcess("dump", path, "--type", "tooltests.book");

        Assert.Equal(0, run.ExitCode);
        var tops = run.Out.Split('\n').Where(line => line.StartsWith('#')).ToList();
        Assert.Equal(3, tops.Count);
        Assert.All(tops, line => Assert.EndsWith("tooltests.book", line));
        Assert.DoesNotContain("tooltests.library", run.Out);
    }

    [Fact]
    public void Dump_by_type_never_reads_the_objects_of_other_types()
    {
        // A dump by type starts from the heap's blocks of that type: the root, here damaged, is not walked to find them.
        var path = _files.CreateLibrary(books: 3);
        long field;
        using (var pool = PersistentPool.Open(path, ToolHarness.Layout))
        {
            field = pool.Root<Library>().Offset + Library.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.Reference).Offset;
        }

        ToolHarness.Poke(path, field, BitConverter.GetBytes(123L * 64));

        var byType = ToolHarness.RunProcess("dump", path, "--type", "tooltests.book", "--max-items", "1");
        var fromRoot = ToolHarness.RunProcess("dump", path);

        Assert.Equal(0, byType.ExitCode);
        Assert.Equal(3, byType.Out.Split('\n').Count(line => line.StartsWith('#')));
        Assert.Equal(2, fromRoot.ExitCode); // the damage is there to be found
    }

    [Fact]
    public void Dump_caps_long_collections_and_says_how_many_it_left_out()
    {
        var path = _files.CreateLibrary(books: 5);

        var run = ToolHarness.RunProcess("dump", path, "--max-items", "2");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("  Books: list<reference> → tooltests.book, 5 items", run.Out);
        Assert.Contains("    [1]: #3 tooltests.book", run.Out);
        Assert.DoesNotContain("[2]:", run.Out);
        Assert.Contains("    … 3 more (--max-items shows more)", run.Out);
    }

    [Fact]
    public void Dump_json_lists_every_object_once_with_ids()
    {
        var path = _files.CreateLibrary(books: 3);

        var run = ToolHarness.RunProcess("dump", path, "--json");

        Assert.Equal(0, run.ExitCode);
        var root = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal("pmem-dump/1", root.GetProperty("format").GetString());
        Assert.Equal("#1", root.GetProperty("root").GetString());
        Assert.Equal(["#1"], root.GetProperty("start").EnumerateArray().Select(e => e.GetString()));
        var objects = root.GetProperty("objects").EnumerateArray().ToList();
        Assert.Equal(4, objects.Count);
        Assert.Equal(4, objects.Select(o => o.GetProperty("id").GetString()).Distinct().Count());
        var library = objects[0].GetProperty("values");
        Assert.Equal("Tools", library.GetProperty("Name").GetString());
        Assert.Equal(library.GetProperty("Featured").GetString(), library.GetProperty("Books")[0].GetString());
    }

    [Fact]
    public void Dump_of_an_unknown_type_is_one_line_and_exit_2()
    {
        var path = _files.CreateLibrary();

        var run = ToolHarness.RunProcess("dump", path, "--type", "no.such.type");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"pmem dump: cannot read {path}: the pool stores no type named 'no.such.type' (pmem info lists the stored types)", run.Error.TrimEnd());
    }

    [Fact]
    public void Dump_of_a_damaged_pool_is_one_line_exit_2_and_leaves_the_file_alone()
    {
        var path = _files.CreateLibrary();
        long field;
        using (var pool = PersistentPool.Open(path, ToolHarness.Layout))
        {
            var reference = Library.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.Reference);
            field = pool.Root<Library>().Offset + reference.Offset;
        }

        ToolHarness.Poke(path, field, BitConverter.GetBytes(123L * 64)); // points into the header: no object there
        var before = ToolHarness.Hash(path);

        var run = ToolHarness.RunProcess("dump", path);

        Assert.Equal(2, run.ExitCode);
        var error = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.Equal($"pmem dump: cannot read {path}: the tooltests.library at offset {field - Library.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.Reference).Offset}, property 'Featured', points to offset {123 * 64}, where no object starts", error);
        Assert.Equal(before, ToolHarness.Hash(path));
    }

    [Fact]
    public void Dump_json_that_meets_damage_part_way_prints_only_the_error_document()
    {
        var path = _files.CreateLibrary(books: 3);
        long field;
        using (var pool = PersistentPool.Open(path, ToolHarness.Layout))
        {
            var title = Book.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.String);
            field = pool.Root<Library>().Books[2]!.Offset + title.Offset; // the last object the dump reaches
        }

        ToolHarness.Poke(path, field, BitConverter.GetBytes(123L * 64));
        var buffers = _files.PathOf("temp");
        System.IO.Directory.CreateDirectory(buffers);

        var run = ToolHarness.RunProcess("dump", path, "--json", "--temp-dir", buffers);

        Assert.Equal(2, run.ExitCode);
        var document = JsonDocument.Parse(run.Out).RootElement; // stdout is this document alone, not a dump cut off
        Assert.Equal(path, document.GetProperty("path").GetString());
        Assert.Equal("PoolCorruptedException", document.GetProperty("error").GetProperty("kind").GetString());
        Assert.Contains("property 'Title'", document.GetProperty("error").GetProperty("message").GetString());
        Assert.StartsWith($"pmem dump: cannot read {path}: ", Assert.Single(run.Error.TrimEnd().Split('\n')));
        Assert.Empty(System.IO.Directory.GetFileSystemEntries(buffers)); // the buffer was never left under a name
    }

    [Fact]
    public async Task Dump_stops_with_141_when_its_reader_closes_stdout()
    {
        // `pmem dump big.pool | head -1`: .NET's Console.Out ignores EPIPE, and the dump used to run to the end.
        var path = _files.PathOf("many.pool");
        using (var pool = PersistentPool.Create(path, ToolHarness.Layout, 32 << 20))
        using (var tx = pool.BeginTransaction())
        {
            var library = ToolHarness.Fill(pool, books: 0);
            for (var i = 0; i < 5000; i++)
            {
                var book = pool.New<Book>();
                book.Title = $"Book {i} " + new string('*', 100);
                library.Books.Add(book);
            }

            tx.Commit();
        }

        var start = new System.Diagnostics.ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Pmem.Tool"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            ArgumentList = { "dump", path, "--max-items", "100000" }, // about 700 KB: more than a pipe holds
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        Assert.Equal("#1 tooltests.library (root)", process.StandardOutput.ReadLine());
        process.StandardOutput.Close(); // what head does once it has its line

        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "the dump went on after stdout was closed");
        Assert.Equal(141, process.ExitCode);
        Assert.Equal("", await error); // no stack trace, no message: as a program SIGPIPE ends
    }

    [Fact]
    public void Dump_of_a_file_that_is_not_a_pool_is_one_line_and_exit_2()
    {
        var path = _files.PathOf("not-a-pool");
        TestFiles.WriteAllBytes(path, new byte[1 << 20]);

        var run = ToolHarness.RunProcess("dump", path);

        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem dump: cannot open {path}: ", run.Error);
    }
}
