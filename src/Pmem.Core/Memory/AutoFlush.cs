namespace Pmem.Memory;

/// <summary>eADR detection (libpmem2's <c>pmem2_auto_flush</c>): CPU caches are inside the persistence domain.</summary>
internal static class AutoFlush
{
    /// <summary>The sysfs directory listing NVDIMM regions.</summary>
    public const string RegionsDirectory = "/sys/bus/nd/devices";

    /// <summary>
    /// True when at least one <c>region*</c> exists under <paramref name="regionsDirectory"/> and every region's
    /// <c>persistence_domain</c> reads <c>cpu_cache</c>. A region without that file, or any read error, means no.
    /// </summary>
    public static bool Detect(string regionsDirectory = RegionsDirectory)
    {
        try
        {
            if (!Directory.Exists(regionsDirectory))
            {
                return false;
            }

            int regions = 0;
            foreach (string region in Directory.EnumerateFileSystemEntries(regionsDirectory, "region*"))
            {
                string domainFile = System.IO.Path.Combine(region, "persistence_domain");
                if (!File.Exists(domainFile) || File.ReadAllText(domainFile).Trim() != "cpu_cache")
                {
                    return false;
                }

                regions++;
            }

            return regions > 0;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
