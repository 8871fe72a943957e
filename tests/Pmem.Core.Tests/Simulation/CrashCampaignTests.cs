using Pmem.Memory.Simulation;

namespace Pmem.Tests.Simulation;

/// <summary>The crash-campaign harness visits every drain, counts its images and reports reproducible failures.</summary>
public sealed class CrashCampaignTests
{
    private const int DomainLength = 4096;
    private const int RecordOffset = 0;   // three lines of data: [0, 192)
    private const int RecordLength = 192;
    private const int ValidFlagOffset = 256;

    private static readonly CrashCampaignOptions ShortCampaign = new() { BaseSeed = 11, Long = false };

    /// <summary>Writes a record, then publishes it with a flag; with the bug the record is never flushed.</summary>
    private static void PublishRecord(SimulatedDomain domain, bool forgetRecordFlush)
    {
        for (int i = 0; i < RecordLength; i += 8)
        {
            domain.Write(RecordOffset + i, 0x5A5A5A5A00000000L | (uint)i);
        }

        if (!forgetRecordFlush)
        {
            domain.Persist(RecordOffset, RecordLength);
        }

        domain.WriteDurable(ValidFlagOffset, 1L);
    }

    /// <summary>The invariant: a published record is complete.</summary>
    private static void RecordIsCompleteWhenPublished(byte[] image, CrashPoint where)
    {
        using var reopened = SimulatedDomain.FromImage(image);
        if (reopened.Read<long>(ValidFlagOffset) != 1)
        {
            return;
        }

        for (int i = 0; i < RecordLength; i += 8)
        {
            Assert.True(
                reopened.Read<long>(RecordOffset + i) == (0x5A5A5A5A00000000L | (uint)i),
                $"Published record incomplete at byte {i} ({where}).");
        }
    }

    [Fact]
    public void Campaign_checks_both_extremes_and_the_random_images_at_every_drain_and_at_the_end()
    {
        var points = new List<CrashPoint>();
        var result = CrashCampaign.Run(
            DomainLength,
            domain => PublishRecord(domain, forgetRecordFlush: false),
            (image, where) => points.Add(where),
            ShortCampaign);

        TestContext.Current.TestOutputHelper?.WriteLine(result.ToString());
        Assert.Equal((3L, 2L, 66L), (result.CrashPoints, result.DrainPoints, result.ImagesChecked)); // 2 drains + end, 22 images each
        Assert.Equal(66, points.Count);
        Assert.Equal([0L, 1L, 2L], points.Select(point => point.DrainIndex).Distinct());
        Assert.Equal(22, points.Count(point => point.AtEnd));
        Assert.Equal(20, points.Count(point => point.DrainIndex == 0 && point.Kind == CrashImageKind.RandomSubset));
        Assert.Single(points, point => point.DrainIndex == 1 && point.Kind == CrashImageKind.NonePersisted);
        Assert.Single(points, point => point.DrainIndex == 1 && point.Kind == CrashImageKind.AllPersisted);
    }

    [Fact]
    public void Correctly_ordered_workload_passes_every_crash_image()
    {
        var result = CrashCampaign.Run(
            DomainLength,
            domain => PublishRecord(domain, forgetRecordFlush: false),
            RecordIsCompleteWhenPublished,
            ShortCampaign);

        TestContext.Current.TestOutputHelper?.WriteLine(result.ToString());
        Assert.True(result.Succeeded, result.ToString());
        result.ThrowIfFailed();
    }

    [Fact]
    public void Missing_flush_is_caught_with_a_seed_and_drain_index_that_reproduce_it()
    {
        static SimulatedDomain Create() => new(DomainLength);
        static void Workload(SimulatedDomain domain) => PublishRecord(domain, forgetRecordFlush: true);

        var result = CrashCampaign.Run(Create, Workload, RecordIsCompleteWhenPublished, ShortCampaign);

        TestContext.Current.TestOutputHelper?.WriteLine(result.ToString());
        Assert.False(result.Succeeded);
        var failure = result.Failures.First(f => f.Point.Kind == CrashImageKind.RandomSubset);
        Assert.Contains($"seed {failure.Point.Seed}", failure.ToString());
        var image = CrashCampaign.ReproduceImage(Create, Workload, failure.Point);
        Assert.ThrowsAny<Exception>(() => RecordIsCompleteWhenPublished(image, failure.Point));
        var thrown = Assert.Throws<CrashCampaignFailedException>(result.ThrowIfFailed);
        Assert.Same(result, thrown.Result);
    }

