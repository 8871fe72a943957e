using System.Diagnostics;
using Pmem.Memory.Simulation;

namespace Pmem.Tests.Crash;

/// <summary>
/// Real crashes: a child process runs transfers on a pool file and is killed with SIGKILL at random moments; after
/// each kill the pool is reopened (recovery runs) and checked by the child's --check mode: heap consistent, nothing
/// leaked, the sum of balances conserved, the note string whole, and the transfer count never going backwards.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // see PoolFileTests: forks hold file locks briefly
public sealed class ProcessKillTests
{
    private static int Kills => Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable) == "long" ? 100 : 8;

    [Theory]
    [InlineData("PowerFailure")]
    [InlineData("ProcessCrash")]
    public async Task Killing_a_process_mid_transfer_never_breaks_the_pool(string mode)
    {
        var directory = Directory.CreateTempSubdirectory("pmem-kill-");
        var pool = Path.Combine(directory.FullName, "bank.pool");
        var random = new Random(mode.Length);
        long lastTransfers = 0;
        try
        {
            for (var kill = 0; kill < Kills; kill++)
            {
                using (var child = Start(pool, mode))
                {
                    // The child prints "ready" once the pool holds the accounts; its stderr is read only after it exits.
                    var ready = await child.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask()
                        .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
                    if (ready != "ready")
                    {
                        child.Kill(entireProcessTree: true);
                        Assert.Fail($"the child said '{ready}': {await child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken)}");
                    }

                    await Task.Delay(random.Next(5, 120), TestContext.Current.CancellationToken);
                    child.Kill(entireProcessTree: true); // SIGKILL: no finally blocks, no flushes
                    await child.WaitForExitAsync(TestContext.Current.CancellationToken);
                }
                using var check = Start(pool, mode, "--check");
                var output = await check.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
                await check.WaitForExitAsync(TestContext.Current.CancellationToken);
                Assert.True(check.ExitCode == 0, $"after kill {kill}: {output}{await check.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken)}");
                var transfers = long.Parse(output.Split(' ')[1]);
                Assert.True(transfers >= lastTransfers, $"committed transfers went back from {lastTransfers} to {transfers}");
                lastTransfers = transfers;
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"{Kills} kills, {lastTransfers} transfers committed");
            Console.WriteLine($"[crash] {mode}: {Kills} SIGKILLs survived, {lastTransfers} transfers committed");
            TestSummary.Add(TestSummary.SigKills, Kills);
            Assert.True(lastTransfers > 0, "no transfer ever committed: the kills came too early to test anything");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static Process Start(string pool, string mode, string? extra = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ChildPath());
        info.ArgumentList.Add(pool);
        info.ArgumentList.Add(mode);
        if (extra is not null)
        {
            info.ArgumentList.Add(extra);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
    }

    /// <summary>The child is built beside this test project, in the same configuration.</summary>
    internal static string ChildPath()
    {
        // .../tests/Pmem.Core.Tests/bin/<Configuration>/net10.0/
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = output.Name;
        var configuration = output.Parent!.Name;
        var tests = output.Parent.Parent!.Parent!.Parent!.FullName;
        var child = Path.Combine(tests, "Pmem.CrashChild", "bin", configuration, framework, "Pmem.CrashChild.dll");
        Assert.True(File.Exists(child), $"the crash child is not built at {child}");
        return child;
    }
}
