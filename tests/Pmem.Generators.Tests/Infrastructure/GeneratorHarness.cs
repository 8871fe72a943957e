using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Pmem.Objects;

namespace Pmem.Generators.Tests.Infrastructure;

/// <summary>The outcome of one generator run over test sources.</summary>
/// <param name="GeneratedSources">Hint name → generated text.</param>
/// <param name="GeneratorDiagnostics">What the generator reported.</param>
/// <param name="OutputCompilation">The input compilation plus the generated trees.</param>
internal sealed record GeneratorRun(
    ImmutableArray<(string HintName, string Text)> GeneratedSources,
    ImmutableArray<Diagnostic> GeneratorDiagnostics,
    Compilation OutputCompilation)
{
    /// <summary>Errors and warnings of the whole output compilation (the compiler's and the generator's).</summary>
    public ImmutableArray<Diagnostic> CompilationProblems =>
        [.. OutputCompilation.GetDiagnostics().Concat(GeneratorDiagnostics).Where(diagnostic => diagnostic.Severity >= DiagnosticSeverity.Warning)];

    /// <summary>The single generated source.</summary>
    public string SingleSource => Assert.Single(GeneratedSources).Text;
}

/// <summary>Compiles test sources against the .NET 10 reference assemblies and Pmem.Core and runs the generator in-process.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly ImmutableArray<MetadataReference> References =
    [
        .. Basic.Reference.Assemblies.Net100.References.All,
        MetadataReference.CreateFromFile(typeof(PersistentObject).Assembly.Location),
    ];

    public static CSharpCompilation CreateCompilation(params string[] sources) => CreateCompilation(sources, []);

    public static CSharpCompilation CreateCompilation(IEnumerable<string> sources, IEnumerable<MetadataReference> extraReferences, string assemblyName = "Pmem.Generators.TestInput") =>
        CSharpCompilation.Create(
            assemblyName,
            sources.Select((source, index) => CSharpSyntaxTree.ParseText(source, ParseOptions, path: $"Input{index}.cs")),
            References.AddRange(extraReferences),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver CreateDriver(bool trackSteps = false, IEnumerable<AdditionalText>? additionalTexts = null) =>
        CSharpGeneratorDriver.Create(
            [new PersistentObjectGenerator().AsSourceGenerator()],
            additionalTexts: additionalTexts,
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    public static GeneratorRun Run(params string[] sources) => Run(CreateCompilation(sources));

    /// <summary>Runs the generator over <paramref name="compilation"/> with the project's <c>AdditionalFiles</c>.</summary>
    public static GeneratorRun Run(Compilation compilation, params AdditionalText[] additionalTexts)
    {
        var driver = CreateDriver(additionalTexts: additionalTexts).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics, TestContext.Current.CancellationToken);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return new GeneratorRun(
            [.. result.GeneratedSources.Select(source => (source.HintName, source.SourceText.ToString()))],
            diagnostics,
            output);
    }

    /// <summary>Runs the generator and asserts that the result compiles with neither errors nor warnings.</summary>
    public static GeneratorRun RunClean(params string[] sources) => RunClean(CreateCompilation(sources));

    /// <summary>Runs the generator and asserts that the result compiles with neither errors nor warnings.</summary>
    public static GeneratorRun RunClean(Compilation compilation)
    {
        var run = Run(compilation);
        Assert.True(run.CompilationProblems.IsEmpty, "Unexpected diagnostics:\n" + string.Join("\n", run.CompilationProblems));
        return run;
    }
}
