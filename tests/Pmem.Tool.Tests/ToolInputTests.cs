using System.IO.Pipes;
using System.Text.Json;

namespace Pmem.Tool.Tests;

/// <summary>
/// Inputs an outside tester gave the tool: empty paths, pipes and FIFOs as pools, bad option values and unknown options
/// with <c>--json</c>. Each is refused with exit 2, one line on stderr and, with <c>--json</c>, the error document on
/// stdout; none is an internal error, none hangs.
/// </summary>
public sealed class ToolInputTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Theory]
    [InlineData("info ''", "<pool>")]
    [InlineData("check ''", "<pool>")]
    [InlineData("check '' --repair", "<pool>")]
    [InlineData("dump ''", "<pool>")]
    [InlineData("compact ''", "<pool>")]
    [InlineData("backup POOL ''", "<dest>")]
    [InlineData("export POOL ''", "<file.json>")]
    [InlineData("schema-lock POOL -o ''", "--output")]
    [InlineData("import '' new.pool", "<file.json>")]
    [InlineData("import x.json ''", "<pool>")]
    [InlineData("check POOL --repair --apply --backup ''", "--backup")]
    [InlineData("info POOL --temp-dir ''", "--temp-dir")]
    public void An_empty_path_is_one_line_and_exit_2(string args, string what)
    {
        var command = args.Split(' ')[0];

        var run = Run(args);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"pmem {command}: the path for {what} is empty", run.Error.TrimEnd());
        Assert.Equal("", run.Out);
    }

    [Fact]
    public void An_empty_path_with_json_prints_the_error_document()
    {
        var run = ToolHarness.Run("check", "", "--json");

        Assert.Equal(2, run.ExitCode);
        AssertErrorDocument(run.Out, "", "CommandLineError", "the path for <pool> is empty");
    }

    [Theory]
    [InlineData("info")]
    [InlineData("check")]
    [InlineData("check --repair")]
    [InlineData("dump")]
    [InlineData("export")]
    [InlineData("schema-lock")]
    [InlineData("compact")]
    [InlineData("backup")]
    public void A_fifo_as_the_pool_is_refused_before_it_is_opened(string command)
    {
        var fifo = MakeFifo("pool.fifo"); // no writer ever comes: opening it for reading would block for good
        string[] args = command switch
        {
            "export" => ["export", fifo, _files.PathOf("out.json"), "--json"],
            "backup" => ["backup", fifo, _files.PathOf("copy.pool"), "--json"],
            "schema-lock" => ["schema-lock", fifo],
            _ => [.. command.Split(' '), fifo, "--json"],
        };

        var run = RunWithin(args);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"pmem {command}: cannot open {fifo}: not a regular file (a pipe or FIFO)", run.Error.TrimEnd());
        if (args.Contains("--json"))
        {
            AssertErrorDocument(run.Out, fifo, "NotRegularFileException", "not a regular file (a pipe or FIFO)");
        }
    }

    [Fact]
    public void A_pipe_as_the_pool_is_refused_not_an_internal_error()
    {
        // What `pmem info <(cat bank.pool)` passes: /dev/fd/N of a pipe, which cannot be read at offsets.
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        var path = $"/proc/self/fd/{pipe.ClientSafePipeHandle.DangerousGetHandle()}";

        var run = RunWithin("info", path);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal($"pmem info: cannot open {path}: not a regular file (a pipe or FIFO)", run.Error.TrimEnd());
    }

    [Fact]
    public void A_directory_or_a_character_device_as_the_pool_is_refused()
    {
        var directory = _files.PathOf("a-directory");
        System.IO.Directory.CreateDirectory(directory);

        var onDirectory = RunWithin("check", directory);
        var onDevice = RunWithin("info", "/dev/null");

        Assert.Equal(2, onDirectory.ExitCode);
        Assert.Equal($"pmem check: cannot open {directory}: not a regular file (a directory)", onDirectory.Error.TrimEnd());
        Assert.Equal(2, onDevice.ExitCode);
        Assert.Equal("pmem info: cannot open /dev/null: not a regular file (a character device that is not Device DAX)", onDevice.Error.TrimEnd());
    }

    [Fact]
    public void Import_refuses_a_fifo_or_a_directory_as_its_input()
    {
        var fifo = MakeFifo("export.fifo");
        var directory = _files.PathOf("exports");
        System.IO.Directory.CreateDirectory(directory);

        var fromFifo = RunWithin("import", fifo, _files.PathOf("a.pool"));
        var fromDirectory = RunWithin("import", directory, _files.PathOf("b.pool"), "--json");

        Assert.Equal(2, fromFifo.ExitCode);
        Assert.Equal($"pmem import: cannot import {fifo}: not a regular file (a pipe or FIFO)", fromFifo.Error.TrimEnd());
        Assert.Equal(2, fromDirectory.ExitCode);
        Assert.Equal($"pmem import: cannot import {directory}: not a regular file (a directory)", fromDirectory.Error.TrimEnd());
        AssertErrorDocument(fromDirectory.Out, directory, "NotRegularFileException", "not a regular file (a directory)");
        Assert.False(File.Exists(_files.PathOf("a.pool")) || File.Exists(_files.PathOf("b.pool")));
    }

    [Fact]
    public void Import_with_a_size_below_the_minimum_says_the_minimum_in_one_line()
    {
        var file = Export(_files.CreateLibrary());
        var minimum = Pmem.Pool.PersistentPool.MinimumSize;

        var run = ToolHarness.Run("import", file, _files.PathOf("new.pool"), "--size", "1K", "--json");

        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem import: --size must be at least {minimum} bytes (", line);
        Assert.DoesNotContain("Parameter", line);
        AssertErrorDocument(run.Out, file, "CommandLineError", line["pmem import: ".Length..]);
        Assert.False(File.Exists(_files.PathOf("new.pool")));
    }

    [Theory]
    [InlineData("import EXPORT NEW --size bad --json", "EXPORT", "CommandLineError", "--size takes bytes with an optional K, M or G suffix (like 64M), not 'bad'")]
    [InlineData("dump POOL --type Nope --json", "POOL", "ArgumentException", "the pool stores no type named 'Nope' (pmem info lists the stored types)")]
    [InlineData("dump POOL --max-items -1 --json", "POOL", "CommandLineError", "--max-items must be 0 or more, not -1")]
    [InlineData("info POOL --bogus --json", "POOL", "CommandLineError", "Unrecognized command or argument '--bogus'.")]
    [InlineData("schema-lock POOL --bogus --json", "POOL", "CommandLineError", "Unrecognized command or argument '--bogus'.")]
    [InlineData("check POOL --repair --backup B --json", "POOL", "CommandLineError", "--backup goes with --repair --apply (a dry run makes no backup).")]
    public void Every_exit_2_with_json_prints_the_error_document(string args, string path, string kind, string message)
    {
        var run = Run(args);

        Assert.Equal(2, run.ExitCode);
        AssertErrorDocument(run.Out, Substitute(path), kind, message);
        Assert.Contains(message, run.Error);
    }

    [Fact]
    public void A_parse_error_without_a_file_has_a_null_path()
    {
        var run = ToolHarness.Run("frobnicate", "--json");

        Assert.Equal(2, run.ExitCode);
        var document = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(JsonValueKind.Null, document.GetProperty("path").ValueKind);
        Assert.Equal("CommandLineError", document.GetProperty("error").GetProperty("kind").GetString());
    }

    [Fact]
    public void Backup_without_apply_is_refused_and_nothing_is_written()
    {
        var pool = _files.CreateLibrary();
        var backup = _files.PathOf("b.pool");

        var run = ToolHarness.Run("check", pool, "--repair", "--backup", backup);

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("pmem check: --backup goes with --repair --apply (a dry run makes no backup).", run.Error);
        Assert.False(File.Exists(backup));
    }

    private static void AssertErrorDocument(string output, string? path, string kind, string message)
    {
        var document = JsonDocument.Parse(output).RootElement; // the whole of stdout, and nothing else
        Assert.Equal(path, document.GetProperty("path").GetString());
        Assert.Equal(kind, document.GetProperty("error").GetProperty("kind").GetString());
        Assert.Equal(message, document.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>Runs a command line written with '' for an empty argument, POOL, EXPORT and NEW for files of this test.</summary>
    private ToolRun Run(string args) => RunWithin(args.Split(' ').Select(a => a == "''" ? "" : Substitute(a)).ToArray());

    private string Substitute(string word) => word switch
    {
        "POOL" => File.Exists(_files.PathOf("library.pool")) ? _files.PathOf("library.pool") : _files.CreateLibrary(),
        "EXPORT" => _files.PathOf("library.json"),
        "NEW" => _files.PathOf("new.pool"),
        "B" => _files.PathOf("b.pool"),
        _ => word,
    };

    /// <summary>Runs in-process, failing (rather than stalling the run) when the tool hangs.</summary>
    private static ToolRun RunWithin(params string[] args)
    {
        var run = Task.Run(() => ToolHarness.Run(args));
        Assert.True(run.Wait(Patience), $"pmem {string.Join(' ', args)} hangs");
        return run.Result;
    }

    private string MakeFifo(string name)
    {
        var path = _files.PathOf(name);
        using var mkfifo = System.Diagnostics.Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    private string Export(string pool)
    {
        var file = _files.PathOf("library.json");
        Assert.Equal(0, ToolHarness.Run("export", pool, file).ExitCode);
        return file;
    }
}
