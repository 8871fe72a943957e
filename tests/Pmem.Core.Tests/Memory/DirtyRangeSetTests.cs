using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed class DirtyRangeSetTests
{
    private static readonly DirtyRangeSet Empty = new(4096);

    private static (long, long)[] After(params (long Offset, long Length)[] adds)
    {
        var set = new DirtyRangeSet(4096);
        foreach (var (offset, length) in adds)
        {
            set.Add(offset, length);
        }

        return set.Ranges.ToArray();
    }

    [Fact]
    public void A_range_is_widened_to_whole_pages() => Assert.Equal([(4096L, 12288L)], After((5000, 5000)));

    [Fact]
    public void Zero_length_adds_nothing() => Assert.Empty(After((100, 0)));

    [Fact]
    public void Ranges_on_the_same_page_merge() => Assert.Equal([(0L, 4096L)], After((0, 8), (64, 8), (4000, 96)));

    [Fact]
    public void Touching_pages_merge() => Assert.Equal([(0L, 12288L)], After((0, 10), (4096, 10), (8192, 10)));

    [Fact]
    public void Distant_ranges_stay_separate_and_sorted() =>
        Assert.Equal([(0L, 4096L), (16384L, 20480L), (40960L, 45056L)], After((40960, 1), (0, 1), (16384, 1)));

    [Fact]
    public void A_range_bridging_several_merges_them_all() =>
        Assert.Equal([(0L, 45056L)], After((0, 1), (16384, 1), (40960, 1), (100, 40000)));

    [Fact]
    public void Take_span_returns_first_start_to_last_end_and_empties_the_set()
    {
        var set = new DirtyRangeSet(4096);
        Assert.Equal((0L, 0L), set.TakeSpan());
        set.Add(8192, 1);
        set.Add(0, 1);
        Assert.Equal([(0L, 4096L), (8192L, 12288L)], set.Ranges);
        Assert.Equal((0L, 12288L), set.TakeSpan());
        Assert.Equal(0, set.Count);
    }

    [Fact]
    public void Random_adds_match_a_page_bitmap()
    {
        var random = new Random(42);
        var set = new DirtyRangeSet(4096);
        var pages = new bool[64];
        for (int i = 0; i < 200; i++)
        {
            long offset = random.Next(0, 60 * 4096);
            long length = random.Next(1, 3 * 4096);
            set.Add(offset, length);
            for (long page = offset / 4096; page <= (offset + length - 1) / 4096; page++)
            {
                pages[page] = true;
            }

            var expected = new List<(long, long)>();
            for (int page = 0; page < pages.Length; page++)
            {
                if (pages[page] && (page == 0 || !pages[page - 1]))
                {
                    int end = page;
                    while (end < pages.Length && pages[end])
                    {
                        end++;
                    }

                    expected.Add((page * 4096L, end * 4096L));
                }
            }

            Assert.Equal(expected, set.Ranges);
        }
    }

    [Fact]
    public void Page_size_must_be_a_power_of_two() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DirtyRangeSet(3000));

    [Fact]
    public void New_set_is_empty() => Assert.Equal(0, Empty.Count);
}