    [Fact]
    public void Same_base_seed_gives_the_same_failures()
    {
        CrashCampaignResult Campaign(int seed) => CrashCampaign.Run(
            DomainLength,
            domain => PublishRecord(domain, forgetRecordFlush: true),
            RecordIsCompleteWhenPublished,
            ShortCampaign with { BaseSeed = seed });

        var first = Campaign(5);
        var again = Campaign(5);
        var other = Campaign(6);

        Assert.Equal(first.Failures.Select(f => f.Point), again.Failures.Select(f => f.Point));
        Assert.NotEqual(first.Failures.Select(f => f.Point), other.Failures.Select(f => f.Point));
    }

    [Fact]
    public void Long_campaign_multiplies_the_random_images_per_point()
    {
        var result = CrashCampaign.Run(
            DomainLength,
            domain => domain.WriteDurable(0, 1L),
            (image, where) => { },
            new CrashCampaignOptions { Long = true, ImagesPerPoint = 20, LongCampaignMultiplier = 10, IncludeEndOfWorkload = false });

        TestContext.Current.TestOutputHelper?.WriteLine(result.ToString());
        Assert.Equal((1L, 202L), (result.CrashPoints, result.ImagesChecked));
    }

    [Fact]
    public void Drains_made_while_creating_the_domain_are_not_crash_points()
    {
        var result = CrashCampaign.Run(
            () =>
            {
                var domain = new SimulatedDomain(DomainLength);
                domain.WriteDurable(0, 1L);
                domain.WriteDurable(8, 2L);
                return domain;
            },
            domain => domain.WriteDurable(16, 3L),
            (image, where) => Assert.Equal(2L, BitConverter.ToInt64(image, 8)),
            ShortCampaign with { IncludeEndOfWorkload = false });

        Assert.Equal((1L, 22L, 0L), (result.CrashPoints, result.ImagesChecked, result.FailureCount));
    }

    [Fact]
    public void Hook_installed_by_the_caller_keeps_running_and_is_restored()
    {
        int callerHookCalls = 0;
        Action<SimulatedDomain> callerHook = _ => callerHookCalls++;
        SimulatedDomain? used = null;

        CrashCampaign.Run(
            () =>
            {
                used = new SimulatedDomain(DomainLength) { BeforeDrain = callerHook };
                return used;
            },
            domain => domain.WriteDurable(0, 1L),
            (image, where) => { },
            ShortCampaign);

        Assert.Equal(1, callerHookCalls);
        Assert.Same(callerHook, used!.BeforeDrain);
    }
}

/// <summary>Tests that set process-wide environment variables run alone.</summary>
[CollectionDefinition(nameof(EnvironmentVariableCollection), DisableParallelization = true)]
public sealed class EnvironmentVariableCollection;

/// <summary>The long-campaign knob read from the environment.</summary>
[Collection(nameof(EnvironmentVariableCollection))]
public sealed class CrashCampaignLengthTests
{
    [Fact]
    public void PMEM_CRASH_CAMPAIGN_long_multiplies_the_images_per_point_unless_the_options_decide()
    {
        string? saved = Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable);
        try
        {
            Environment.SetEnvironmentVariable(CrashCampaign.LengthVariable, "long");
            Assert.Equal(200, CrashCampaign.RandomImagesPerPoint(new CrashCampaignOptions()));
            Assert.Equal(20, CrashCampaign.RandomImagesPerPoint(new CrashCampaignOptions { Long = false }));

            Environment.SetEnvironmentVariable(CrashCampaign.LengthVariable, null);
            Assert.Equal(20, CrashCampaign.RandomImagesPerPoint(new CrashCampaignOptions()));
        }
        finally
        {
            Environment.SetEnvironmentVariable(CrashCampaign.LengthVariable, saved);
        }
    }
}
