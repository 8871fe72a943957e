using Microsoft.CodeAnalysis;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>Scale: a thousand classes produce a thousand correct files (timing lives in the benchmark).</summary>
public sealed class ManyClassesTests
{
    [Fact]
    public void A_thousand_annotated_classes_each_get_one_compiling_file()
    {
        const int ClassCount = 1000;
        var run = GeneratorHarness.Run(ManyClassesSource.Create(ClassCount));

        Assert.Equal(ClassCount, run.GeneratedSources.Length);
        Assert.Equal(ClassCount, run.GeneratedSources.Select(source => source.HintName).Distinct().Count());
        Assert.Empty(run.GeneratorDiagnostics);

        // Declarations of all 2,000 parts (a missing or mismatched implementation part, CS9248 and the like), and the
        // bodies of a sample: the classes share one shape, and binding every body would make this test slow (~18 s).
        var cancellation = TestContext.Current.CancellationToken;
        Assert.DoesNotContain(run.OutputCompilation.GetDeclarationDiagnostics(cancellation), diagnostic => diagnostic.Severity == DiagnosticSeverity.Error);
        var generatedTrees = run.OutputCompilation.SyntaxTrees.Skip(1).ToList();
        Assert.Equal(ClassCount, generatedTrees.Count);
        foreach (var tree in new[] { generatedTrees[0], generatedTrees[ClassCount / 2], generatedTrees[^1] })
        {
            Assert.DoesNotContain(run.OutputCompilation.GetSemanticModel(tree).GetDiagnostics(cancellationToken: cancellation), diagnostic => diagnostic.Severity == DiagnosticSeverity.Error);
        }

        Assert.Contains(run.GeneratedSources, source => source.HintName == "Many.Entity999.g.cs" && source.Text.Contains("ReadReference<global::Many.Entity998>"));
    }
}

/// <summary>Source with many persistent classes, each referring to the previous one.</summary>
internal static class ManyClassesSource
{
    public static string Create(int classCount)
    {
        var source = new System.Text.StringBuilder("using System;\nusing Pmem.Objects;\n\nnamespace Many;\n");
        for (var index = 0; index < classCount; index++)
        {
            source.Append($$"""

                [PersistentObject]
                public partial class Entity{{index}}
                {
                    public partial long Id { get; set; }
                    public partial Guid Key { get; set; }
                    public partial string? Name { get; set; }
                    [CacheLineGroup("hot")] public partial int Count { get; set; }
                    [CacheLineGroup("hot")] public partial DateTime? Touched { get; set; }
                    public partial Entity{{Math.Max(0, index - 1)}}? Previous { get; set; }
                }

                """);
        }

        return source.ToString();
    }
}
