// DocumentedErrors -- the exceptions the README's error table documents, read from the README itself, and those seen.
using System.Collections.Concurrent;

namespace Pmem.Tests.Robustness;

/// <summary>
/// The exception types named in the README's error table (<c>| error | exception (namespace) |</c>, the first
/// backticked name of each row's second column), so that "a documented exception" means one a user can look up there;
/// and a tally of the types the fuzzer met, printed with its summary.
/// </summary>
internal static class DocumentedErrors
{
    private static readonly Lazy<HashSet<string>> s_names = new(Load);
    private static readonly ConcurrentDictionary<string, int> s_seen = new();

    /// <summary>The documented type names (short names, e.g. <c>PoolCorruptedException</c>).</summary>
    public static IReadOnlySet<string> Names => s_names.Value;

    /// <summary>Whether the README's table names <paramref name="e"/>'s type; counts it either way.</summary>
    public static bool Cover(Exception e)
    {
        var name = e.GetType().Name;
        s_seen.AddOrUpdate(name, 1, (_, count) => count + 1);
        return Names.Contains(name);
    }

    /// <summary>The types met so far, most frequent first.</summary>
    public static string Seen => string.Join(", ", s_seen.OrderByDescending(p => p.Value).Select(p => $"{p.Key} ×{p.Value}"));

    private static HashSet<string> Load()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Pmem.Objects.sln")))
        {
            directory = directory.Parent;
        }

        var readme = Path.Combine(directory?.FullName ?? throw new InvalidOperationException("no Pmem.Objects.sln above the test binaries"), "README.md");
        var lines = File.ReadAllLines(readme);
        var start = Array.FindIndex(lines, line => line.StartsWith("| error | exception", StringComparison.Ordinal));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = start + 2; start >= 0 && i < lines.Length && lines[i].StartsWith('|'); i++)
        {
            var columns = lines[i].Split('|');
            var exception = columns.Length > 2 ? columns[2] : "";
            var open = exception.IndexOf('`');
            var close = open < 0 ? -1 : exception.IndexOf('`', open + 1);
            if (close > open + 1)
            {
                names.Add(exception[(open + 1)..close]);
            }
        }

        return names.Count > 0 ? names : throw new InvalidOperationException($"{readme}: no error table found");
    }
}
