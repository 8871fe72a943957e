using System.Diagnostics;
using System.Reflection;

namespace Pmem.Generators.Tests;

/// <summary>
/// The Pmem.Core package on its own: <c>eng/verify-package.sh</c> packs the already built Pmem.Core, checks that the
/// generator is inside and not a dependency, and builds and runs a fresh console project that restores the package
/// from a local folder into an empty package cache. About 10 s; it needs the machine's package source for
/// Pmem.Core's own dependencies.
/// </summary>
public sealed class PackageTests
{
    [Fact]
    public async Task Pmem_Core_package_carries_the_generator_and_a_fresh_consumer_runs_with_it()
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
        Assert.Contains("consumer output: owner=Ada balance=42 history=40,2 size=64", output);
    }

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string callerFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerFile)!, "..", ".."));
}
