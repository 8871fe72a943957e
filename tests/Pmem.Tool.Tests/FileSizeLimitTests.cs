// Commands under a file-size limit (ulimit -f): "File too large" and exit 2, not the signal ending the process.
using System.Diagnostics;

namespace Pmem.Tool.Tests;

/// <summary>
/// An outside tester's <c>pmem backup</c> and <c>pmem compact</c> under <c>ulimit -f</c> died of SIGXFSZ (exit 153),
/// leaving their hidden files. The limit is set in a shell that then runs the tool; .NET's W^X double mapping writes
/// a memfd that such a limit would also stop, so it is turned off for the child (not the library's concern).
/// </summary>
public sealed class FileSizeLimitTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>Runs the tool with a file-size limit of <paramref name="kilobytes"/> KiB.</summary>
    private static ToolRun RunLimited(int kilobytes, params string[] args)
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "Pmem.Tool");
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"ulimit -f {kilobytes * 2} && exec \"$0\" \"$@\""); // ulimit -f counts 512-byte blocks
        start.ArgumentList.Add(tool);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "the tool hung");
        return new ToolRun(process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void A_backup_past_the_file_size_limit_is_exit_2_naming_the_backup_and_leaves_no_file()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "ulimit -f is POSIX; the tool runs on Linux");
        var path = _files.CreateLibrary(books: 5);
        var backup = _files.PathOf("copy.pool");
        var before = Directory.GetFiles(_files.Directory).Order().ToList();

        var run = RunLimited(1024, "backup", path, backup); // a pool of several MiB, a limit of 1 MiB

        Assert.True(run.ExitCode == 2, run.Error);
        var error = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem backup: cannot write {backup}: ", error);
        Assert.Contains("too large", error, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, Directory.GetFiles(_files.Directory).Order().ToList());
    }

    [Fact]
    public void An_import_into_a_pool_past_the_file_size_limit_is_exit_2_and_leaves_no_file()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "ulimit -f is POSIX; the tool runs on Linux");
        var export = _files.PathOf("library.json");
        Assert.Equal(0, ToolHarness.RunProcess("export", _files.CreateLibrary(books: 5), export).ExitCode);
        var destination = _files.PathOf("imported.pool");
        var before = Directory.GetFiles(_files.Directory).Order().ToList();

        var run = RunLimited(1024, "import", export, destination, "--size", "8M");

        Assert.True(run.ExitCode == 2, run.Error);
        Assert.Contains("too large", Assert.Single(run.Error.TrimEnd().Split('\n')), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, Directory.GetFiles(_files.Directory).Order().ToList());
    }
}
