// SimulatedDomain (checks) -- what is not durable now: lines stored but not flushed, or flushed but not drained, and
// the issues recorded (checking mode, like pmemcheck).

namespace Pmem.Memory.Simulation;

public sealed unsafe partial class SimulatedDomain
{
    /// <summary>
    /// Issues collected by checking mode at drains (see <see cref="SimulationOptions.CheckingMode"/>) and by
    /// <see cref="CollectIssues"/>; each distinct issue is recorded once, when first found.
    /// </summary>
    public IReadOnlyList<PersistenceIssue> Issues
    {
        get
        {
            lock (_lock)
            {
                return _issues.ToArray();
            }
        }
    }

    /// <summary>
    /// What is not durable now: lines stored but not flushed (or stored again after their flush), and lines flushed
    /// but not drained, as ranges of adjacent lines with the same issue. Does not record them in <see cref="Issues"/>.
    /// </summary>
    public IReadOnlyList<PersistenceIssue> CheckPersistence()
    {
        lock (_lock)
        {
            return FindIssues();
        }
    }

    /// <summary>Runs <see cref="CheckPersistence"/>, records in <see cref="Issues"/> what was not recorded before, and returns that.</summary>
    public IReadOnlyList<PersistenceIssue> CollectIssues()
    {
        lock (_lock)
        {
            return RecordIssues(FindIssues(), kindFilter: null);
        }
    }

    /// <summary>Forgets the collected <see cref="Issues"/>.</summary>
    public void ClearIssues()
    {
        lock (_lock)
        {
            _issues.Clear();
            _issuesSeen.Clear();
        }
    }

    /// <summary>Throws unless everything stored is durable now.</summary>
    /// <exception cref="PersistenceCheckException">Some line is not flushed or not drained; the message names each range.</exception>
    public void AssertAllDurable()
    {
        var issues = CheckPersistence();
        if (issues.Count > 0)
        {
            throw new PersistenceCheckException(issues);
        }
    }

    /// <summary>Throws if checking mode or <see cref="CollectIssues"/> has recorded any issue.</summary>
    /// <exception cref="PersistenceCheckException">The recorded issues.</exception>
    public void AssertNoIssues()
    {
        var issues = Issues;
        if (issues.Count > 0)
        {
            throw new PersistenceCheckException(issues);
        }
    }

    private List<PersistenceIssue> FindIssues()
    {
        var issues = new List<PersistenceIssue>();
        long length = Length;
        var lines = PendingLines();
        foreach (var inFlight in _inFlightByThread.Values)
        {
            lines.AddRange(inFlight.Keys);
        }

        lines.Sort();
        long previousLine = -1;
        foreach (long line in lines)
        {
            if (line == previousLine)
            {
                continue;
            }

            previousLine = line;
            var kind = Classify(line);
            if (kind is null)
            {
                continue;
            }

            long start = line * LineSize;
            long end = Math.Min(start + LineSize, length);
            if (issues.Count > 0 && issues[^1].Kind == kind && issues[^1].End == start)
            {
                issues[^1] = issues[^1] with { Length = end - issues[^1].Offset };
            }
            else
            {
                issues.Add(new PersistenceIssue(kind.Value, start, end - start, _drainCount));
            }
        }

        return issues;
    }

    private PersistenceIssueKind? Classify(long line)
    {
        var live = LiveLine(line);
        var durable = DurableLine(line);
        bool dirty = !live.SequenceEqual(durable);
        bool liveCaptured = false;
        bool captureDiffers = false;
        foreach (var inFlight in _inFlightByThread.Values)
        {
            if (inFlight.TryGetValue(line, out var capture))
            {
                liveCaptured |= live.SequenceEqual(capture.Content);
                captureDiffers |= !durable.SequenceEqual(capture.Content);
            }
        }

        if (dirty && !liveCaptured)
        {
            return PersistenceIssueKind.NotFlushed;
        }

        // A flush of a line that holds nothing new is harmless without a drain.
        return dirty || captureDiffers ? PersistenceIssueKind.FlushedNotDrained : null;
    }

    private List<PersistenceIssue> RecordIssues(List<PersistenceIssue> found, PersistenceIssueKind? kindFilter)
    {
        var added = new List<PersistenceIssue>();
        foreach (var issue in found)
        {
            if ((kindFilter is null || issue.Kind == kindFilter) && _issuesSeen.Add((issue.Kind, issue.Offset, issue.Length)))
            {
                _issues.Add(issue);
                added.Add(issue);
            }
        }

        return added;
    }
}
