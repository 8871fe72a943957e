using System.Diagnostics;

namespace Pmem.Tool.Tests;

/// <summary>
/// Packs the tool, installs it with <c>dotnet tool install</c> and runs every command of the installed <c>pmem</c>, as a
/// user would, on a real pool, its export, a copy and a damaged file. PMEM_TOOL_PACK_TEST=0 skips it (it packs and
/// installs, which takes a few seconds and the .NET SDK's tool installer).
/// </summary>
public sealed class PackTests : IDisposable
{
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void The_packed_tool_installs_and_runs_every_command()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable("PMEM_TOOL_PACK_TEST") == "0", "PMEM_TOOL_PACK_TEST=0 skips packing and installing the tool");

        var project = Path.Combine(RepositoryRoot(), "src", "Pmem.Tool");
        var feed = _files.PathOf("feed");
        var tools = _files.PathOf("tools");
        // A version of its own, and a package folder of its own: never an older build of the same version from a cache.
        var version = $"0.0.0-packtest.{DateTime.UtcNow:yyyyMMddHHmmss}";
        var packages = _files.PathOf("packages");

        // The test project built the tool in this configuration already; pack only adds the package around it.
        Dotnet(packages, "pack", project, "-c", Configuration, "--no-build", "-o", feed, $"-p:PackageVersion={version}");
        Assert.Single(Directory.GetFiles(feed, $"Pmem.Objects.Tool.{version}.nupkg"));
        Dotnet(packages, "tool", "install", "--tool-path", tools, "--add-source", feed, "Pmem.Objects.Tool", "--version", version);

        var help = Execute(packages, Path.Combine(tools, "pmem"), "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("Usage:", help.Out);
        Assert.Contains("pmem", help.Out);

        var pmem = Path.Combine(tools, "pmem");
        var pool = _files.CreateLibrary();
        var before = ToolHarness.Hash(pool);
        var check = Execute(packages, pmem, "check", pool, "--json");
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("\"clean\": true", check.Out);

        // Every command through the installed tool: the readers leave the pool byte-identical.
        Succeeds(Execute(packages, pmem, "info", pool), "stored types");
        Succeeds(Execute(packages, pmem, "dump", pool), "(root)");
        var export = _files.PathOf("library.json");
        Succeeds(Execute(packages, pmem, "export", pool, export), "exported");
        var imported = _files.PathOf("imported.pool");
        Succeeds(Execute(packages, pmem, "import", export, imported), "imported");
        Succeeds(Execute(packages, pmem, "check", imported), "clean");
        Succeeds(Execute(packages, pmem, "backup", pool, _files.PathOf("backup.pool")), "clean");
        Succeeds(Execute(packages, pmem, "check", pool, "--repair"), "nothing to repair");
        Assert.Equal(before, ToolHarness.Hash(pool));
        Succeeds(Execute(packages, pmem, "compact", pool), "compacted");
        Succeeds(Execute(packages, pmem, "check", pool), "clean");

        var damaged = _files.PathOf("damaged.pool");
        TestFiles.WriteAllBytes(damaged, ToolHarness.ReadBytes(pool)[..100_000]);
        var refused = Execute(packages, pmem, "info", damaged);
        Assert.Equal(2, refused.ExitCode);
        Assert.Single(refused.Error.Trim().Split('\n')); // one clear line, no stack trace
        Assert.Contains("truncated", refused.Error);
    }

    private static void Succeeds(ToolRun run, string expected)
    {
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}:\n{run.Out}\n{run.Error}");
        Assert.Contains(expected, run.Out);
    }

    private static void Dotnet(string packages, params string[] args)
    {
        var run = Execute(packages, "dotnet", args);
        Assert.True(run.ExitCode == 0, $"dotnet {string.Join(' ', args)} exited {run.ExitCode}:\n{run.Out}\n{run.Error}");
    }

    private static ToolRun Execute(string packages, string file, params string[] args)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NUGET_PACKAGES"] = packages;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)), $"{file} did not finish in 5 minutes");
        return new ToolRun(process.ExitCode, output.Result, error.Result);
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Pmem.Objects.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Pmem.Objects.sln not found above " + AppContext.BaseDirectory);
    }
}
