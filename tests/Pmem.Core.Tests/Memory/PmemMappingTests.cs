using System.Diagnostics;
using Pmem.Memory;

namespace Pmem.Tests.Memory;

[Collection(MappingRegistryCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed unsafe class PmemMappingTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pmem-map-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string FilePath(string name = "file") => Path.Combine(_directory, name);

    private static readonly PmemOptions ForcePmem = PmemOptions.FromLookup(name => name == "PMEM_IS_PMEM_FORCE" ? "1" : null);
    private static readonly PmemOptions NoOverrides = PmemOptions.FromLookup(_ => null);

    [Fact]
    public void Create_makes_a_file_of_the_requested_length_that_is_not_pmem_on_an_ordinary_file_system()
    {
        using var mapping = PmemMapping.MapWithOptions(FilePath(), 10_000, MapFlags.Create, (UnixFileMode)0b110_100_100, 0, NoOverrides);
        Assert.Equal(10_000, mapping.Length);
        Assert.Equal(10_000, new FileInfo(FilePath()).Length);
        Assert.False(mapping.IsPmem);
        Assert.False(mapping.IsDeviceDax);
        Assert.Equal(FilePath(), mapping.Path);
        Assert.False(Pmem.Memory.LibPmem.IsPmem(mapping.Address, 100) && Environment.GetEnvironmentVariable("PMEM_IS_PMEM_FORCE") != "1");
    }

    [Fact]
    public void Data_written_survives_unmap_and_reopen_with_length_zero()
    {
        using (var mapping = PmemMapping.Map(FilePath(), 8192, MapFlags.Create))
        {
            mapping.GetSpan(5000, 5).Fill(7);
            Pmem.Memory.LibPmem.Persist((byte*)mapping.Address + 5000, 5);
        }

        using var reopened = PmemMapping.Map(FilePath());
        Assert.Equal(8192, reopened.Length);
        Assert.Equal([7, 7, 7, 7, 7], reopened.GetSpan(5000, 5).ToArray());
    }

    [Fact]
    public void Create_mode_sets_the_file_permissions()
    {
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var mapping = PmemMapping.Map(FilePath(), 4096, MapFlags.Create, mode);
        Assert.Equal(mode, File.GetUnixFileMode(FilePath()));
    }

    [Fact]
    public void Positive_length_without_create_maps_a_prefix_of_the_file()
    {
        TestFiles.WriteAllBytes(FilePath(), new byte[10_000]);
        using var mapping = PmemMapping.Map(FilePath(), 4096);
        Assert.Equal(4096, mapping.Length);
    }

    [Fact]
    public void Missing_file_without_create_throws_file_not_found_naming_the_path()
    {
        var e = Assert.Throws<PmemFileNotFoundException>(() => PmemMapping.Map(FilePath("missing")));
        Assert.IsAssignableFrom<FileNotFoundException>(e);
        Assert.Equal(FilePath("missing"), e.Path);
        Assert.Equal(2, e.ErrorCode);
        Assert.Contains(FilePath("missing"), e.Message);
        Assert.Contains("errno 2", e.Message);
    }

    [Fact]
    public void Exclusive_create_of_an_existing_file_throws_and_keeps_the_file()
    {
        TestFiles.WriteAllBytes(FilePath(), [1, 2, 3]);
        var e = Assert.Throws<PmemFileExistsException>(() => PmemMapping.Map(FilePath(), 4096, MapFlags.Create | MapFlags.Exclusive));
        Assert.Equal(17, e.ErrorCode);
        Assert.Equal([1, 2, 3], TestFiles.ReadAllBytes(FilePath()));
    }

    [Fact]
    public void Exclusive_create_of_a_new_file_succeeds()
    {
        using var mapping = PmemMapping.Map(FilePath(), 4096, MapFlags.Create | MapFlags.Exclusive);
        Assert.Equal(4096, mapping.Length);
    }

    [Fact]
    public void Exclusive_without_create_is_an_argument_error() =>
        Assert.Throws<ArgumentException>(() => PmemMapping.Map(FilePath(), 4096, MapFlags.Exclusive));

    [Fact]
    public void A_directory_path_throws_with_EISDIR()
    {
        var e = Assert.Throws<PmemIOException>(() => PmemMapping.Map(_directory));
        Assert.Equal(21, e.ErrorCode);
        Assert.Contains("directory", e.Message);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    public void Create_without_a_positive_length_throws_and_creates_nothing(long length)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PmemMapping.Map(FilePath(), length, MapFlags.Create));
        Assert.False(File.Exists(FilePath()));
    }

    [Fact]
    public void Negative_length_without_create_throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => PmemMapping.Map(FilePath(), -5));

    [Fact]
    public void Length_larger_than_the_file_without_create_throws_and_leaves_the_file_alone()
    {
        TestFiles.WriteAllBytes(FilePath(), new byte[100]);
        var e = Assert.Throws<PmemIOException>(() => PmemMapping.Map(FilePath(), 4096));
        Assert.Contains("100 bytes", e.Message);
        Assert.Equal(100, new FileInfo(FilePath()).Length);
    }

    [Fact]
    public void Empty_file_without_length_throws()
    {
        TestFiles.WriteAllBytes(FilePath(), []);
        Assert.Throws<PmemIOException>(() => PmemMapping.Map(FilePath()));
    }

    [Fact]
    public void Failed_create_leaves_no_file_behind()
    {
        // The file is created, then reserving 2^62 bytes of address space fails.
        var e = Assert.ThrowsAny<PmemIOException>(() => PmemMapping.Map(FilePath(), 4096, MapFlags.Create, reserve: 1L << 62));
        Assert.NotEqual(0, e.ErrorCode);
        Assert.False(File.Exists(FilePath()));
    }

    [Fact]
    public void Failed_allocation_on_create_leaves_no_file_behind()
    {
        // ftruncate succeeds; posix_fallocate of a petabyte fails with ENOSPC or EFBIG.
        Assert.ThrowsAny<PmemIOException>(() => PmemMapping.Map(FilePath(), 1L << 50, MapFlags.Create));
        Assert.False(File.Exists(FilePath()));
    }

    [Fact]
    public void Failed_create_of_an_existing_file_keeps_that_file()
    {
        TestFiles.WriteAllBytes(FilePath(), [9]);
        Assert.ThrowsAny<PmemIOException>(() => PmemMapping.Map(FilePath(), 4096, MapFlags.Create, reserve: 1L << 62));
        Assert.True(File.Exists(FilePath()));
    }

    [Fact]
    public void Read_only_file_throws_access_denied()
    {
        string path = FilePath("readonly");
        TestFiles.WriteAllBytes(path, new byte[4096]);
        bool immutable = false;
        if (Environment.UserName == "root" || Environment.IsPrivilegedProcess)
        {
            // Root ignores permission bits; an immutable file refuses writes even to root.
            immutable = Run("chattr", $"+i {path}");
            if (!immutable)
            {
                Assert.Skip("running as root on a file system without chattr +i: a read-only file cannot be made");
            }
        }
        else
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead);
        }

        try
        {
            var e = Assert.Throws<PmemAccessDeniedException>(() => PmemMapping.Map(path));
            Assert.Equal(path, e.Path);
            Assert.Contains(path, e.Message);
        }
        finally
        {
            if (immutable)
            {
                Run("chattr", $"-i {path}");
            }
        }
    }

    private static bool Run(string program, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    [Fact]
    public void Create_on_an_existing_file_sets_it_to_the_new_length_as_libpmem_does()
    {
        TestFiles.WriteAllBytes(FilePath(), new byte[100]);
        using var mapping = PmemMapping.Map(FilePath(), 8192, MapFlags.Create);
        Assert.Equal(8192, new FileInfo(FilePath()).Length);
    }

    [Fact]
    public void Sparse_create_sizes_the_file_without_allocating_it()
    {
        using var mapping = PmemMapping.Map(FilePath(), 64L << 20, MapFlags.Create | MapFlags.Sparse);
        Assert.Equal(64L << 20, new FileInfo(FilePath()).Length);
        mapping.GetSpan((64L << 20) - 1, 1)[0] = 1;
    }

    [Fact]
    public void Temp_file_maps_an_unnamed_file_that_leaves_nothing_in_the_directory()
    {
        using (var mapping = PmemMapping.Map(_directory, 8192, MapFlags.TempFile))
        {
            mapping.GetSpan(0, 8192).Fill(3);
            Assert.Equal(8192, mapping.Length);
            Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory));
    }

    [Fact]
    public void Temp_file_in_a_missing_directory_throws_file_not_found() =>
        Assert.Throws<PmemFileNotFoundException>(() => PmemMapping.Map(FilePath("nodir"), 4096, MapFlags.TempFile));

    [Fact]
    public void Large_mappings_are_aligned_for_huge_pages()
    {
        using var mapping = PmemMapping.Map(FilePath(), 4L << 20, MapFlags.Create | MapFlags.Sparse);
        Assert.Equal(0, (long)mapping.Address % (2L << 20));
    }

    [Fact]
    public void Extend_keeps_the_base_address_and_the_data()
    {
        using var mapping = PmemMapping.Map(FilePath(), 5000, MapFlags.Create, reserve: 1L << 20);
        void* before = mapping.Address;
        mapping.GetSpan(0, 5000).Fill(0x42);
        mapping.Extend(300_000);
        Assert.True(before == mapping.Address);
        Assert.Equal(300_000, mapping.Length);
        Assert.Equal(300_000, new FileInfo(FilePath()).Length);
        Assert.All(mapping.GetSpan(0, 5000).ToArray(), b => Assert.Equal(0x42, b));
        Assert.All(mapping.GetSpan(5000, 295_000).ToArray(), b => Assert.Equal(0, b));
        mapping.GetSpan(299_999, 1)[0] = 9;   // the extension is mapped and writable
    }

    [Fact]
    public void Extension_is_backed_by_the_file()
    {
        using (var mapping = PmemMapping.Map(FilePath(), 4096, MapFlags.Create, reserve: 1L << 20))
        {
            mapping.Extend(100_000);
            mapping.GetSpan(99_000, 3).Fill(5);
        }

        using var reopened = PmemMapping.Map(FilePath());
        Assert.Equal(100_000, reopened.Length);
        Assert.Equal([5, 5, 5], reopened.GetSpan(99_000, 3).ToArray());
    }

    [Fact]
    public void Extend_beyond_the_reservation_throws_and_keeps_the_length()
    {
        using var mapping = PmemMapping.Map(FilePath(), 4096, MapFlags.Create, reserve: 8192);
        Assert.Throws<ArgumentOutOfRangeException>(() => mapping.Extend(8193));
        Assert.Equal(4096, mapping.Length);
        Assert.Equal(4096, new FileInfo(FilePath()).Length);
    }

    [Fact]
    public void Extend_to_a_smaller_length_throws()
    {
        using var mapping = PmemMapping.Map(FilePath(), 8192, MapFlags.Create, reserve: 1L << 20);
        Assert.Throws<ArgumentOutOfRangeException>(() => mapping.Extend(4096));
    }

    [Fact]
    public void Reserve_smaller_than_length_throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => PmemMapping.Map(FilePath(), 8192, MapFlags.Create, reserve: 4096));

    [Fact]
    public void Second_mapping_of_a_locked_file_cannot_lock_it()
    {
        using var first = PmemMapping.Map(FilePath(), 4096, MapFlags.Create);
        Assert.True(first.TryLockExclusive());
        using var second = PmemMapping.Map(FilePath());
        Assert.False(second.TryLockExclusive());
    }

    [Fact]
    public void Lock_is_released_when_the_holder_is_disposed()
    {
        var first = PmemMapping.Map(FilePath(), 4096, MapFlags.Create);
        Assert.True(first.TryLockExclusive());
        first.Dispose();
        using var second = PmemMapping.Map(FilePath());
        Assert.True(second.TryLockExclusive());
    }

    [Fact]
    public void Locking_twice_through_the_same_mapping_succeeds()
    {
        using var mapping = PmemMapping.Map(FilePath(), 4096, MapFlags.Create);
        Assert.True(mapping.TryLockExclusive());
        Assert.True(mapping.TryLockExclusive());
    }

    [Fact]
    public void Disposed_mapping_refuses_use()
    {
        var mapping = PmemMapping.Map(FilePath(), 4096, MapFlags.Create);
        mapping.Dispose();
        mapping.Dispose();
        Assert.Throws<ObjectDisposedException>(() => (IntPtr)mapping.Address);
        Assert.Throws<ObjectDisposedException>(() => mapping.Extend(8192));
    }

    [Fact]
    public void A_new_mapping_replaces_a_registered_range_it_overlaps()
    {
        // A mapping never disposed leaves its range registered once its reservation's finalizer has unmapped it (the
        // finalizer now removes it too); the kernel may hand those addresses to the next mapping, which then answers
        // for them. Addresses below 64 KiB, which Linux never maps (vm.mmap_min_addr), stand for both here.
        try
        {
            MappingRegistry.Add(0x1000, 0x6000, isPmem: false, deepFlushFile: null);
            MappingRegistry.Add(0x4000, 0x8000, isPmem: true, deepFlushFile: null);
            Assert.True(MappingRegistry.IsPmem(0x4000, 0x4000));
            Assert.False(MappingRegistry.IsPmem(0x1000, 0x1000)); // the stale range is gone, not pmem any more
        }
        finally
        {
            MappingRegistry.Remove(0x1000);
            MappingRegistry.Remove(0x4000);
        }
    }

    [Fact]
    public void Pmem_force_on_dev_shm_makes_the_mapping_pmem_and_registers_it()
    {
        string path = Path.Combine("/dev/shm", $"pmem-force-{Guid.NewGuid():N}");
        try
        {
            using var mapping = PmemMapping.MapWithOptions(path, 1 << 20, MapFlags.Create, (UnixFileMode)0b110_100_100, 0, ForcePmem);
            Assert.True(mapping.IsPmem);
            Assert.True(Pmem.Memory.LibPmem.IsPmem(mapping.Address, 1 << 20));
            Assert.False(Pmem.Memory.LibPmem.IsPmem(mapping.Address, (1 << 20) + 4096) && Environment.GetEnvironmentVariable("PMEM_IS_PMEM_FORCE") != "1");
            using var domain = mapping.CreateDomain(DurabilityMode.PowerFailure);
            Assert.IsType<HardwareDomain>(domain);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unmapped_range_is_no_longer_pmem()
    {
        string path = Path.Combine("/dev/shm", $"pmem-force-{Guid.NewGuid():N}");
        try
        {
            var mapping = PmemMapping.MapWithOptions(path, 4096, MapFlags.Create, (UnixFileMode)0b110_100_100, 0, ForcePmem);
            void* address = mapping.Address;
            mapping.Dispose();
            Assert.False(Pmem.Memory.LibPmem.IsPmem(address, 4096) && Environment.GetEnvironmentVariable("PMEM_IS_PMEM_FORCE") != "1");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Msync_and_deep_persist_succeed_on_a_file_mapping()
    {
        using var mapping = PmemMapping.Map(FilePath(), 3 * 4096, MapFlags.Create);
        mapping.GetSpan(100, 10).Fill(1);
        Pmem.Memory.LibPmem.Msync((byte*)mapping.Address + 100, 5000);
        Pmem.Memory.LibPmem.DeepPersist((byte*)mapping.Address + 100, 10);
    }

    [Fact]
    public void Msync_of_unmapped_memory_throws_with_the_os_error()
    {
        // Page 1 is below mmap_min_addr, so it is never mapped.
        var e = Assert.Throws<PmemIOException>(() => Pmem.Memory.LibPmem.Msync((void*)0x1000, 4096));
        Assert.Equal(12, e.ErrorCode); // ENOMEM: not mapped
        Assert.Contains("msync", e.Message);
    }
}
