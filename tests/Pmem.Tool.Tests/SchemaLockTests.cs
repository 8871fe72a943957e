using Pmem.Objects;

namespace Pmem.Tool.Tests;

/// <summary><c>pmem schema-lock</c>: the lock file from a pool's stored schema, to a file or stdout, never writing the pool.</summary>
public sealed class SchemaLockTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    private static string ClassesLockFile() => PersistentSchemaLock.ToJson([Library.PersistentType, Book.PersistentType]);

    [Fact]
    public void The_lock_file_from_a_pool_is_the_one_its_classes_write_and_the_pool_is_not_written()
    {
        var path = _files.CreateLibrary(books: 2);
        var before = ToolHarness.Hash(path);
        var file = _files.PathOf("pmem.schema.json");

        var run = ToolHarness.RunProcess("schema-lock", path, "--output", file);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Error);
        Assert.Equal($"{path}: locked 2 type(s) in {file}\n", run.Out);
        Assert.Equal(ClassesLockFile(), File.ReadAllText(file));
        Assert.Equal(before, ToolHarness.Hash(path));
    }

    [Fact]
    public void With_json_a_written_lock_file_and_a_failure_are_json_documents()
    {
        // An outside tester's case: the README says every command takes --json; schema-lock refused it.
        var path = _files.CreateLibrary(books: 1);
        var file = _files.PathOf("pmem.schema.json");

        var run = ToolHarness.RunProcess("schema-lock", path, "--output", file, "--json");
        var again = ToolHarness.RunProcess("schema-lock", path, "--output", file, "--json");

        Assert.Equal(0, run.ExitCode);
        var written = System.Text.Json.JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal((path, file, 2), (written.GetProperty("pool").GetString(), written.GetProperty("file").GetString(), written.GetProperty("types").GetInt32()));
        Assert.Equal(ClassesLockFile(), File.ReadAllText(file));
        Assert.Equal(2, again.ExitCode);
        var error = System.Text.Json.JsonDocument.Parse(again.Out).RootElement;
        Assert.Equal(file, error.GetProperty("path").GetString());
        Assert.Contains("the file exists", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public void Without_an_output_file_the_lock_file_goes_to_stdout()
    {
        var path = _files.CreateLibrary(books: 1);

        var run = ToolHarness.Run("schema-lock", path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(ClassesLockFile(), run.Out);
    }

    [Fact]
    public void An_existing_file_is_replaced_only_with_force()
    {
        var path = _files.CreateLibrary(books: 1);
        var file = _files.PathOf("pmem.schema.json");
        File.WriteAllText(file, "{ \"format\": 1, \"types\": [] }\n");

        var refused = ToolHarness.Run("schema-lock", path, "-o", file);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("the file exists (--force replaces it)", refused.Error);
        Assert.Equal("{ \"format\": 1, \"types\": [] }\n", File.ReadAllText(file));

        var forced = ToolHarness.Run("schema-lock", path, "-o", file, "--force");
        Assert.Equal(0, forced.ExitCode);
        Assert.Equal(ClassesLockFile(), File.ReadAllText(file));
        Assert.Empty(Directory.GetFiles(_files.Directory, "*.tmp")); // no temporary left behind
    }

    [Fact]
    public void A_lock_file_that_cannot_be_written_is_reported_and_nothing_is_left_behind()
    {
        var path = _files.CreateLibrary(books: 1);
        var file = Path.Combine(_files.PathOf("no-such-directory"), "pmem.schema.json");

        var run = ToolHarness.Run("schema-lock", path, "-o", file);

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"pmem schema-lock: cannot write {file}: ", run.Error);
        Assert.Single(Directory.GetFileSystemEntries(_files.Directory)); // the pool alone
    }

    [Fact]
    public void A_pool_that_cannot_be_opened_writes_no_lock_file()
    {
        var missing = _files.PathOf("missing.pool");
        var damaged = _files.CreateLibrary(books: 1);
        ToolHarness.Truncate(damaged, 4096);
        var file = _files.PathOf("pmem.schema.json");

        foreach (var pool in new[] { missing, damaged })
        {
            var run = ToolHarness.Run("schema-lock", pool, "-o", file);
            Assert.Equal(2, run.ExitCode);
            Assert.StartsWith($"pmem schema-lock: cannot open {pool}: ", run.Error);
            Assert.False(File.Exists(file));
        }
    }
}
