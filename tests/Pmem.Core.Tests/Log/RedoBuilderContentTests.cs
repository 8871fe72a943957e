// RedoBuilderContentTests -- what a write-ahead record carries of new content, and the memory a builder keeps.
using Pmem.Log;

namespace Pmem.Tests.Log;

/// <summary>
/// In a write-ahead log, content a commit publishes is copied into its record up to the pipeline's budget and synced
/// in place beyond it (the record stays within its limit whatever the transaction makes); a builder that grew for a
/// large commit does not keep that memory for the rest of its thread's life.
/// </summary>
public sealed class RedoBuilderContentTests
{
    [Fact]
    public void Content_past_the_budget_is_synced_before_the_record_instead_of_carried()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.RequireDurable(4096, new byte[600], PublishedContent.Log, loggedBudget: 1_000);
        Assert.False(redo.DrainBeforeLog);
        Assert.Equal(16 + 600, redo.Length);

        redo.RequireDurable(8192, new byte[600], PublishedContent.Log, loggedBudget: 1_000); // 400 left: drained
        Assert.True(redo.DrainBeforeLog);
        Assert.Equal(16 + 600, redo.Length);

        redo.RequireDurable(16384, new byte[400], PublishedContent.Log, loggedBudget: 1_000); // still fits
        Assert.Equal(2 * 16 + 1_000, redo.Length);

        redo.Clear(); // the budget is a record's
        redo.RequireDurable(4096, new byte[1_000], PublishedContent.Log, loggedBudget: 1_000);
        Assert.False(redo.DrainBeforeLog);
        Assert.Equal(16 + 1_000, redo.Length);
    }

    [Fact]
    public void A_builder_grown_past_1_MiB_gives_the_memory_back_at_its_next_use()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.Set(4096, new byte[3 << 20]);
        Assert.True(redo.Capacity > 3 << 20);

        redo.Clear();
        Assert.True(redo.Capacity <= 1 << 20);
        redo.SetWord(64, 7);
        Assert.Equal(24, redo.Length);

        redo.Set(4096, new byte[512 << 10]); // a moderate log keeps its room: no reallocation per commit
        var kept = redo.Capacity;
        redo.Clear();
        Assert.Equal(kept, redo.Capacity);
    }
}
