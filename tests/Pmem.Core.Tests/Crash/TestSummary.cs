using System.Text;

namespace Pmem.Tests.Crash;

/// <summary>
/// Counts what the robustness tests checked, for the one summary line CI prints (<c>.ci/run</c>): when the environment
/// variable <see cref="Variable"/> names a file, each <see cref="Add"/> appends one line <c>key count</c> to it (e.g.
/// <c>crash-images 1234</c>, <c>sigkills 8</c>, <c>damaged-pools 8000</c>); without it nothing is written.
/// </summary>
/// <remarks>
/// <c>dotnet test</c> on Microsoft.Testing.Platform hides the output of passing tests, so the counts travel through a
/// file. Several test processes (and several threads) may append at once: each line goes out in one write under an
/// exclusive lock of the file, taken with retries, so lines never interleave.
/// </remarks>
public static class TestSummary
{
    /// <summary>The environment variable that names the summary file.</summary>
    public const string Variable = "PMEM_TEST_SUMMARY";

    /// <summary>Line key of the crash images campaigns checked.</summary>
    public const string CrashImages = "crash-images";

    /// <summary>Line key of the processes killed with SIGKILL and recovered.</summary>
    public const string SigKills = "sigkills";

    /// <summary>Line key of the damaged pools the corruption fuzzer opened.</summary>
    public const string DamagedPools = "damaged-pools";

    private static readonly Lock s_lock = new();

    /// <summary>Appends <c>key count</c> to the summary file, if there is one.</summary>
    /// <param name="key">One word, no spaces (see the constants).</param>
    /// <param name="count">What was checked.</param>
    public static void Add(string key, long count)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        if (key.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException($"a summary key is one word: '{key}'", nameof(key));
        }

        var path = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        var line = Encoding.UTF8.GetBytes($"{key} {count}\n");
        lock (s_lock)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    // FileShare.None is an exclusive lock on the file (flock on Linux): other processes retry.
                    using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.None);
                    stream.Write(line);
                    return;
                }
                catch (IOException) when (attempt < 200)
                {
                    Thread.Sleep(5 + Random.Shared.Next(10));
                }
            }
        }
    }
}
