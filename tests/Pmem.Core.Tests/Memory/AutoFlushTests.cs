using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed class AutoFlushTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("pmem-nd-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Region(string name, string? domain)
    {
        string dir = Path.Combine(_root, name);
        Directory.CreateDirectory(dir);
        if (domain is not null)
        {
            File.WriteAllText(Path.Combine(dir, "persistence_domain"), domain + "\n");
        }
    }

    [Fact]
    public void No_regions_means_no_auto_flush() => Assert.False(AutoFlush.Detect(_root));

    [Fact]
    public void Missing_directory_means_no_auto_flush() => Assert.False(AutoFlush.Detect(Path.Combine(_root, "absent")));

    [Fact]
    public void All_regions_in_cpu_cache_domain_means_auto_flush()
    {
        Region("region0", "cpu_cache");
        Region("region1", "cpu_cache");
        Region("ndbus0", null);
        Assert.True(AutoFlush.Detect(_root));
    }

    [Fact]
    public void One_region_in_memory_controller_domain_means_no_auto_flush()
    {
        Region("region0", "cpu_cache");
        Region("region1", "memory_controller");
        Assert.False(AutoFlush.Detect(_root));
    }

    [Fact]
    public void Region_without_persistence_domain_file_means_no_auto_flush()
    {
        Region("region0", "cpu_cache");
        Region("region1", null);
        Assert.False(AutoFlush.Detect(_root));
    }
}
