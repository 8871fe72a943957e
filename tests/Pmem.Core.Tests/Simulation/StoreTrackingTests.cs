using Pmem.Memory.Simulation;
using static Pmem.Tests.Simulation.CrashOutcomes;

namespace Pmem.Tests.Simulation;

/// <summary>With store tracking, a line persists as a prefix of its stores, each aligned 8-byte word atomic.</summary>
public sealed class StoreTrackingTests
{
    [Fact]
    public void Later_store_in_a_line_never_persists_without_an_earlier_one()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(16, 1L);
        domain.Write(0, 2L);
        domain.Write(40, 3L);

        var outcomes = Observe(domain, image => (Int64At(image, 16), Int64At(image, 0), Int64At(image, 40)));

        // Exactly the four prefixes of the store sequence, whatever the addresses.
        Assert.Equal([(0L, 0L, 0L), (1L, 0L, 0L), (1L, 2L, 0L), (1L, 2L, 3L)], outcomes.Order());
    }

    [Fact]
    public void Stores_to_different_lines_persist_independently()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(0, 1L);
        domain.Write(64, 2L);

        var outcomes = Observe(domain, image => (Int64At(image, 0), Int64At(image, 64)));

        Assert.Equal([(0L, 0L), (0L, 2L), (1L, 0L), (1L, 2L)], outcomes.Order());
    }

    [Fact]
    public void Aligned_8_byte_store_is_never_torn()
    {
        const long Old = 0x1111111111111111;
        const long New = 0x2222222222222222;
        using var domain = new SimulatedDomain(4096);
        domain.WriteDurable(8, Old);
        domain.Write(8, New);

        Assert.Equal([Old, New], Observe(domain, image => Int64At(image, 8)).Order());
    }

    [Fact]
    public void Wide_store_tears_only_at_8_byte_boundaries_in_address_order()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(128, new Int128(upper: 0x2222222222222222, lower: 0x1111111111111111));

        var outcomes = Observe(domain, image => (Int64At(image, 128), Int64At(image, 136)));

        // The low word is stored first; each word is whole or absent.
        Assert.Equal([(0L, 0L), (0x1111111111111111L, 0L), (0x1111111111111111L, 0x2222222222222222L)], outcomes.Order());
    }

    [Fact]
    public void Unaligned_store_may_tear_at_the_word_boundary_it_crosses()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(4, -1L); // bytes 4..11: the last half of word 0 and the first half of word 1

        var outcomes = Observe(domain, image => (BitConverter.ToInt32(image, 4), BitConverter.ToInt32(image, 8)));

        Assert.Equal([(-1, -1), (-1, 0), (0, 0)], outcomes.Order());
    }

    [Fact]
    public void Span_store_without_notification_persists_as_the_whole_old_or_new_line()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(0, 1L);
        BitConverter.TryWriteBytes(domain.GetSpan(8, 8), 2L); // not reported to the domain

        var outcomes = Observe(domain, image => (Int64At(image, 0), Int64At(image, 8)));

        Assert.Equal([(0L, 0L), (1L, 2L)], outcomes.Order());
    }

    [Fact]
    public void Span_store_with_notification_is_tracked_like_any_store()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(0, 1L);
        BitConverter.TryWriteBytes(domain.GetSpan(8, 8), 2L);
        domain.NotifyStore(8, 8);

        var outcomes = Observe(domain, image => (Int64At(image, 0), Int64At(image, 8)));

        Assert.Equal([(0L, 0L), (1L, 0L), (1L, 2L)], outcomes.Order());
    }

    [Fact]
    public void Line_with_more_stores_than_tracked_persists_whole()
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { MaxStoresPerLine = 4 });
        for (long value = 1; value <= 10; value++)
        {
            domain.Write(0, value);
        }

        Assert.Equal([0L, 10L], Observe(domain, image => Int64At(image, 0)).Order());
    }
}
