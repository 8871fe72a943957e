using System.Runtime.CompilerServices;
using Pmem.Memory;

namespace Pmem.Tests.Memory;

/// <summary>Tests that create mappings forced to be pmem share the process-wide mapping registry; they do not run in parallel.</summary>
[CollectionDefinition(Name)]
public sealed class MappingRegistryCollection
{
    public const string Name = "mapping registry";
}

[Collection(MappingRegistryCollection.Name)]
public sealed unsafe class DomainTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pmem-domain-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private PmemMapping Map(long length = 64 * 1024, bool forcePmem = false, long reserve = 0)
    {
        var options = PmemOptions.FromLookup(name => forcePmem && name == "PMEM_IS_PMEM_FORCE" ? "1" : null);
        return PmemMapping.MapWithOptions(Path.Combine(_directory, "pool"), length, MapFlags.Create, (UnixFileMode)0b110_100_100, reserve, options);
    }

    [Fact]
    public void Power_failure_on_a_non_pmem_file_gives_an_msync_domain()
    {
        using var domain = Map().CreateDomain(DurabilityMode.PowerFailure);
        Assert.IsType<MsyncDomain>(domain);
        Assert.Equal(FlushPath.Msync, domain.FlushPath);
        Assert.False(domain.IsPersistentMemory);
    }

    [Fact]
    public void Power_failure_on_pmem_gives_a_hardware_domain_with_the_engine_flush_path()
    {
        using var domain = Map(forcePmem: true).CreateDomain(DurabilityMode.PowerFailure);
        Assert.IsType<HardwareDomain>(domain);
        Assert.Equal(Pmem.Memory.LibPmem.ActiveFlushPath, domain.FlushPath);
        Assert.True(domain.IsPmem);
    }

    [Fact]
    public void Process_crash_mode_gives_a_process_crash_domain()
    {
        using var domain = Map(forcePmem: true).CreateDomain(DurabilityMode.ProcessCrash);
        Assert.IsType<ProcessCrashDomain>(domain);
        Assert.Equal(FlushPath.ProcessCrash, domain.FlushPath);
    }

    [Fact]
    public void Unknown_mode_throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Map().CreateDomain((DurabilityMode)7));

    [Fact]
    public void Domain_exposes_its_mapping_and_path()
    {
        using var domain = Map().CreateDomain(DurabilityMode.PowerFailure);
        Assert.Equal(Path.Combine(_directory, "pool"), domain.Path);
        Assert.Equal(64 * 1024, domain.Length);
        Assert.Same(domain.Mapping, domain.Mapping);
    }

    [Fact]
    public void Disposing_the_domain_unmaps_the_mapping()
    {
        var domain = Map().CreateDomain(DurabilityMode.ProcessCrash);
        var mapping = domain.Mapping;
        domain.Dispose();
        Assert.Throws<ObjectDisposedException>(() => (IntPtr)mapping.Address);
    }

    [Fact]
    public void Domain_lock_refuses_a_second_opener()
    {
        using var first = Map().CreateDomain(DurabilityMode.PowerFailure);
        Assert.True(first.TryLockExclusive());
        using var second = PmemMapping.Map(Path.Combine(_directory, "pool")).CreateDomain(DurabilityMode.PowerFailure);
        Assert.False(second.TryLockExclusive());
    }

    public static TheoryData<bool, DurabilityMode> AllDomains() => new()
    {
        { true, DurabilityMode.PowerFailure },
        { false, DurabilityMode.PowerFailure },
        { false, DurabilityMode.ProcessCrash },
    };

    [Theory]
    [MemberData(nameof(AllDomains))]
    public void Write_durable_round_trips_and_reaches_the_file(bool pmem, DurabilityMode mode)
    {
        using (var domain = Map(forcePmem: pmem).CreateDomain(mode))
        {
            domain.WriteDurable(64, 0x0102030405060708L);
            domain.WriteDurable(72, 12345);
            domain.WriteDurable(77, Guid.Empty);
            domain.WriteDurable(100, (byte)9);
            Assert.Equal(0x0102030405060708L, domain.Read<long>(64));
            Assert.Equal(12345, domain.Read<int>(72));
        }

        byte[] file = TestFiles.ReadAllBytes(Path.Combine(_directory, "pool"));
        Assert.Equal(0x0102030405060708L, BitConverter.ToInt64(file, 64));
        Assert.Equal(12345, BitConverter.ToInt32(file, 72));
        Assert.Equal(9, file[100]);
    }

    [Theory]
    [MemberData(nameof(AllDomains))]
    public void Copy_fill_and_move_change_exactly_their_ranges(bool pmem, DurabilityMode mode)
    {
        using var domain = Map(forcePmem: pmem).CreateDomain(mode);
        var expected = new byte[domain.Length];
        byte[] data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        foreach (PmemCopyFlags flags in (PmemCopyFlags[])[PmemCopyFlags.None, PmemCopyFlags.NoDrain, PmemCopyFlags.NonTemporal, PmemCopyFlags.Temporal, PmemCopyFlags.NoFlush])
        {
            domain.Copy(1000, data, flags);
            data.CopyTo(expected, 1000);
            domain.Fill(3000, 0xEE, 600, flags);
            Array.Fill(expected, (byte)0xEE, 3000, 600);
            domain.Move(1010, 1000, 900, flags);
            Array.Copy(expected, 1000, expected, 1010, 900);
            domain.Drain();
            Assert.Equal(expected, domain.GetSpan(0, (int)domain.Length).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(AllDomains))]
    public void Flush_outside_the_domain_throws(bool pmem, DurabilityMode mode)
    {
        using var domain = Map(forcePmem: pmem).CreateDomain(mode);
        Assert.Throws<ArgumentOutOfRangeException>(() => domain.Flush(domain.Length - 10, 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => domain.Copy(domain.Length - 1, new byte[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => domain.Move(0, domain.Length - 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => domain.Fill(-1, 0, 2));
    }

    [Theory]
    [MemberData(nameof(AllDomains))]
    public void Extend_grows_the_domain_without_moving_it(bool pmem, DurabilityMode mode)
    {
        using var domain = Map(length: 8192, forcePmem: pmem, reserve: 4L << 20).CreateDomain(mode);
        domain.WriteDurable(8184, 77L);
        ref long before = ref domain.GetRef<long>(8184);
        domain.Extend(1L << 20);
        Assert.Equal(1L << 20, domain.Length);
        Assert.True(Unsafe.AreSame(ref before, ref domain.GetRef<long>(8184)));
        Assert.Equal(77L, domain.Read<long>(8184));
        domain.WriteDurable((1L << 20) - 8, 5L);
        Assert.Equal(5L, domain.Read<long>((1L << 20) - 8));
        Assert.Equal(4L << 20, domain.ReservedLength);
    }

    [Fact]
    public void Msync_domain_coalesces_a_batch_into_one_sync()
    {
        using var domain = (MsyncDomain)Map(length: 1 << 20).CreateDomain(DurabilityMode.PowerFailure);
        for (int i = 0; i < 50; i++)
        {
            domain.Write(i * 64, (long)i);
            domain.Flush(i * 64, 8);          // 50 flushes on one page
        }

        domain.Write(500_000, 1L);
        domain.Flush(500_000, 8);             // a second, distant area: the same msync spans it
        domain.Drain();
        Assert.Equal(1, domain.SyncCalls);
        domain.Drain();
        Assert.Equal(1, domain.SyncCalls);
    }

    [Fact]
    public void Msync_domain_syncs_inlined_batch_writes_once_at_the_drain()
    {
        using var domain = (MsyncDomain)Map(length: 1 << 20).CreateDomain(DurabilityMode.PowerFailure);
        for (int i = 0; i < 8; i++)
        {
            domain.WriteAndFlush(i * 4096, (long)i); // a batch's writes: recorded, not synced
        }

        Assert.Equal(0, domain.SyncCalls);
        domain.Drain();
        Assert.Equal(1, domain.SyncCalls);
        domain.WriteAndPersist(100, 9L);
        Assert.Equal(2, domain.SyncCalls);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Inlined_writes_reach_the_file_on_pmem_and_process_crash_domains(DurabilityMode mode)
    {
        var guid = Guid.NewGuid();
        using (var domain = Map(forcePmem: true).CreateDomain(mode))
        {
            domain.WriteAndFlush(64, 11L);
            domain.Drain();
            domain.WriteAndPersist(160, 12);
            domain.WriteAndPersist(120, guid); // wider than a word, across two lines: the store, then a flush of both
        }

        var bytes = TestFiles.ReadAllBytes(Path.Combine(_directory, "pool"));
        Assert.Equal(11L, BitConverter.ToInt64(bytes, 64));
        Assert.Equal(guid, new Guid(bytes.AsSpan(120, 16)));
        Assert.Equal(12, BitConverter.ToInt32(bytes, 160));
    }

    [Fact]
    public void Msync_domain_drain_with_nothing_flushed_makes_no_sync()
    {
        using var domain = (MsyncDomain)Map().CreateDomain(DurabilityMode.PowerFailure);
        domain.WriteDurable(0, 1L);
        long after = domain.SyncCalls;
        domain.Drain();
        domain.Drain();
        Assert.Equal(after, domain.SyncCalls);
        Assert.Equal(1, after);
    }

    [Fact]
    public void Msync_domain_no_drain_copies_share_one_sync()
    {
        using var domain = (MsyncDomain)Map().CreateDomain(DurabilityMode.PowerFailure);
        domain.Copy(0, new byte[100], PmemCopyFlags.NoDrain);
        domain.Copy(200, new byte[100], PmemCopyFlags.NoDrain);
        domain.Fill(4096, 1, 100, PmemCopyFlags.NoDrain);
        Assert.Equal(0, domain.SyncCalls);
        domain.Drain();
        Assert.Equal(1, domain.SyncCalls);
    }

    [Fact]
    public void Concurrent_drains_share_syncs_and_all_data_reaches_the_file()
    {
        const int threads = 8, rounds = 50;
        using (var domain = (MsyncDomain)Map(length: threads * 4096).CreateDomain(DurabilityMode.PowerFailure))
        {
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                for (int r = 1; r <= rounds; r++)
                {
                    domain.Write(t * 4096, (long)r);
                    domain.Flush(t * 4096, 8);
                    domain.Drain();
                }
            });

            // Each drain needs a sync that started after its flush; shared syncs make it at most one per drain.
            Assert.InRange(domain.SyncCalls, 1, threads * rounds);
        }

        byte[] file = TestFiles.ReadAllBytes(Path.Combine(_directory, "pool"));
        for (int t = 0; t < threads; t++)
        {
            Assert.Equal(rounds, BitConverter.ToInt64(file, t * 4096));
        }
    }

    [Fact]
    public void Process_crash_domain_flush_and_drain_do_not_sync()
    {
        using var domain = Map().CreateDomain(DurabilityMode.ProcessCrash);
        domain.Write(0, 5L);
        domain.Persist(0, 8);
        Assert.Equal(5L, domain.Read<long>(0));
    }

    [Theory]
    [MemberData(nameof(AllDomains))]
    public void Prefault_for_write_maps_the_range_and_changes_no_byte(bool pmem, DurabilityMode mode)
    {
        using var domain = (MappedDomain)Map(length: 1 << 20, forcePmem: pmem).CreateDomain(mode);
        domain.Fill(0, 0x5A, 100);
        var mappedBefore = MappedKiB((nint)domain.Mapping.Address);

        domain.PrefaultForWrite(64 * 1024 + 100, 512 * 1024); // unaligned: whole pages around it
        domain.PrefaultForWrite(domain.Length - 10, 4096);     // past the end: clipped
        domain.PrefaultForWrite(-4096, 100);                    // before the start: nothing
        domain.PrefaultForWrite(0, 0);

        if (Environment.OSVersion.Version >= new Version(5, 14))
        {
            Assert.True(MappedKiB((nint)domain.Mapping.Address) - mappedBefore >= 512, "MADV_POPULATE_WRITE should have mapped the range's pages");
        }

        var expected = new byte[domain.Length];
        Array.Fill(expected, (byte)0x5A, 0, 100);
        Assert.Equal(expected, domain.GetSpan(0, (int)domain.Length).ToArray());
    }

    /// <summary>The resident KiB of the mapping that starts at <paramref name="address"/>, from /proc/self/smaps.</summary>
    private static long MappedKiB(nint address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && long.TryParse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out var start))
            {
                inside = start == address;
            }
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim());
            }
        }

        throw new InvalidOperationException($"no mapping starts at {address:x}");
    }
}
