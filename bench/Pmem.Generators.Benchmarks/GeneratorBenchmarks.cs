using System.Collections.Immutable;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Pmem.Objects;

namespace Pmem.Generators.Benchmarks;

/// <summary>
/// The generator over 1,000 annotated classes: a full run (a build: fresh compilation, fresh driver) and incremental
/// runs (an IDE keystroke: the previous driver state, a compilation with one edit).
/// </summary>
[MemoryDiagnoser]
public class GeneratorBenchmarks
{
    private const int ClassCount = 1000;

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private ImmutableArray<SyntaxTree> _classTrees;
    private ImmutableArray<MetadataReference> _references;
    private CSharpCompilation _compilation = null!;
    private GeneratorDriver _warmDriver = null!;
    private GeneratorDriver _warmLookupDriver = null!;
    private SyntaxTree _unrelatedTree = null!;
    private SyntaxTree _editedClassTree = null!;

    [GlobalSetup]
    public void Setup()
    {
        // One file per class, as in a real project; a class edit then changes one tree.
        _classTrees = [.. Enumerable.Range(0, ClassCount).Select(index => CSharpSyntaxTree.ParseText(ClassSource(index, extraProperty: false), ParseOptions, path: $"Entity{index}.cs"))];
        _references = [.. Basic.Reference.Assemblies.Net100.References.All, MetadataReference.CreateFromFile(typeof(PersistentObject).Assembly.Location)];
        _compilation = CreateCompilation();
        _warmDriver = CreateDriver().RunGenerators(_compilation);
        _warmLookupDriver = CSharpGeneratorDriver.Create([new AttributeLookupOnlyGenerator().AsSourceGenerator()], parseOptions: ParseOptions).RunGenerators(_compilation);
        _unrelatedTree = CSharpSyntaxTree.ParseText("namespace Many; public static class Unrelated { public const int Answer = 42; }", ParseOptions, path: "Unrelated.cs");
        _editedClassTree = CSharpSyntaxTree.ParseText(ClassSource(500, extraProperty: true), ParseOptions, path: "Entity500.cs");

        var generated = _warmDriver.GetRunResult().GeneratedTrees.Length;
        if (generated != ClassCount)
        {
            throw new InvalidOperationException($"Expected {ClassCount} generated files, got {generated}.");
        }
    }

    /// <summary>A build: a new compilation (symbols not yet bound) and a new driver generate all 1,000 files.</summary>
    [Benchmark(Baseline = true)]
    public int FullRun() => CreateDriver().RunGenerators(CreateCompilation()).GetRunResult().GeneratedTrees.Length;

    /// <summary>An edit outside any persistent class: every step is cached, nothing is re-emitted.</summary>
    [Benchmark]
    public int IncrementalRun_unrelated_edit() => _warmDriver.RunGenerators(_compilation.AddSyntaxTrees(_unrelatedTree)).GetRunResult().GeneratedTrees.Length;

    /// <summary>One persistent class gains a property: that class is re-parsed, re-planned and re-emitted.</summary>
    [Benchmark]
    public int IncrementalRun_one_class_edited() =>
        _warmDriver.RunGenerators(_compilation.ReplaceSyntaxTree(_classTrees[500], _editedClassTree)).GetRunResult().GeneratedTrees.Length;

    /// <summary>The floor: the same unrelated edit with a generator that only finds the attributed classes.</summary>
    [Benchmark]
    public int IncrementalRun_unrelated_edit_attribute_lookup_only() =>
        _warmLookupDriver.RunGenerators(_compilation.AddSyntaxTrees(_unrelatedTree)).GetRunResult().Results.Length;

    private CSharpCompilation CreateCompilation() =>
        CSharpCompilation.Create(
            "Pmem.Generators.Benchmarks.Input",
            _classTrees,
            _references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    private static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create([new PersistentObjectGenerator().AsSourceGenerator()], parseOptions: ParseOptions);

    private static string ClassSource(int index, bool extraProperty)
    {
        var source = new StringBuilder();
        source.Append($$"""
            using System;
            using Pmem.Objects;

            namespace Many;

            [PersistentObject]
            public partial class Entity{{index}}
            {
                public partial long Id { get; set; }
                public partial Guid Key { get; set; }
                public partial string? Name { get; set; }
                [CacheLineGroup("hot")] public partial int Count { get; set; }
                [CacheLineGroup("hot")] public partial DateTime? Touched { get; set; }
                public partial decimal? Limit { get; set; }
                public partial Entity{{Math.Max(0, index - 1)}}? Previous { get; set; }

            """);
        if (extraProperty)
        {
            source.Append("    public partial long Score { get; set; }\n");
        }

        source.Append("}\n");
        return source.ToString();
    }
}
