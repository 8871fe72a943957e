using Pmem.Memory;

namespace Pmem.Benchmarks;

/// <summary>A prefaulted file on /dev/shm shared by the benchmarks; PMEM_IS_PMEM_FORCE=1 as in libpmem's own benchmarks.</summary>
internal static unsafe class PmemRegion
{
    public const long Size = 512L << 20;

    private static PmemMapping? _mapping;

    public static byte* Base
    {
        get
        {
            if (_mapping is null)
            {
                _ = NativeLibPmem.IsAvailable; // sets PMEM_IS_PMEM_FORCE in the C environment first
                string path = Path.Combine("/dev/shm", $"pmem-bench-{Environment.ProcessId}");
                _mapping = PmemMapping.Map(path, Size, MapFlags.Create);
                File.Delete(path); // the mapping keeps the memory; nothing is left behind
                new Span<byte>(_mapping.Address, (int)Size).Fill(1); // prefault every page
            }

            return (byte*)_mapping.Address;
        }
    }
}
