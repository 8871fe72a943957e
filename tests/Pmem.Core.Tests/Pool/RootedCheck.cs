// RootedCheck -- the check that counts only what the root reaches: tests whose objects all hang off the root find any leak with it.
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// <see cref="PersistentPool.Check"/> keeps objects the root does not reach as detached (All&lt;T&gt;() finds them). A test
/// whose program links every object from the root asserts that none is detached, as a leak check.
/// </summary>
internal static class RootedCheck
{
    /// <summary>The check walking from the root only: every block the root does not reach is in <see cref="PoolCheckReport.Unreachable"/>.</summary>
    public static PoolCheckReport CheckFromRoot(this PersistentPool pool) => pool.CheckGraph(null, fromRootOnly: true, out _);

    /// <summary>Asserts no errors, no unreachable and no detached block: every block hangs off the root.</summary>
    public static void AssertAllFromRoot(PoolCheckReport report)
    {
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.True(report.Unreachable.Count == 0, $"leaked blocks at {string.Join(", ", report.Unreachable)}");
        Assert.True(report.DetachedObjects == 0, $"blocks the root does not reach: {string.Join(", ", report.Detached.Select(pair => $"{pair.Value} {pair.Key}"))}");
    }
}
