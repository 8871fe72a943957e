using Pmem.Generators.Helpers;
using Pmem.Generators.Layout;

namespace Pmem.Generators.Tests;

/// <summary>The layout planner on its own: a pure function from fields to offsets, size and hash.</summary>
public sealed class LayoutPlannerTests
{
    private static readonly int[] ScalarSizes = [1, 2, 4, 8, 16];
    private static readonly int[] NullableSizes = [2, 4, 8, 16, 20, 24, 32];

    [Fact]
    public void No_field_straddles_a_cache_line_overlaps_another_or_is_misaligned()
    {
        var random = new Random(20261125);
        var checkedPlans = 0;
        for (var iteration = 0; iteration < 500; iteration++)
        {
            var fields = RandomFields(random, random.Next(0, 40), NullableSizes, withGroups: true);
            var plan = LayoutPlanner.Plan(Request(fields));

            Assert.True(plan.Size >= 64 && plan.Size % 64 == 0, $"size {plan.Size}");
            var used = new bool[plan.Size];
            foreach (var field in plan.Fields)
            {
                Assert.Equal(field.Offset / 64, (field.Offset + field.Size - 1) / 64);
                Assert.Equal(0, field.Offset % LayoutPlanner.AlignmentOf(field.Size));
                for (var i = field.Offset; i < field.Offset + field.Size; i++)
                {
                    Assert.False(used[i], $"byte {i} of {field.Name} is already used");
                    used[i] = true;
                }
            }

            Assert.Equal(fields.Count, plan.Fields.Count);
            checkedPlans++;
        }

        Assert.Equal(500, checkedPlans);
    }

    [Fact]
    public void Power_of_two_sizes_pack_into_the_minimal_number_of_lines()
    {
        var random = new Random(7);
        for (var iteration = 0; iteration < 500; iteration++)
        {
            var fields = RandomFields(random, random.Next(1, 60), ScalarSizes, withGroups: false);
            var plan = LayoutPlanner.Plan(Request(fields));

            var minimal = Math.Max(1, (fields.Sum(field => field.Size) + 63) / 64) * 64;
            Assert.Equal(minimal, plan.Size);
        }
    }

    [Fact]
    public void Mixed_sizes_are_sorted_by_size_and_placed_first_fit()
    {
        var plan = LayoutPlanner.Plan(Request(
        [
            Field("Flag", 1),
            Field("Count", 4),
            Field("Id", 16),
            Field("Balance", 8),
            Field("Total", 16),
            Field("Tiny", 2),
        ]));

        Assert.Equal(
            ["Id@0", "Total@16", "Balance@32", "Count@40", "Tiny@44", "Flag@46"],
            plan.Fields.Select(field => $"{field.Name}@{field.Offset}"));
        Assert.Equal(64, plan.Size);
    }

    [Fact]
    public void Fields_that_do_not_fit_the_rest_of_a_line_start_the_next_and_later_fields_fill_the_gap()
    {
        // 3 × 20 bytes leave 4 bytes in line 0 that a later 4-byte field must reuse.
        var plan = LayoutPlanner.Plan(Request(
        [
            Field("A", 20), Field("B", 20), Field("C", 20), Field("D", 20), Field("Small", 4),
        ]));

        Assert.Equal(["A@0", "B@20", "C@40", "Small@60", "D@64"], plan.Fields.Select(field => $"{field.Name}@{field.Offset}"));
        Assert.Equal(128, plan.Size);
    }

    [Fact]
    public void Group_members_are_placed_together_on_one_line()
    {
        var plan = LayoutPlanner.Plan(Request(
        [
            Field("Filler1", 16), Field("Filler2", 16), Field("Filler3", 16),
            Field("Head", 8, "hot"), Field("Tail", 8, "hot"), Field("Count", 4, "hot"),
        ]));

        var hot = plan.Fields.Where(field => field.Group == "hot").ToList();
        Assert.Equal(3, hot.Count);
        Assert.Single(hot.Select(field => field.CacheLine).Distinct());
        Assert.Equal(20, hot.Max(field => field.Offset + field.Size) - hot.Min(field => field.Offset));
    }

    [Fact]
    public void Group_measure_counts_packed_bytes()
    {
        Assert.Equal(64, LayoutPlanner.MeasureGroup([Field("A", 16), Field("B", 16), Field("C", 16), Field("D", 16)]));
        Assert.Equal(65, LayoutPlanner.MeasureGroup([Field("A", 16), Field("B", 16), Field("C", 16), Field("D", 16), Field("E", 1)]));
    }

    [Fact]
    public void An_oversized_group_is_laid_out_as_ungrouped_fields()
    {
        var fields = Enumerable.Range(0, 5).Select(index => Field($"K{index}", 16, "keys")).ToList();
        var plan = LayoutPlanner.Plan(Request(fields));

        Assert.Equal(128, plan.Size);
        Assert.All(plan.Fields, field => Assert.Equal(field.Offset / 64, (field.Offset + field.Size - 1) / 64));
    }

