using System.Runtime.CompilerServices;
using System.Text;

namespace Pmem.Generators.Tests.Infrastructure;

/// <summary>
/// A minimal snapshot check with Verify's file conventions (Verify itself cannot be restored here):
/// <c>Snapshots/{Class}.{Test}#{HintName}.verified.cs</c> is checked in; on a mismatch or a missing file the actual
/// text goes to the matching <c>.received.cs</c> and the test fails with the path and a line diff. Setting
/// <c>PMEM_ACCEPT_SNAPSHOTS=1</c> writes the actual text as the new verified file instead.
/// </summary>
internal static class Snapshot
{
    private const string AcceptVariable = "PMEM_ACCEPT_SNAPSHOTS";

    /// <summary>Checks every generated source of <paramref name="run"/>, one snapshot file per hint name.</summary>
    public static void Verify(GeneratorRun run, [CallerFilePath] string callerFile = "", [CallerMemberName] string test = "")
    {
        Assert.NotEmpty(run.GeneratedSources);
        var failures = new List<string>();
        foreach (var (hintName, text) in run.GeneratedSources.OrderBy(source => source.HintName, StringComparer.Ordinal))
        {
            var name = hintName.EndsWith(".cs", StringComparison.Ordinal) ? hintName[..^3] : hintName;
            if (Check(text, callerFile, $"{test}#{name}", Environment.GetEnvironmentVariable(AcceptVariable) == "1") is { } failure)
            {
                failures.Add(failure);
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    /// <summary>
    /// Checks <paramref name="actual"/> against <c>Snapshots/{Class}.{name}.verified.cs</c> beside
    /// <paramref name="callerFile"/>; returns a failure message, or null when it matches or <paramref name="accept"/> is set.
    /// </summary>
    public static string? Check(string actual, string callerFile, string name, bool accept)
    {
        var directory = Path.Combine(Path.GetDirectoryName(callerFile)!, "Snapshots");
        var stem = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(callerFile)}.{name}");
        var verifiedPath = stem + ".verified.cs";
        var receivedPath = stem + ".received.cs";

        actual = Normalize(actual);
        var expected = File.Exists(verifiedPath) ? Normalize(File.ReadAllText(verifiedPath)) : null;
        if (expected == actual)
        {
            File.Delete(receivedPath);
            return null;
        }

        if (accept)
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(verifiedPath, actual);
            File.Delete(receivedPath);
            return null;
        }

        Directory.CreateDirectory(directory);
        File.WriteAllText(receivedPath, actual);
        return expected is null
            ? $"Missing snapshot {verifiedPath}.\nThe output is in {receivedPath}; review it and rename it, or rerun with {AcceptVariable}=1."
            : $"Snapshot mismatch: {verifiedPath}\nReceived: {receivedPath} (rerun with {AcceptVariable}=1 to accept)\n{LineDiff(expected, actual)}";
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n");

    /// <summary>A line diff from the longest common subsequence: "-" expected only, "+" received only, with line numbers.</summary>
    internal static string LineDiff(string expected, string actual)
    {
        var left = expected.Split('\n');
        var right = actual.Split('\n');
        var common = new int[left.Length + 1, right.Length + 1];
        for (var i = left.Length - 1; i >= 0; i--)
        {
            for (var j = right.Length - 1; j >= 0; j--)
            {
                common[i, j] = left[i] == right[j] ? common[i + 1, j + 1] + 1 : Math.Max(common[i + 1, j], common[i, j + 1]);
            }
        }

        var diff = new StringBuilder();
        var shown = 0;
        const int MaxLines = 60;
        int l = 0, r = 0;
        while ((l < left.Length || r < right.Length) && shown < MaxLines)
        {
            if (l < left.Length && r < right.Length && left[l] == right[r])
            {
                l++;
                r++;
            }
            else if (r < right.Length && (l == left.Length || common[l, r + 1] >= common[l + 1, r]))
            {
                diff.Append($"+ {r + 1,4}: {right[r]}\n");
                r++;
                shown++;
            }
            else
            {
                diff.Append($"- {l + 1,4}: {left[l]}\n");
                l++;
                shown++;
            }
        }

        if (shown == MaxLines)
        {
            diff.Append("... (diff truncated)\n");
        }

        return diff.ToString();
    }
}
