using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed class DirtySpanTests
{
    private static (long, long) After(params (long Offset, long Length)[] adds)
    {
        var span = new DirtySpan(4096);
        foreach (var (offset, length) in adds)
        {
            span.Add(offset, length);
        }

        return span.Take();
    }

    [Fact]
    public void A_range_is_widened_to_whole_pages() => Assert.Equal((4096L, 12288L), After((5000, 5000)));

    [Fact]
    public void Zero_length_adds_nothing() => Assert.Equal((0L, 0L), After((100, 0)));

    [Fact]
    public void Ranges_on_one_page_give_that_page() => Assert.Equal((0L, 4096L), After((0, 8), (64, 8), (4000, 96)));

    [Fact]
    public void Distant_ranges_give_the_span_from_the_first_page_to_the_last_in_any_order() =>
        Assert.Equal((4096L, 45056L), After((40960, 1), (4096, 1), (16384, 1)));

    [Fact]
    public void Take_empties_the_span()
    {
        var span = new DirtySpan(4096);
        Assert.True(span.IsEmpty);
        Assert.Equal((0L, 0L), span.Take());
        span.Add(8192, 1);
        Assert.False(span.IsEmpty);
        Assert.Equal((8192L, 12288L), span.Take());
        Assert.True(span.IsEmpty);
        span.Add(0, 1); // a fresh span: the taken one leaves no trace
        Assert.Equal((0L, 4096L), span.Take());
    }

    [Fact]
    public void Random_adds_give_the_smallest_page_span_covering_them_all()
    {
        var random = new Random(42);
        var span = new DirtySpan(4096);
        for (var round = 0; round < 50; round++)
        {
            long low = long.MaxValue, high = long.MinValue;
            for (var i = 0; i < random.Next(1, 8); i++)
            {
                long offset = random.Next(0, 60 * 4096);
                long length = random.Next(1, 3 * 4096);
                span.Add(offset, length);
                low = Math.Min(low, offset / 4096 * 4096);
                high = Math.Max(high, (offset + length + 4095) / 4096 * 4096);
            }

            Assert.Equal((low, high), span.Take());
        }
    }

    [Fact]
    public void Page_size_must_be_a_power_of_two() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DirtySpan(3000));
}