    [Fact]
    public void Declaration_order_does_not_change_the_layout_or_the_hash()
    {
        var random = new Random(3);
        var fields = RandomFields(random, 25, NullableSizes, withGroups: true);
        var expected = LayoutPlanner.Plan(Request(fields));

        for (var shuffle = 0; shuffle < 20; shuffle++)
        {
            var shuffled = fields.OrderBy(_ => random.Next()).ToList();
            Assert.Equal(expected, LayoutPlanner.Plan(Request(shuffled)));
        }
    }

    [Fact]
    public void An_empty_class_is_one_line()
    {
        var plan = LayoutPlanner.Plan(Request([]));

        Assert.Equal(64, plan.Size);
        Assert.Empty(plan.Fields);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(4, 4)]
    [InlineData(8, 8)]
    [InlineData(16, 16)]
    [InlineData(20, 4)]
    [InlineData(24, 8)]
    [InlineData(32, 16)]
    public void Alignment_is_the_largest_power_of_two_dividing_the_size_up_to_16(int size, int alignment) =>
        Assert.Equal(alignment, LayoutPlanner.AlignmentOf(size));

    [Fact]
    public void Layout_hash_is_pinned_for_a_known_layout()
    {
        // A change here changes every pool's recorded layout: only accept it together with a format/version bump.
        var plan = LayoutPlanner.Plan(new LayoutRequest("Bank.Account",
            new[] { new LayoutField("Balance", "System.Int64", 8, 8, null), new LayoutField("Owner", "string", 8, 8, null) }.ToEquatableArray()));

        Assert.Equal(0xC14D216B00AF57E6UL, plan.LayoutHash);
    }

    [Fact]
    public void Layout_hash_is_an_fnv1a_64_over_the_documented_items()
    {
        var fields = new[] { new PlacedField("Balance", "System.Int64", 0, 8, null) }.ToEquatableArray();
        var bytes = new List<byte>();
        foreach (var item in new[] { LayoutHash.Version, "Bank.Account", "64", "Balance", "System.Int64", "0", "8" })
        {
            bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(item));
            bytes.Add(0);
        }

        var expected = 0xcbf29ce484222325UL;
        foreach (var value in bytes)
        {
            expected = unchecked((expected ^ value) * 0x100000001b3UL);
        }

        Assert.Equal(expected, LayoutHash.Compute("Bank.Account", 64, fields));
    }

    [Fact]
    public void Layout_hash_changes_with_any_durable_change()
    {
        LayoutField[] baseline = [Field("Balance", 8), Field("Count", 4), Field("Owner", 8)];
        var hash = LayoutPlanner.Plan(Request(baseline)).LayoutHash;

        Assert.Equal(hash, LayoutPlanner.Plan(Request(baseline)).LayoutHash);
        Assert.NotEqual(hash, LayoutPlanner.Plan(Request(baseline, "Other.Name")).LayoutHash);
        Assert.NotEqual(hash, LayoutPlanner.Plan(Request([Field("Balance", 8), Field("Count", 4), Field("Renamed", 8)])).LayoutHash);
        Assert.NotEqual(hash, LayoutPlanner.Plan(Request([Field("Balance", 8), new LayoutField("Count", "System.Single", 4, 4, null), Field("Owner", 8)])).LayoutHash);
        Assert.NotEqual(hash, LayoutPlanner.Plan(Request([Field("Balance", 8), Field("Count", 4)])).LayoutHash);
        Assert.NotEqual(hash, LayoutPlanner.Plan(Request([Field("Balance", 8), Field("Count", 8), Field("Owner", 8)])).LayoutHash);

        // Grouping moves Count to a different offset, which is a different layout.
        Assert.NotEqual(hash, LayoutPlanner.Plan(Request([Field("Balance", 8), Field("Count", 4, "g"), Field("Owner", 8, "g")])).LayoutHash);
    }

    private static LayoutRequest Request(IEnumerable<LayoutField> fields, string name = "Tests.Sample") =>
        new(name, fields.ToEquatableArray());

    private static LayoutField Field(string name, int size, string? group = null) =>
        new(name, $"bytes{size}", size, LayoutPlanner.AlignmentOf(size), group);

    private static List<LayoutField> RandomFields(Random random, int count, int[] sizes, bool withGroups) =>
        Enumerable.Range(0, count)
            .Select(index =>
            {
                var size = sizes[random.Next(sizes.Length)];
                // Groups of two members of at most 32 bytes each always fit in one line.
                var group = withGroups && index % 7 < 2 ? $"g{index / 7}" : null;
                return Field($"F{index}", size, group);
            })
            .ToList();
}
