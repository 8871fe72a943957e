using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

/// <summary>
/// <c>pmem compact</c> and <c>pmem check --repair</c>, run as the real tool process (<see cref="ToolHarness.RunProcess"/>)
/// on real pool files: fragmented, damaged, locked, truncated and foreign ones.
/// </summary>
public sealed class CompactRepairTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>A library of 300 books, every other one deleted: a heap with holes in every run.</summary>
    private string FragmentedLibrary()
    {
        var path = _files.PathOf("fragmented.pool");
        using var pool = PersistentPool.Create(path, ToolHarness.Layout, ToolHarness.PoolSize, new PoolCreateOptions { MaxSize = 64 << 20 });
        var library = ToolHarness.Fill(pool, books: 0);
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 3000; i++)
            {
                var book = pool.New<Book>();
                book.Title = $"Book {i} " + new string('*', i % 200);
                book.Pages = i;
                library.Books.Add(book);
            }

            tx.Commit();
        }

        using (var tx = pool.BeginTransaction())
        {
            for (var i = library.Books.Count - 1; i >= 0; i -= 2)
            {
                var book = library.Books[i]!;
                library.Books.RemoveAt(i);
                pool.Delete(book);
            }

            tx.Commit();
        }

        return path;
    }

    /// <summary>A library whose featured book was deleted while still referenced (from the field and from the list), plus a leak.</summary>
    private string DamagedLibrary()
    {
        var path = _files.PathOf("damaged.pool");
        using var pool = PersistentPool.Create(path, ToolHarness.Layout, ToolHarness.PoolSize);
        var library = ToolHarness.Fill(pool, books: 3);
        pool.Delete(library.Featured!);
        pool.New<Book>().Title = "leaked";
        return path;
    }

    [Fact]
    public void Compact_shrinks_a_fragmented_pool_and_keeps_its_objects()
    {
        var path = FragmentedLibrary();
        var before = new FileInfo(path).Length;

        var run = Tool("compact", path);

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains($"{path}: compacted: ", run.Out);
        Assert.True(new FileInfo(path).Length < before);
        Assert.Equal(0, ToolHarness.Run("check", path).ExitCode);
        using var pool = PersistentPool.Open(path, ToolHarness.Layout);
        var library = pool.Root<Library>();
        Assert.Equal(1500, library.Books.Count);
        Assert.Equal(Enumerable.Range(0, 1500).Select(i => i * 2), library.Books.Select(b => b!.Pages));
        Assert.Equal("Tools", library.Name);
    }

    [Fact]
    public void Compact_of_a_pool_with_a_write_ahead_log_names_the_log_it_leaves()
    {
        var path = FragmentedLibrary();
        using (PersistentPool.Open(path, ToolHarness.Layout, new PoolOpenOptions { WriteAheadLog = true }))
        {
        }

        var run = Tool("compact", path);

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains($"note: {path}.wal is not used by the compacted pool until an open with a write-ahead log takes it up", run.Out);
        Assert.True(File.Exists(path + ".wal"));
        Assert.Equal(0, ToolHarness.Run("check", path).ExitCode);
    }

    [Fact]
    public void Compact_json_reports_sizes_before_and_after()
    {
        var path = FragmentedLibrary();
        var before = new FileInfo(path).Length;

        var run = Tool("compact", path, "--json");

        Assert.Equal(0, run.ExitCode);
        var root = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(before, root.GetProperty("sizeBefore").GetInt64());
        Assert.Equal(new FileInfo(path).Length, root.GetProperty("sizeAfter").GetInt64());
        Assert.True(root.GetProperty("liveBytes").GetInt64() <= root.GetProperty("sizeAfter").GetInt64());
        Assert.True(root.GetProperty("blocks").GetInt64() > 3000);
        Assert.Equal(InfoTests.PoolLayoutVersion, root.GetProperty("formatVersionBefore").GetUInt32());
        Assert.Equal(InfoTests.PoolLayoutVersion, root.GetProperty("formatVersionAfter").GetUInt32());
    }

    [Fact]
    public void Compact_of_a_pool_open_elsewhere_says_so_and_changes_nothing()
    {
        var path = _files.CreateLibrary();
        using var pool = PersistentPool.Open(path, ToolHarness.Layout);
        var length = new FileInfo(path).Length;

        var run = Tool("compact", path);

        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.Error.Trim().Split('\n'));
        Assert.Contains("already open", run.Error);
        Assert.Equal(length, new FileInfo(path).Length);
        Assert.False(File.Exists(path + ".compacting"));
    }

    [Fact]
    public void Compact_of_a_damaged_pool_asks_for_a_repair_and_leaves_the_file_byte_identical()
    {
        var path = DamagedLibrary();
        var hash = ToolHarness.Hash(path);

        var run = Tool("compact", path);

        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.Error.Trim().Split('\n'));
        Assert.Contains("pmem check --repair", run.Error);
        Assert.Equal(hash, ToolHarness.Hash(path));
    }

    [Fact]
    public void Compact_of_a_damaged_pool_with_logs_awaiting_recovery_leaves_the_file_byte_identical()
    {
        // An outside tester's case: the refusal came after an open for writing, whose recovery had written the file.
        var path = _files.CrashImage("crashed.pool", books: 5, (library, bytes) =>
        {
            var title = Book.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.String).Offset;
            var text = BitConverter.ToInt64(bytes, (int)(library.Books[4]!.Offset + title));
            BitConverter.TryWriteBytes(bytes.AsSpan((int)text), 1_000_000); // a title longer than its block: check fails
        });

        Assert.Contains("awaiting recovery", ToolHarness.Run("info", path).Out);
        var hash = ToolHarness.Hash(path);

        var run = Tool("compact", path);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("pmem check --repair", run.Error);
        Assert.Equal(hash, ToolHarness.Hash(path));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Compact_backup_export_and_a_repair_backup_keep_a_private_pool_private()
    {
        // An outside tester's case: a 0600 pool came out of compact (and its backups) 0644, and owned by the tool's user.
        var path = DamagedLibrary();
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            ToolHarness.RunProgram("chown", "65534:65534", path);
        }

        var backup = _files.PathOf("copy.pool");
        var export = _files.PathOf("copy.json");
        var repairBackup = _files.PathOf("before-repair.pool");
        Assert.Equal(1, Tool("backup", path, backup).ExitCode); // it copies, then reports the damage
        Assert.Equal(0, Tool("check", path, "--repair", "--apply", "--backup", repairBackup).ExitCode);
        Assert.Equal(0, Tool("export", path, export).ExitCode); // of the repaired pool: an export refuses dangling references
        Assert.Equal(0, Tool("compact", path).ExitCode);

        foreach (var file in new[] { path, backup, export, repairBackup })
        {
            Assert.True(File.GetUnixFileMode(file) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), $"{file}: {File.GetUnixFileMode(file)}");
        }

        if (asRoot)
        {
            Assert.Equal("65534:65534", ToolHarness.RunProgram("stat", "-c", "%u:%g", path).Trim()); // compact replaced it: same owner
        }
    }

    [Theory]
    [InlineData("compact")]
    [InlineData("check", "--repair")]
    [InlineData("check", "--repair", "--apply")]
    public void Truncated_foreign_and_missing_files_get_one_line_and_exit_2(params string[] command)
    {
        var truncated = _files.CreateLibrary("truncated.pool");
        ToolHarness.Truncate(truncated, 100_000);

        var foreign = _files.PathOf("foreign.bin");
        TestFiles.WriteAllBytes(foreign, Enumerable.Range(0, 50_000).Select(i => (byte)(i * 7)).ToArray());
        foreach (var path in new[] { truncated, foreign, _files.PathOf("missing.pool") })
        {
            var hash = File.Exists(path) ? ToolHarness.Hash(path) : null;
            var run = Tool([command[0], path, .. command[1..]]);
            Assert.True(run.ExitCode == 2, $"{path}: {run.ExitCode} {run.Out} {run.Error}");
            Assert.Single(run.Error.Trim().Split('\n'));
            Assert.StartsWith($"pmem {command[0]}", run.Error);
            Assert.Equal(hash, File.Exists(path) ? ToolHarness.Hash(path) : null);
        }

        Assert.Equal(2, Directory.GetFiles(_files.Directory).Length); // no backup or temporary file left
    }

    [Fact]
    public void Repair_dry_run_lists_the_actions_exits_1_and_writes_nothing()
    {
        var path = DamagedLibrary();
        var hash = ToolHarness.Hash(path);

        var run = Tool("check", path, "--repair");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("dry run: the repair would take 2 action(s)", run.Out);
        Assert.Contains("null-reference: the tooltests.library", run.Out);
        Assert.Contains("null-element: the (list)", run.Out);
        Assert.DoesNotContain("would free", run.Out); // the book only All<Book>() finds is kept
        Assert.Equal(hash, ToolHarness.Hash(path));
        Assert.Single(Directory.GetFiles(_files.Directory));

        var freeing = Tool("check", path, "--repair", "--free-detached");

        Assert.Equal(1, freeing.ExitCode);
        Assert.Contains("dry run: the repair would take 4 action(s)", freeing.Out);
        Assert.Contains("would free 1 unreachable tooltests.book block(s) (not reachable from the root)", freeing.Out);
        Assert.Contains("would free 1 unreachable string block(s) (not reachable from the root)", freeing.Out);
        Assert.Equal(hash, ToolHarness.Hash(path));
        Assert.Equal(2, Tool("check", path, "--free-detached").ExitCode); // goes with --repair
    }

    [Fact]
    public void Repair_apply_backs_up_first_then_the_pool_checks_clean()
    {
        var path = DamagedLibrary();
        var original = ToolHarness.ReadBytes(path);
        var backup = _files.PathOf("damaged.backup");

        var run = Tool("check", path, "--repair", "--apply", "--backup", backup, "--json");

        Assert.True(run.ExitCode == 0, run.Out + run.Error);
        var root = JsonDocument.Parse(run.Out).RootElement;
        Assert.True(root.GetProperty("applied").GetBoolean());
        Assert.Equal(backup, root.GetProperty("backup").GetString());
        Assert.Equal(2, root.GetProperty("actions").GetArrayLength());
        Assert.True(root.GetProperty("after").GetProperty("clean").GetBoolean());
        Assert.Equal(2, root.GetProperty("after").GetProperty("detached").GetProperty("tooltests.book").GetInt64() + root.GetProperty("after").GetProperty("detached").GetProperty("string").GetInt64());
        Assert.Equal(original, TestFiles.ReadAllBytes(backup));
        Assert.Equal(0, ToolHarness.Run("check", path).ExitCode);
        using var pool = PersistentPool.Open(path, ToolHarness.Layout);
        var library = pool.Root<Library>();
        Assert.Null(library.Featured);
        Assert.Equal(new string?[] { null, "Book 1", "Book 2" }, library.Books.Select(b => b?.Title));
        Assert.Contains(pool.All<Book>(), b => b.Title == "leaked"); // kept: only --free-detached frees it
    }

    [Fact]
    public void Repair_of_a_clean_pool_has_nothing_to_do()
    {
        var path = _files.CreateLibrary();

        var dryRun = Tool("check", path, "--repair");
        var run = Tool("check", path, "--repair", "--apply");

        Assert.Equal(0, dryRun.ExitCode);
        Assert.Contains("nothing to repair", dryRun.Out);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("0 action(s) applied", run.Out);
        Assert.Contains("clean", run.Out);
    }

    [Fact]
    public void Apply_without_repair_is_a_usage_error()
    {
        var run = ToolHarness.Run("check", _files.CreateLibrary(), "--apply");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--apply, --backup and --free-detached go with --repair", run.Error);
    }

    [Fact]
    public void Compact_that_cannot_write_its_new_file_names_that_file_not_the_pool()
    {
        var path = _files.CreateLibrary();
        var hash = ToolHarness.Hash(path);
        var blocker = path + ".compacting";
        Directory.CreateDirectory(Path.Combine(blocker, "inside")); // where the new pool would go: not a file to replace

        var run = Tool("compact", path, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"pmem compact: cannot write {blocker}: ", Assert.Single(run.Error.Trim().Split('\n')));
        Assert.Equal(blocker, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.Equal(hash, ToolHarness.Hash(path));
    }

    [Fact]
    public void Repair_that_cannot_write_its_copy_names_the_backup_or_the_temporary_directory()
    {
        var path = DamagedLibrary();
        var hash = ToolHarness.Hash(path);
        var missing = _files.PathOf("no-such-directory");
        var backup = Path.Combine(missing, "damaged.backup");
        var existing = _files.PathOf("existing.backup");
        TestFiles.WriteAllBytes(existing, [1, 2, 3]);

        var apply = Tool("check", path, "--repair", "--apply", "--backup", backup, "--json");
        var dryRun = Tool("check", path, "--repair", "--temp-dir", missing);
        var exists = Tool("check", path, "--repair", "--apply", "--backup", existing);

        Assert.Equal(2, apply.ExitCode);
        Assert.StartsWith($"pmem check --repair: cannot write {backup}: ", Assert.Single(apply.Error.Trim().Split('\n')));
        Assert.Equal(backup, JsonDocument.Parse(apply.Out).RootElement.GetProperty("path").GetString());
        Assert.Equal(2, dryRun.ExitCode);
        Assert.StartsWith($"pmem check --repair: cannot write {missing}: ", Assert.Single(dryRun.Error.Trim().Split('\n')));
        Assert.Equal(2, exists.ExitCode);
        Assert.Equal($"pmem check --repair: cannot write {existing}: the backup file exists (--backup names a new file)", exists.Error.Trim());
        Assert.Equal(hash, ToolHarness.Hash(path));
        Assert.Equal([1, 2, 3], TestFiles.ReadAllBytes(existing));
    }

    /// <summary>Runs the built tool as its own process.</summary>
    private static ToolRun Tool(params string[] args) => ToolHarness.RunProcess(args);
}
