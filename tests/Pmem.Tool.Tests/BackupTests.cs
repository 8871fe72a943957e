using System.Text.Json;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

public sealed class BackupTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Backup_makes_an_identical_copy_that_checks_clean_and_opens()
    {
        var path = _files.CreateLibrary(books: 4);
        var before = ToolHarness.Hash(path);
        var destination = _files.PathOf("backup.pool");

        var run = ToolHarness.Run("backup", path, destination);

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        Assert.Contains("clean", run.Out);
        Assert.Equal(before, ToolHarness.Hash(path));
        Assert.Equal(before, ToolHarness.Hash(destination));
        Assert.Equal(0, ToolHarness.Run("check", destination).ExitCode);
        using var restored = PersistentPool.Open(destination, ToolHarness.Layout);
        Assert.Equal(4, restored.Root<Library>().Books.Count);
        Assert.Empty(Directory.GetFiles(_files.Directory, ".*.tmp"));
    }

    [Theory]
    [InlineData("backup", "backup.pool")]
    [InlineData("export", "export.json")]
    public void Backup_and_export_delete_what_killed_runs_to_their_destination_left(string command, string name)
    {
        var path = _files.CreateLibrary();
        var destination = _files.PathOf(name);
        var abandoned = _files.PathOf($".{name}.{command}-0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(abandoned, new byte[4096]);

        var run = ToolHarness.Run(command, path, destination);

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        Assert.True(File.Exists(destination));
        Assert.Empty(Directory.GetFiles(_files.Directory, ".*.tmp"));
    }

    [Theory]
    [InlineData("export", "")]
    [InlineData("schema-lock", "-o")]
    [InlineData("backup", "")]
    public void No_command_writes_over_the_pool_it_reads_or_its_write_ahead_log_even_with_force(string command, string option)
    {
        // An outside tester's case: export and schema-lock with --force replaced the pool with JSON, and backup
        // replaced the pool's active write-ahead log.
        var path = _files.CreateLibrary();
        var before = ToolHarness.Hash(path);
        var link = _files.PathOf("link.pool");
        File.CreateSymbolicLink(link, path);
        foreach (var (destination, what) in new[] { (path, "the pool itself"), (link, "the pool itself"), (path + ".wal", "the pool's write-ahead log") })
        {
            string[] args = option.Length > 0 ? [command, path, option, destination, "--force"] : [command, path, destination, "--force"];
            var run = ToolHarness.Run(args);
            Assert.True(run.ExitCode == 2, $"{string.Join(' ', args)}: exit {run.ExitCode}: {run.Out} {run.Error}");
            Assert.Contains($"the destination is {what}", run.Error);
            Assert.False(File.Exists(path + ".wal"));
        }

        Assert.Equal(before, ToolHarness.Hash(path));
    }

    [Theory]
    [InlineData("backup")]
    [InlineData("export")]
    public void A_destination_a_program_has_open_is_not_replaced_even_with_force(string command)
    {
        // An outside tester's case: backup --force over a pool a running program had open replaced it under the
        // program, and every transfer it made afterwards was lost.
        var source = _files.CreateLibrary("source.pool", books: 2);
        var live = _files.CreateLibrary("live.pool", books: 5);
        using (var running = PersistentPool.Open(live, ToolHarness.Layout))
        {
            var run = ToolHarness.Run(command, source, live, "--force");
            Assert.True(run.ExitCode == 2, $"exit {run.ExitCode}: {run.Out} {run.Error}");
            Assert.Contains("the destination is open by", run.Error);
            Assert.Equal(5, running.Root<Library>().Books.Count);
        }

        Assert.Empty(Directory.GetFiles(_files.Directory, ".*.tmp"));
        using var reopened = PersistentPool.Open(live, ToolHarness.Layout);
        Assert.Equal(5, reopened.Root<Library>().Books.Count);
    }

    [Fact]
    public void A_backup_stopped_by_a_signal_leaves_no_hidden_copy()
    {
        // An outside tester's case: SIGINT or SIGTERM mid-backup left 0.7-1.2 GB hidden copies nothing removed.
        var path = _files.PathOf("big.pool");
        using (var pool = PersistentPool.Create(path, ToolHarness.Layout, 1L << 30))
        {
            ToolHarness.Fill(pool, books: 3);
        }

        var start = new System.Diagnostics.ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Pmem.Tool"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "backup", path, _files.PathOf("copy.pool") })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Directory.GetFiles(_files.Directory, ".copy.pool.*.tmp").Length == 0 && !process.HasExited && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(1);
        }

        Assert.False(process.HasExited, "the backup ended before its hidden copy was seen: nothing to interrupt");
        // SIGTERM, which the same handler serves as Ctrl-C's SIGINT: a test run in the background inherits SIGINT ignored.
        Assert.Equal(0, Kill(process.Id, 15));
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(143, process.ExitCode);
        Assert.Empty(Directory.GetFiles(_files.Directory, ".*.tmp"));
        Assert.False(File.Exists(_files.PathOf("copy.pool")));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public void Backup_json_reports_the_copy_and_its_check()
    {
        var path = _files.CreateLibrary();
        var destination = _files.PathOf("backup.pool");

        var run = ToolHarness.Run("backup", path, destination, "--json");

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        var root = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(path, root.GetProperty("source").GetString());
        Assert.Equal(destination, root.GetProperty("destination").GetString());
        Assert.Equal(new FileInfo(path).Length, root.GetProperty("bytes").GetInt64());
        Assert.True(root.GetProperty("check").GetProperty("clean").GetBoolean());
        Assert.Equal(destination, root.GetProperty("check").GetProperty("path").GetString());
    }

    [Fact]
    public void Backup_into_a_directory_keeps_the_file_name()
    {
        var path = _files.CreateLibrary("named.pool");
        var directory = _files.PathOf("backups");
        Directory.CreateDirectory(directory);

        var run = ToolHarness.Run("backup", path, directory);

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        Assert.Equal(ToolHarness.Hash(path), ToolHarness.Hash(Path.Combine(directory, "named.pool")));
    }

    [Fact]
    public void Backup_refuses_an_existing_destination_unless_forced()
    {
        var path = _files.CreateLibrary();
        var destination = _files.PathOf("existing.pool");
        File.WriteAllText(destination, "keep me");

        var refused = ToolHarness.Run("backup", path, destination);

        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--force", refused.Error);
        Assert.Equal("keep me", File.ReadAllText(destination));

        var forced = ToolHarness.Run("backup", path, destination, "--force");

        Assert.Equal(0, forced.ExitCode);
        Assert.Equal(ToolHarness.Hash(path), ToolHarness.Hash(destination));
    }

    [Fact]
    public void Backup_of_a_pool_open_elsewhere_is_refused_with_exit_2_and_says_why()
    {
        var path = _files.CreateLibrary();
        var destination = _files.PathOf("backup.pool");
        using var pool = PersistentPool.Open(path, ToolHarness.Layout);

        var run = ToolHarness.Run("backup", path, destination, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"already open by this process ({Environment.ProcessId})", run.Error);
        Assert.Contains("PersistentPool.Backup", run.Error);
        Assert.Equal("PoolLockedException", JsonDocument.Parse(run.Out).RootElement.GetProperty("error").GetProperty("kind").GetString());
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public void Backup_of_a_file_that_is_not_a_pool_writes_nothing()
    {
        var path = _files.PathOf("notes.txt");
        File.WriteAllText(path, new string('x', 10000));
        var destination = _files.PathOf("backup.pool");

        var run = ToolHarness.Run("backup", path, destination);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("not a pool", run.Error);
        Assert.False(File.Exists(destination));
    }

    /// <summary>A damaged source is refused before anything is written, and the error names it, not the copy that was never made.</summary>
    [Theory]
    [InlineData("truncated", "truncated")]
    [InlineData("checksum", "checksum")]
    public void Backup_of_a_damaged_pool_names_the_source_and_writes_nothing(string damage, string reason)
    {
        var path = _files.CreateLibrary();
        if (damage == "truncated")
        {
            ToolHarness.Truncate(path, new FileInfo(path).Length / 2);
        }
        else
        {
            ToolHarness.Poke(path, 40, [7]); // the durability mode, covered by the header checksum
        }

        var destination = _files.PathOf("backup.pool");
        var before = ToolHarness.Hash(path);

        var run = ToolHarness.Run("backup", path, destination, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"pmem backup: cannot open {path}: ", run.Error);
        Assert.Contains(reason, run.Error);
        Assert.DoesNotContain(destination, run.Error);
        Assert.Equal(path, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.False(File.Exists(destination));
        Assert.Empty(Directory.GetFiles(_files.Directory, ".*.tmp"));
        Assert.Equal(before, ToolHarness.Hash(path));

        // Nothing was left to block a retry: the same command refuses for the same reason, not for an existing copy.
        Assert.DoesNotContain("--force", ToolHarness.Run("backup", path, destination).Error);
    }

    [Fact]
    public void Backup_into_a_missing_directory_names_the_destination()
    {
        var path = _files.CreateLibrary();
        var destination = _files.PathOf(Path.Combine("no-such-dir", "backup.pool"));

        var run = ToolHarness.Run("backup", path, destination, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"pmem backup: cannot write {destination}: ", run.Error);
        Assert.DoesNotContain(".tmp", run.Error);
        Assert.Equal(destination, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.False(Directory.Exists(_files.PathOf("no-such-dir")));
    }

    /// <summary>
    /// After a crash a pool with a write-ahead log holds its latest commits only in the log beside it: the backup must
    /// carry them, so the copy opens with the same contents (and the source stays as it was, log and all).
    /// </summary>
    [Fact]
    public void Backup_of_a_crashed_pool_with_a_write_ahead_log_opens_with_the_same_contents()
    {
        var path = _files.PathOf("logged.pool");
        var image = _files.PathOf("crashed.pool");
        ToolHarness.CrashImageWithWriteAheadLog(path, image, books: 4);

        var (poolHash, logHash) = (ToolHarness.Hash(image), ToolHarness.Hash(PersistentPool.WriteAheadLogPath(image)));
        var destination = _files.PathOf("backup.pool");

        var run = ToolHarness.Run("backup", image, destination);

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        Assert.Contains("clean", run.Out);
        Assert.Equal((poolHash, logHash), (ToolHarness.Hash(image), ToolHarness.Hash(PersistentPool.WriteAheadLogPath(image))));
        Assert.Empty(Directory.GetFiles(_files.Directory, ".*.tmp"));
        Assert.Equal(new FileInfo(image).Length, new FileInfo(destination).Length);
        Assert.False(File.Exists(PersistentPool.WriteAheadLogPath(destination))); // one file: the copy needs no log
        Assert.Equal(0, ToolHarness.Run("check", destination).ExitCode);
        using (var restored = PersistentPool.Open(destination, ToolHarness.Layout))
        {
            var books = restored.Root<Library>().Books;
            Assert.Equal(4, books.Count);
            Assert.Equal(["Book 0", "Book 1", "Book 2", "Book 3"], books.Select(book => book!.Title));
        }

        using var original = PersistentPool.Open(image, ToolHarness.Layout);
        Assert.Equal(4, original.Root<Library>().Books.Count);
    }

    [Fact]
    public void Backup_of_a_pool_onto_itself_is_refused()
    {
        var path = _files.CreateLibrary();
        var before = ToolHarness.Hash(path);

        var run = ToolHarness.Run("backup", path, path, "--force");

        Assert.Equal(2, run.ExitCode);
        Assert.Equal(before, ToolHarness.Hash(path));
    }

    [Fact]
    public void Backup_of_a_pool_with_problems_exits_1_and_keeps_the_copy()
    {
        _files.CreateLibraryWithLeak("leak.pool");
        var path = _files.PathOf("leak.pool");

        var destination = _files.PathOf("backup.pool");
        var run = ToolHarness.Run("backup", path, destination);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("unreachable", run.Out);
        Assert.Equal(ToolHarness.Hash(path), ToolHarness.Hash(destination));
    }
}
