using System.Diagnostics;
using System.Reflection;

namespace Pmem.Generators.Tests;

/// <summary>
/// The two packages users add, from fresh projects: <c>eng/verify-package.sh</c> packs the already built
/// <c>Pmem.Objects</c> (src/Pmem.Core) and <c>Pmem.Objects.Testing</c> (src/Pmem.Testing), checks their contents, runs
/// a fresh console app that uses only <c>Pmem.Objects</c> twice on one pool file, and runs <c>dotnet test</c> on a
/// fresh xunit project holding the crash campaign of docs/testing.md. About 30 s; it
/// needs the machine's package source or cache for xunit and Pmem.Objects' own dependencies.
/// </summary>
public sealed class PackageTests
{
    [Fact]
    public async Task Pmem_Objects_and_its_Testing_package_work_in_fresh_consumer_projects()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "eng/verify-package.sh is a bash script.");
        var cancellation = TestContext.Current.CancellationToken;
        var repository = RepositoryRoot();
        var start = new ProcessStartInfo("bash")
        {
            ArgumentList = { Path.Combine(repository, "eng", "verify-package.sh") },
            WorkingDirectory = repository,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        // Pack what this test run was built from instead of rebuilding src/ while other test projects may be running.
        start.Environment["PMEM_PACK_NO_BUILD"] = "1";
        start.Environment["PMEM_CONFIGURATION"] = typeof(PackageTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;

        using var process = Process.Start(start)!;
        var standardOutput = process.StandardOutput.ReadToEndAsync(cancellation);
        var standardError = process.StandardError.ReadToEndAsync(cancellation);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
        {
            timeout.CancelAfter(TimeSpan.FromMinutes(5));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
        }

        var output = await standardOutput + await standardError;
        TestContext.Current.TestOutputHelper?.WriteLine(output);
        Assert.True(process.ExitCode == 0, $"eng/verify-package.sh exited with {process.ExitCode}:\n{output}");
        Assert.Contains("consumer output: run=1 owner=Ada balance=42 history=40,2 size=64 stored=64/2", output);
        Assert.Contains("consumer output: run=2 owner=Ada balance=42 history=40,2 size=64 stored=64/2", output);
        Assert.Contains("consumer tests: the crash campaign of docs/testing.md passed", output);
    }

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string callerFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerFile)!, "..", ".."));
}
