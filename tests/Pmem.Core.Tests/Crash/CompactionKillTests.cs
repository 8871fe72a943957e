using System.Diagnostics;
using Pmem.Memory.Simulation;
using Pmem.Tooling;

namespace Pmem.Tests.Crash;

/// <summary>
/// A process compacting a pool over and over is SIGKILLed at random moments; after each kill the pool opens, checks
/// clean and holds exactly what it held before (the child's fingerprint: every account, every shared reference, the
/// unreachable ones, the uuid). More kills with <c>PMEM_CRASH_CAMPAIGN=long</c>.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // see PoolFileTests: forks hold file locks briefly
public sealed class CompactionKillTests
{
    private static int Kills => Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable) == "long" ? 60 : 6;

    [Theory]
    [InlineData("PowerFailure")]
    [InlineData("ProcessCrash")]
    public async Task Killing_a_compaction_leaves_the_old_pool_or_the_new_one_whole(string mode)
    {
        var directory = Directory.CreateTempSubdirectory("pmem-compact-kill-");
        var pool = Path.Combine(directory.FullName, "bank.pool");
        var random = new Random(mode.Length * 7);
        var token = TestContext.Current.CancellationToken;
        try
        {
            Assert.Equal(0, await RunToEnd(pool, mode, "--compact-setup", token));
            var (original, status) = await Fingerprint(pool, mode, token);
            Assert.True(status == 0, original);
            int compactions = 0, midCopy = 0;
            for (var kill = 0; kill < Kills; kill++)
            {
                using (var child = Start(pool, mode, "--compact"))
                {
                    var ready = await child.StandardOutput.ReadLineAsync(token).AsTask().WaitAsync(TimeSpan.FromSeconds(60), token);
                    if (ready != "ready")
                    {
                        Assert.Fail($"the child said '{ready}': {await ReadErrors(child, token)}");
                    }

                    await Task.Delay(random.Next(20, 2500), token); // a compaction takes about half a second here
                    child.Kill(entireProcessTree: true); // SIGKILL, whatever it is doing
                    await child.WaitForExitAsync(token);
                    var output = await child.StandardOutput.ReadToEndAsync(token);
                    compactions += output.Split('\n').Count(line => line.StartsWith("compacted", StringComparison.Ordinal));
                    var errors = await child.StandardError.ReadToEndAsync(token);
                    Assert.DoesNotContain("Exception", errors);
                }

                if (File.Exists(PoolCompaction.TemporaryPath(pool)))
                {
                    midCopy++;
                }

                var (after, code) = await Fingerprint(pool, mode, token);
                Assert.True(code == 0 && after == original, $"after kill {kill}: {after}, expected {original}");
            }

            TestContext.Current.TestOutputHelper?.WriteLine($"{Kills} kills ({midCopy} with a new file half built), {compactions} compactions finished");
            Assert.True(compactions > 0 || midCopy > 0, "no kill came during or after a compaction: nothing was tested");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<(string Output, int ExitCode)> Fingerprint(string pool, string mode, CancellationToken token)
    {
        using var child = Start(pool, mode, "--compact-fingerprint");
        var output = await child.StandardOutput.ReadToEndAsync(token);
        await child.WaitForExitAsync(token);
        return (output.Trim() + await child.StandardError.ReadToEndAsync(token), child.ExitCode);
    }

    private static async Task<int> RunToEnd(string pool, string mode, string command, CancellationToken token)
    {
        using var child = Start(pool, mode, command);
        await child.StandardOutput.ReadToEndAsync(token);
        await child.WaitForExitAsync(token);
        return child.ExitCode;
    }

    private static async Task<string> ReadErrors(Process child, CancellationToken token)
    {
        child.Kill(entireProcessTree: true);
        return await child.StandardError.ReadToEndAsync(token);
    }

    private static Process Start(string pool, string mode, string command)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ProcessKillTests.ChildPath());
        info.ArgumentList.Add(pool);
        info.ArgumentList.Add(mode);
        info.ArgumentList.Add(command);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
    }
}
