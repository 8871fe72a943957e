using System.Diagnostics;
using Pmem.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// A process killed inside <see cref="PersistentPool.Create(string, string, long, PoolCreateOptions?)"/>: the name then
/// holds no file or a whole pool, never one that neither <c>Open</c> nor <c>Create</c> takes (an outside tester's
/// program, following the README's <c>File.Exists ? Open : Create</c>, could never start again after 6 kills in 12),
/// and the next create of the name deletes the hidden file the killed one left.
/// </summary>
public sealed class PoolCreateKillTests : IDisposable
{
    private const string ChildLayout = "crash-child"; // CrashBank.Layout, in the child

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-create-kill-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData("PowerFailure")]
    [InlineData("ProcessCrash")]
    public void A_kill_during_create_leaves_no_file_or_a_whole_pool_and_the_next_create_cleans_up(string mode)
    {
        var path = Path.Combine(_directory.FullName, "created.pool");
        var random = new Random(7);
        int absent = 0, whole = 0;
        for (var kill = 0; kill < 24; kill++)
        {
            using (var child = Start(path, mode))
            {
                Assert.Equal("ready", child.StandardOutput.ReadLine());
                Thread.Sleep(random.Next(20, 120));
                child.Kill(entireProcessTree: true);
                child.WaitForExit();
            }

            if (!File.Exists(path))
            {
                absent++;
                continue;
            }

            using (var pool = PersistentPool.Open(path, ChildLayout)) // a whole pool: throws if not
            {
                Assert.True(pool.Check().IsConsistent);
            }

            whole++;
            File.Delete(path);
        }

        Assert.True(absent > 0, $"no kill landed between two pools ({whole} whole): the test saw nothing");
        PersistentPool.Create(path, ChildLayout, 16 << 20).Dispose();
        Assert.Equal(["created.pool"], _directory.GetFiles().Select(file => file.Name)); // hidden files of killed creates gone
    }

    private static Process Start(string path, string mode)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ProcessKillTests.ChildPath());
        info.ArgumentList.Add("--create-loop");
        info.ArgumentList.Add(path);
        info.ArgumentList.Add(mode);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
    }
}
