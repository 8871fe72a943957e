using System.Runtime.CompilerServices;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using static Pmem.Tests.Simulation.CrashOutcomes;

namespace Pmem.Tests.Simulation;

/// <summary>Creating, reopening, growing and observing a simulated domain.</summary>
public sealed unsafe class DomainLifecycleTests
{
    private static nint AddressOf(SimulatedDomain domain) => (nint)Unsafe.AsPointer(ref domain.GetRef<byte>(0));

    [Fact]
    public void Domain_is_simulated_persistent_memory_zero_filled_and_line_aligned()
    {
        using var domain = new SimulatedDomain(1000);

        Assert.Equal((FlushPath.Simulated, true, 1000L), (domain.FlushPath, domain.IsPersistentMemory, domain.Length));
        Assert.Equal(0, AddressOf(domain) % PersistenceDomain.CacheLineSize);
        Assert.True(domain.GetSpan(0, 1000).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void FromImage_round_trips_as_both_live_and_durable_content()
    {
        var image = new byte[1000];
        new Random(7).NextBytes(image);

        using var domain = SimulatedDomain.FromImage(image);

        Assert.Equal(1000, domain.Length);
        Assert.Equal(image, domain.GetSpan(0, 1000).ToArray());
        Assert.All(Images(domain), crash => Assert.Equal(image, crash));
        Assert.Empty(domain.CheckPersistence());
    }

    [Fact]
    public void Extend_keeps_the_base_address_and_the_data()
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { Capacity = 1 << 20 });
        domain.WriteDurable(4088, 42L);
        domain.Write(100, 7L);
        nint before = AddressOf(domain);

        domain.Extend(100_000);
        domain.WriteDurable(99_992, 43L);

        Assert.Equal((before, 100_000L), (AddressOf(domain), domain.Length));
        Assert.Equal((42L, 7L, 43L), (domain.Read<long>(4088), domain.Read<long>(100), domain.Read<long>(99_992)));
        var none = domain.CrashNonePersisted();
        Assert.Equal((100_000, 42L, 0L, 43L), (none.Length, Int64At(none, 4088), Int64At(none, 100), Int64At(none, 99_992)));
        Assert.True(none.AsSpan(4096, 95_896).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void Extend_beyond_the_capacity_throws()
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { Capacity = 8192 });

        Assert.Throws<ArgumentOutOfRangeException>(() => domain.Extend(8193));
        Assert.Equal(4096, domain.Length);
    }

    [Fact]
    public void Drain_hooks_run_at_every_drain_around_making_lines_durable()
    {
        using var domain = new SimulatedDomain(4096);
        var seen = new List<string>();
        domain.BeforeDrain = d => seen.Add($"before {d.DrainCount}: {Int64At(d.CrashNonePersisted(), 0)}");
        domain.AfterDrain = d => seen.Add($"after {d.DrainCount}: {Int64At(d.CrashNonePersisted(), 0)}");

        domain.Write(0, 5L);
        domain.Persist(0, 8);
        domain.Copy(64, new byte[8]);
        domain.Drain();

        Assert.Equal(["before 0: 0", "after 1: 5", "before 1: 5", "after 2: 5", "before 2: 5", "after 3: 5"], seen);
        Assert.Equal(3, domain.DrainCount);
    }

    [Fact]
    public void Drain_made_inside_a_hook_does_not_run_the_hooks_again()
    {
        using var domain = new SimulatedDomain(4096);
        int calls = 0;
        domain.BeforeDrain = d =>
        {
            calls++;
            d.Drain();
        };

        domain.Drain();

        Assert.Equal((1, 2L), (calls, domain.DrainCount));
    }
}
