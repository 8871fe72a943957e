using System.Diagnostics;
using System.Globalization;
using Pmem.Memory.Simulation;

namespace Pmem.Tests.Crash;

/// <summary>
/// Real crashes with threads that share objects: the child's shared workload (<c>--shared 8</c>) runs 8 threads that
/// take one lock in turn and each, in a transaction, move money between two of the same eight accounts and bump a
/// shared counter and their own. Consecutive commits come from different threads, so from different lanes, and write
/// the same words: recovery must replay them in the order they committed (a power-failure pool's one sequence) or
/// never need to (a process-crash pool clears each applied log, and its lanes number their commits apart). It is
/// killed with SIGKILL 10–500 ms after it is ready; the check then reopens the pool and wants <c>Check()</c> clean,
/// the sum conserved and the shared counter equal to the threads' counters, never going back.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // see PoolFileTests: forks hold file locks briefly
public sealed class SharedObjectKillTests
{
    private static readonly string[] Workload = ["--shared", "8"];

    private static int Kills => Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable) == "long" ? 100 : 8;

    [Theory]
    [InlineData("PowerFailure")]
    [InlineData("ProcessCrash")]
    public async Task Killing_threads_that_share_objects_keeps_every_commit_in_order(string mode)
    {
        var cancel = TestContext.Current.CancellationToken;
        var directory = MultiThreadKillTests.CreateDirectory();
        var pool = Path.Combine(directory.FullName, "shared.pool");
        var random = new Random();
        var last = 0L;
        var watch = Stopwatch.StartNew();
        try
        {
            for (var kill = 0; kill < Kills; kill++)
            {
                var died = await MultiThreadKillTests.RunAndKill(pool, mode, Workload, random.Next(10, 501), cancel);
                Assert.True(died is null, $"kill {kill}: {died}");
                var (output, exitCode) = await MultiThreadKillTests.RunCheck(pool, mode, Workload, cancel);
                Assert.True(exitCode == 0 && output.StartsWith("ok ", StringComparison.Ordinal), $"kill {kill}: {output.Trim()}");
                var counter = long.Parse(output.Split(' ')[1], CultureInfo.InvariantCulture);
                Assert.True(counter >= last, $"kill {kill}: the shared counter went back from {last} to {counter}");
                last = counter;
            }

            var summary = $"[crash] {mode}, shared objects, 8 threads: {Kills} SIGKILLs, {last} transactions committed, {watch.Elapsed.TotalSeconds:F0} s";
            TestContext.Current.TestOutputHelper?.WriteLine(summary);
            Console.WriteLine(summary);
            TestSummary.Add(TestSummary.SigKills, Kills);
            Assert.True(last > 0, "no transaction ever committed: the kills came too early to test anything");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
