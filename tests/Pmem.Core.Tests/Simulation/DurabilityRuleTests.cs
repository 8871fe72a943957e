using Pmem.Memory.Simulation;
using static Pmem.Tests.Simulation.CrashOutcomes;

namespace Pmem.Tests.Simulation;

/// <summary>Stores become durable only through flush + drain; until then a crash may or may not keep them.</summary>
public sealed class DurabilityRuleTests
{
    private const long Old = 0x0101010101010101;
    private const long New = 0x7E7E7E7E7E7E7E7E;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Persisted_store_survives_every_crash_image(bool trackStores)
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { TrackStores = trackStores });
        domain.Write(64, New);
        domain.Persist(64, 8);
        // Later unflushed stores elsewhere in the same line and in other lines must not disturb it.
        domain.Write(72, 5L);
        domain.Write(1024, 6L);

        Assert.Equal([New], ObserveAll(domain, image => Int64At(image, 64)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Unflushed_store_vanishes_in_some_crash_images_and_survives_in_others(bool trackStores)
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { TrackStores = trackStores });
        domain.Write(128, New);

        Assert.Equal(0, Int64At(domain.CrashNonePersisted(), 128));
        Assert.Equal(New, Int64At(domain.CrashAllPersisted(), 128));
        Assert.Equal([0L, New], Observe(domain, image => Int64At(image, 128)).Order());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Flushed_but_undrained_line_may_or_may_not_survive(bool trackStores)
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { TrackStores = trackStores });
        domain.Write(256, New);
        domain.Flush(256, 8);

        Assert.Equal([0L, New], Observe(domain, image => Int64At(image, 256)).Order());
    }

    [Fact]
    public void Drained_line_survives_every_crash_image()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(256, New);
        domain.Flush(256, 8);
        domain.Drain();

        Assert.Equal([New], ObserveAll(domain, image => Int64At(image, 256)));
    }

    [Fact]
    public void Store_made_after_the_flush_is_not_covered_by_the_drain()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(0, Old);
        domain.Flush(0, 64);
        domain.Write(8, New); // same line, after its flush
        domain.Drain();

        Assert.Equal([Old], ObserveAll(domain, image => Int64At(image, 0)));
        Assert.Equal([0L, New], Observe(domain, image => Int64At(image, 8)).Order());
    }

    [Fact]
    public void Drain_on_one_thread_does_not_make_another_threads_flush_durable()
    {
        using var domain = new SimulatedDomain(4096);
        using var flushed = new ManualResetEventSlim();
        using var mayDrain = new ManualResetEventSlim();
        var other = new Thread(() =>
        {
            domain.Write(512, New);
            domain.Flush(512, 8);
            flushed.Set();
            mayDrain.Wait();
            domain.Drain();
        });
        other.Start();
        flushed.Wait();

        domain.Write(0, Old);
        domain.Persist(0, 8); // this thread's drain
        var beforeOtherDrains = Observe(domain, image => Int64At(image, 512));

        mayDrain.Set();
        other.Join();
        var afterOtherDrains = ObserveAll(domain, image => Int64At(image, 512));

        Assert.Equal([0L, New], beforeOtherDrains.Order());
        Assert.Equal([New], afterOtherDrains);
    }

    [Fact]
    public void Crash_extremes_are_the_live_content_and_the_durable_image()
    {
        using var domain = new SimulatedDomain(1024);
        domain.WriteDurable(0, Old);
        domain.Write(0, New);
        domain.Write(700, New);

        var all = domain.CrashAllPersisted();
        var none = domain.CrashNonePersisted();

        Assert.Equal(domain.GetSpan(0, 1024).ToArray(), all);
        Assert.Equal((New, New), (Int64At(all, 0), Int64At(all, 700)));
        Assert.Equal((Old, 0L), (Int64At(none, 0), Int64At(none, 700)));
    }

    [Fact]
    public void Same_seed_gives_the_same_crash_image()
    {
        using var domain = new SimulatedDomain(8192);
        for (int offset = 0; offset < 8192; offset += 40)
        {
            domain.Write(offset, (long)offset + 1);
        }

        Assert.Equal(domain.Crash(1234), domain.Crash(1234));
        Assert.NotEqual(domain.Crash(1), domain.Crash(2));
    }
}
