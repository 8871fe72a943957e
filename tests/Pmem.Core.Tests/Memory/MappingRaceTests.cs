using Pmem.Tests.Crash;

namespace Pmem.Tests.Memory;

/// <summary>
/// Mappings made on several threads at once never land on each other's address space. Linux may leave a gap where a
/// refused MAP_FIXED mapping was (MAP_SYNC on a file system without DAX is refused), and another thread's mmap could
/// take it before the next mapping is placed there; a mapping laid over another thread's memory makes that thread fault.
/// The threads run in a child process, so that such a fault fails this test instead of ending the test run.
/// </summary>
public sealed class MappingRaceTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-map-race-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Eight_threads_mapping_files_at_once_never_map_over_each_other()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var (exitCode, output, error) = CrashChildRun.Run(TimeSpan.FromMinutes(2), "--map-race", _directory.FullName, "8", "3000");
        Assert.True(exitCode == 0, $"exit code {exitCode}: {output} {error}");
        Assert.StartsWith("ok ", output);
    }
}
