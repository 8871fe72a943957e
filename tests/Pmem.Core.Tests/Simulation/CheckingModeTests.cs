using Pmem.Memory.Simulation;

namespace Pmem.Tests.Simulation;

/// <summary>Checking mode reports, like pmemcheck, stores never flushed and flushes never fenced.</summary>
public sealed class CheckingModeTests
{
    [Fact]
    public void Missing_flush_is_reported_with_its_line_range()
    {
        using var domain = new SimulatedDomain(4096);
        domain.WriteDurable(0, 1L);
        domain.Write(200, 2L); // line 3: [192, 256), never flushed

        var issue = Assert.Single(domain.CheckPersistence());

        Assert.Equal(new PersistenceIssue(PersistenceIssueKind.NotFlushed, 192, 64, 1), issue);
    }

    [Fact]
    public void Flush_without_drain_is_reported()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(64, 2L);
        domain.Flush(64, 8);

        var issue = Assert.Single(domain.CheckPersistence());

        Assert.Equal((PersistenceIssueKind.FlushedNotDrained, 64L, 64L), (issue.Kind, issue.Offset, issue.Length));
    }

    [Fact]
    public void Store_after_the_flush_is_reported_as_not_flushed()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(64, 2L);
        domain.Flush(64, 8);
        domain.Write(72, 3L);

        Assert.Equal(PersistenceIssueKind.NotFlushed, Assert.Single(domain.CheckPersistence()).Kind);
    }

    [Fact]
    public void Adjacent_lines_with_the_same_issue_are_reported_as_one_range()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Fill(100, 7, 300, Pmem.Memory.PmemCopyFlags.NoFlush);

        var issue = Assert.Single(domain.CheckPersistence());

        Assert.Equal((64L, 448L), (issue.Offset, issue.End));
    }

    [Fact]
    public void Persisted_stores_report_no_issues()
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { CheckingMode = true });
        domain.WriteDurable(0, 1L);
        domain.Write(64, 2L);
        domain.Write(128, 3L);
        domain.Flush(64, 72);
        domain.Drain();

        Assert.Empty(domain.CheckPersistence());
        Assert.Empty(domain.Issues);
        domain.AssertAllDurable();
        domain.AssertNoIssues();
    }

    [Fact]
    public void Checking_mode_records_a_missing_flush_at_the_drain()
    {
        using var domain = new SimulatedDomain(4096, new SimulationOptions { CheckingMode = true });
        domain.Write(0, 1L);
        domain.Write(64, 2L);
        domain.Flush(0, 8); // the flush of line 1 is missing
        domain.Drain();
        domain.Drain(); // the same issue is recorded once

        var issue = Assert.Single(domain.Issues);
        Assert.Equal(new PersistenceIssue(PersistenceIssueKind.NotFlushed, 64, 64, 1), issue);
        Assert.Throws<PersistenceCheckException>(domain.AssertNoIssues);
    }

    [Fact]
    public void Without_checking_mode_a_drain_records_nothing()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(64, 2L);
        domain.Drain();

        Assert.Empty(domain.Issues);
        Assert.Single(domain.CollectIssues());
        Assert.Single(domain.Issues);
    }

    [Fact]
    public void AssertAllDurable_names_the_offset_and_the_fault()
    {
        using var domain = new SimulatedDomain(4096);
        domain.Write(200, 2L);
        domain.Write(1024, 3L);
        domain.Flush(1024, 8);

        var exception = Assert.Throws<PersistenceCheckException>(domain.AssertAllDurable);

        Assert.Equal(2, exception.Issues.Count);
        Assert.Contains("bytes [0xC0, 0x100) (cache line 3): stored but never flushed", exception.Message);
        Assert.Contains("bytes [0x400, 0x440) (cache line 16): flushed but never fenced", exception.Message);
    }

    [Fact]
    public void Span_store_never_flushed_is_reported_without_notification()
    {
        using var domain = new SimulatedDomain(4096);
        domain.GetSpan(3000, 4).Fill(9);

        Assert.Equal(2944, Assert.Single(domain.CheckPersistence()).Offset);
    }
}
