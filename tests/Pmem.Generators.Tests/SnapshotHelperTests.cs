using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>The snapshot helper itself: it must fail on a difference, or the snapshot tests could not fail.</summary>
public sealed class SnapshotHelperTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pmem-snapshots-" + Guid.NewGuid().ToString("N"));

    private string CallerFile => Path.Combine(_directory, "Sample.cs");

    private string Verified => Path.Combine(_directory, "Snapshots", "Sample.Case.verified.cs");

    private string Received => Path.Combine(_directory, "Snapshots", "Sample.Case.received.cs");

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public void A_missing_snapshot_fails_and_writes_the_received_file()
    {
        var failure = Snapshot.Check("line 1\n", CallerFile, "Case", accept: false);

        Assert.NotNull(failure);
        Assert.Contains(Verified, failure);
        Assert.Equal("line 1\n", File.ReadAllText(Received));
        Assert.False(File.Exists(Verified));
    }

    [Fact]
    public void A_different_output_fails_with_a_line_diff()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Verified)!);
        File.WriteAllText(Verified, "same\nold\nsame too\n");

        var failure = Snapshot.Check("same\nnew\nsame too\n", CallerFile, "Case", accept: false);

        Assert.NotNull(failure);
        Assert.Contains("-    2: old", failure);
        Assert.Contains("+    2: new", failure);
        Assert.DoesNotContain("same too", failure);
        Assert.True(File.Exists(Received));
    }

    [Fact]
    public void A_matching_output_passes_and_removes_a_stale_received_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Verified)!);
        File.WriteAllText(Verified, "text\r\n");
        File.WriteAllText(Received, "stale");

        Assert.Null(Snapshot.Check("text\n", CallerFile, "Case", accept: false));
        Assert.False(File.Exists(Received));
    }

    [Fact]
    public void Accepting_writes_the_verified_file()
    {
        Assert.Null(Snapshot.Check("accepted\n", CallerFile, "Case", accept: true));
        Assert.Equal("accepted\n", File.ReadAllText(Verified));
        Assert.False(File.Exists(Received));
    }
}
