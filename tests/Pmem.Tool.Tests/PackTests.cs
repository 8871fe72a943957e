using System.Diagnostics;

namespace Pmem.Tool.Tests;

/// <summary>
/// Packs the tool, installs it with <c>dotnet tool install</c> and runs the installed <c>pmem</c>. Slow and needs
/// NuGet, so it runs only with PMEM_TOOL_PACK_TEST=1.
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
    public void The_packed_tool_installs_and_runs_help()
    {
        Assert.SkipUnless(Environment.GetEnvironmentVariable("PMEM_TOOL_PACK_TEST") == "1", "set PMEM_TOOL_PACK_TEST=1 to pack and install the tool");

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

        var pool = _files.CreateLibrary();
        var check = Execute(packages, Path.Combine(tools, "pmem"), "check", pool, "--json");
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("\"clean\": true", check.Out);
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
