// DiagnosticAssertions -- what the tests of diagnostics assert about a generator run: IDs, locations, messages, refusal.
using Microsoft.CodeAnalysis;

namespace Pmem.Generators.Tests.Infrastructure;

/// <summary>Assertions over the diagnostics of a <see cref="GeneratorRun"/>.</summary>
internal static class DiagnosticAssertions
{
    /// <summary>
    /// Asserts that the generator reported exactly <paramref name="expected"/>: each ID at a location whose source text
    /// is the given token, with a message containing the given fragment.
    /// </summary>
    public static void AssertOnly(GeneratorRun run, params (string Id, string LocationText, string MessageFragment)[] expected)
    {
        var actual = run.GeneratorDiagnostics
            .Select(diagnostic => (
                diagnostic.Id,
                LocationText: SourceTextAt(run, diagnostic.Location),
                Message: diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)))
            .OrderBy(diagnostic => diagnostic.Id, StringComparer.Ordinal)
            .ThenBy(diagnostic => diagnostic.LocationText, StringComparer.Ordinal)
            .ToList();
        var ordered = expected.OrderBy(item => item.Id, StringComparer.Ordinal).ThenBy(item => item.LocationText, StringComparer.Ordinal).ToList();

        Assert.True(
            actual.Count == ordered.Count,
            $"Expected {ordered.Count} generator diagnostic(s), got:\n{string.Join("\n", actual)}");
        for (var i = 0; i < ordered.Count; i++)
        {
            Assert.Equal(ordered[i].Id, actual[i].Id);
            Assert.Equal(ordered[i].LocationText, actual[i].LocationText);
            Assert.Contains(ordered[i].MessageFragment, actual[i].Message);
        }
    }

    /// <summary>
    /// The source text a diagnostic points at. Generator diagnostics carry file-path locations (rebuilt from
    /// equatable values, without a syntax tree), so the tree is found by path.
    /// </summary>
    private static string SourceTextAt(GeneratorRun run, Location location)
    {
        var tree = Assert.Single(run.OutputCompilation.SyntaxTrees, tree => tree.FilePath == location.GetLineSpan().Path);
        return tree.GetText().ToString(location.SourceSpan);
    }

    /// <summary>A refused class gets no storage code and no registration, and the compiler adds no errors of its own (no CS9248).</summary>
    public static void AssertRefused(GeneratorRun run)
    {
        Assert.All(run.GeneratedSources, source => Assert.Contains("has generator errors (PMEM", source.Text));
        Assert.All(run.GeneratedSources, source => Assert.DoesNotContain("layoutHash:", source.Text));
        Assert.All(run.GeneratedSources, source => Assert.DoesNotContain("PersistentTypeRegistry", source.Text));
        Assert.DoesNotContain(run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken), diagnostic => diagnostic.Severity == DiagnosticSeverity.Error);
    }
}
