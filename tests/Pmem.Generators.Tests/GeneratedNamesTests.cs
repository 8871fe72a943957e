// GeneratedNamesTests -- legal C# names the generated code and its file names must survive: keywords, file-local classes.
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Pmem.Generators.Tests.Infrastructure;
using static Pmem.Generators.Tests.Infrastructure.DiagnosticAssertions;

namespace Pmem.Generators.Tests;

/// <summary>
/// Names written with <c>@</c> (keywords) and classes the generated part cannot reach (<c>file</c>): what the generator
/// emits compiles, its file names are valid, and one such class never stops the others from being generated.
/// </summary>
public sealed class GeneratedNamesTests
{
    [Fact]
    public void A_class_named_with_a_keyword_compiles()
    {
        var run = RunCleanWithDocs("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class @event
            {
                public partial int X { get; set; }
                public partial long? Y { get; set; }
                public partial PersistentList<int> Tags { get; }
            }

            [PersistentObject]
            internal partial class @class
            {
                public partial @event? Next { get; set; }
            }
            """);

        Assert.Contains("public partial class @event : ", run.GeneratedSources.Single(source => source.HintName == "event.g.cs").Text);
        Assert.Contains("private @class(", run.GeneratedSources.Single(source => source.HintName == "class.g.cs").Text);
        Assert.Contains("public partial global::@event? Next", run.GeneratedSources.Single(source => source.HintName == "class.g.cs").Text);
    }

    [Fact]
    public void Keyword_namespaces_and_keyword_type_names_in_signatures_compile()
    {
        var run = RunCleanWithDocs("""
            using Pmem.Objects;

            namespace @class.Data
            {
                public enum @enum : byte { A, B }

                [PersistentObject]
                public partial class Plain
                {
                    public partial int X { get; set; }
                    public partial @enum Kind { get; set; }
                    public partial @enum? Maybe { get; set; }
                    public partial @object? Other { get; set; }
                    public partial PersistentList<@object?> Others { get; }
                    public partial PersistentDictionary<@enum, @object?> ByKind { get; }
                }

                [PersistentObject]
                public partial class @object
                {
                    public partial int @int { get; set; }
                    public partial int value { get; set; }
                    public partial int field { get; set; }
                }
            }

            namespace Ok
            {
                [PersistentObject]
                public partial class Fine
                {
                    public partial global::@class.Data.Plain? Plain { get; set; }
                }
            }
            """);

        Assert.Equal(["Ok.Fine.g.cs", "class.Data.Plain.g.cs", "class.Data.object.g.cs"], run.GeneratedSources.Select(source => source.HintName).Order(StringComparer.Ordinal));
        var plain = run.GeneratedSources.Single(source => source.HintName == "class.Data.Plain.g.cs").Text;
        Assert.Contains("namespace @class.Data;", plain);
        Assert.Contains("public partial global::@class.Data.@enum Kind", plain);
    }

    [Fact]
    public void A_refused_class_with_keyword_names_still_compiles_but_for_its_errors()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            namespace @class.Data;

            [PersistentObject]
            public partial class @event
            {
                public partial nint @int { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM003", "@int", "'int' has type 'nint'"));
        Assert.Equal("class.Data.event.g.cs", Assert.Single(run.GeneratedSources).HintName);
        AssertRefused(run);
    }

    [Fact]
    public void A_file_local_class_gets_PMEM027_and_nothing_generated_while_other_classes_still_generate()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            file partial class Hidden
            {
                public partial int X { get; set; }
            }

            [PersistentObject]
            public partial class Fine
            {
                public partial int Y { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM027", "Hidden", "'Hidden' cannot be file-local"));
        Assert.Equal("Fine.g.cs", Assert.Single(run.GeneratedSources).HintName);
        // Only the compiler's CS9248 on the unimplemented property of Hidden: nothing in or about the generated file.
        var errors = run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(diagnostic => diagnostic.Severity == DiagnosticSeverity.Error).ToList();
        Assert.All(errors, error => Assert.Equal("CS9248", error.Id));
        Assert.Single(errors);
    }

    [Fact]
    public void A_class_nested_in_a_file_local_class_gets_PMEM027_and_no_refused_part()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            file partial class Outer
            {
                [PersistentObject]
                public partial class Inner
                {
                    public partial int X { get; set; }
                }
            }
            """);

        AssertOnly(run, ("PMEM005", "Inner", "cannot be nested"), ("PMEM027", "Inner", "cannot be file-local"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void Classes_whose_names_differ_only_in_case_get_distinct_hint_names()
    {
        // The compiler compares hint names ignoring case: one Data.Item.g.cs and one Data.item.g.cs threw in AddSource.
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            namespace Data;

            [PersistentObject] public partial class Item { public partial int X { get; set; } }
            [PersistentObject] public partial class item { public partial int Y { get; set; } }
            [PersistentObject] public partial class Other { public partial int Z { get; set; } }
            """);

        var names = run.GeneratedSources.Select(source => source.HintName).ToList();
        Assert.Equal(3, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Contains("Data.Other.g.cs", names);
        Assert.All(names.Where(name => name != "Data.Other.g.cs"), name => Assert.Matches("^Data\\.(Item|item)-[0-9a-f]{16}\\.g\\.cs$", name));
    }

    [Theory]
    [InlineData("Bank.Account", "Bank.Account.g.cs")]
    [InlineData("Outer`1.Pair`1", "Outer`1.Pair`1.g.cs")]
    [InlineData("class.Data.Plain", "class.Data.Plain.g.cs")]
    public void Hint_names_of_ordinary_metadata_names_are_the_names_themselves(string metadataName, string expected) =>
        Assert.Equal(expected, Pmem.Generators.Parsing.GeneratedNames.HintName(metadataName));

    [Fact]
    public void Hint_names_replace_unsafe_characters_and_stay_distinct()
    {
        var names = new[] { "<Input0>F1__Hidden", "_Input0_F1__Hidden", "Café", "Caf_", "Cafè", "Straße.Konto" }
            .Select(Pmem.Generators.Parsing.GeneratedNames.HintName)
            .ToList();

        Assert.All(names, name => Assert.Matches("^[A-Za-z0-9_.`-]+\\.g\\.cs$", name));
        Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Equal("_Input0_F1__Hidden.g.cs", names[1]);
    }

    /// <summary>
    /// Runs the generator with documentation comments checked (crefs bound, CS1574 on a bad one), then requires a clean
    /// compilation: the generated <c>&lt;see cref&gt;</c> names the class too.
    /// </summary>
    private static GeneratorRun RunCleanWithDocs(string source)
    {
        var options = GeneratorHarness.ParseOptions.WithDocumentationMode(DocumentationMode.Diagnose);
        var compilation = GeneratorHarness.CreateCompilation(source)
            .RemoveAllSyntaxTrees()
            .AddSyntaxTrees(CSharpSyntaxTree.ParseText(source, options, path: "Input0.cs"));
        var driver = CSharpGeneratorDriver.Create([new PersistentObjectGenerator().AsSourceGenerator()], parseOptions: options)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics, TestContext.Current.CancellationToken);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        var run = new GeneratorRun([.. result.GeneratedSources.Select(generated => (generated.HintName, generated.SourceText.ToString()))], diagnostics, output);

        // CS1591 (missing XML comment) is about the test's own public types, not the generated part.
        var problems = run.CompilationProblems.Where(diagnostic => diagnostic.Id != "CS1591").ToList();
        Assert.True(problems.Count == 0, "Unexpected diagnostics:\n" + string.Join("\n", problems));
        return run;
    }
}
