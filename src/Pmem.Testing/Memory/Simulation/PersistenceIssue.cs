using System.Text;

namespace Pmem.Memory.Simulation;

/// <summary>What is wrong with a range that is not durable.</summary>
public enum PersistenceIssueKind
{
    /// <summary>Stored but never flushed (or stored again after the last flush): a crash may lose the stores.</summary>
    NotFlushed,

    /// <summary>Flushed but never fenced: no drain has waited for the write-back, so a crash may still lose it.</summary>
    FlushedNotDrained,
}

/// <summary>A range of cache lines of a <see cref="SimulatedDomain"/> that is not durable.</summary>
/// <param name="Kind">What is wrong.</param>
/// <param name="Offset">First byte of the range (a cache-line boundary).</param>
/// <param name="Length">Number of bytes in the range (whole lines, clipped to the domain's length).</param>
/// <param name="DrainCount">How many drains the domain had completed when the issue was found.</param>
public sealed record PersistenceIssue(PersistenceIssueKind Kind, long Offset, long Length, long DrainCount)
{
    /// <summary>One past the last byte of the range.</summary>
    public long End => Offset + Length;

    /// <summary>A sentence naming the range, its cache lines and what is wrong.</summary>
    public string Message
    {
        get
        {
            long firstLine = Offset / PersistenceDomain.CacheLineSize;
            long lastLine = (End - 1) / PersistenceDomain.CacheLineSize;
            string lines = firstLine == lastLine ? $"cache line {firstLine}" : $"cache lines {firstLine}-{lastLine}";
            string what = Kind switch
            {
                PersistenceIssueKind.NotFlushed => "stored but never flushed (missing Flush)",
                _ => "flushed but never fenced (missing Drain)",
            };
            return $"bytes [0x{Offset:X}, 0x{End:X}) ({lines}): {what}, after {DrainCount} drain(s)";
        }
    }

    /// <inheritdoc />
    public override string ToString() => Message;
}

/// <summary>Thrown when a <see cref="SimulatedDomain"/> holds data that is not durable where it must be.</summary>
public sealed class PersistenceCheckException : Exception
{
    /// <summary>Creates the exception for <paramref name="issues"/>.</summary>
    public PersistenceCheckException(IReadOnlyList<PersistenceIssue> issues)
        : base(Describe(issues)) => Issues = issues;

    /// <summary>What was found not durable.</summary>
    public IReadOnlyList<PersistenceIssue> Issues { get; }

    private static string Describe(IReadOnlyList<PersistenceIssue> issues)
    {
        var text = new StringBuilder();
        text.Append(issues.Count).Append(" persistence issue(s) in the simulated domain:");
        foreach (var issue in issues)
        {
            text.AppendLine().Append("  ").Append(issue.Message);
        }

        return text.ToString();
    }
}
