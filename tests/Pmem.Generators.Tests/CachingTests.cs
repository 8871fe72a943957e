using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// Incrementality: after an edit that does not touch a persistent class, every named pipeline step must reuse its
/// previous output. A model holding a non-equatable value (an array, a symbol, a Location) would show "Modified".
/// </summary>
public sealed class CachingTests
{
    private const string Classes = """
        using System;
        using Pmem.Objects;

        namespace Bank;

        [PersistentObject(Version = 2)]
        public partial class Account
        {
            [CacheLineGroup("hot"), RenamedFrom("Amount")] public partial long Balance { get; set; }
            [CacheLineGroup("hot")] public partial int Version { get; set; }
            [Indexed] public partial string? Owner { get; set; }
            public partial Customer? Customer { get; set; }
            public partial decimal? Limit { get; set; }
            public partial PersistentList<long> History { get; }
            public partial PersistentDictionary<string, Customer?> CoOwners { get; }
        }

        [PersistentObject]
        public partial class Customer
        {
            [Indexed(Unique = true)] public partial Guid Id { get; set; }
            // PMEM013 (a warning) keeps the diagnostics step busy without stopping generation.
            public partial string Name { get; set; }
        }
        """;

    private static readonly string[] TrackedSteps =
        [TrackingNames.Models, TrackingNames.Diagnostics, TrackingNames.Plans, TrackingNames.DurableNameClaims, TrackingNames.DurableNameCollisions, TrackingNames.HintNameClashes];

    [Fact]
    public void An_unrelated_edit_reuses_every_step_output()
    {
        var compilation = GeneratorHarness.CreateCompilation(Classes);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Bank; public static class Unrelated { public const int Answer = 42; }", GeneratorHarness.ParseOptions));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        foreach (var step in TrackedSteps)
        {
            Assert.True(result.TrackedSteps.TryGetValue(step, out var runs) && runs.Length > 0, $"step {step} did not run");
            Assert.Empty(NotReused(result, step));
        }

        Assert.All(result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs), output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void An_unrelated_edit_reuses_every_step_output_of_a_class_with_errors()
    {
        // A refused class (PMEM003 here) goes through the Refused step instead of Plans; its model must cache as well.
        var compilation = GeneratorHarness.CreateCompilation(Classes + """

            [PersistentObject]
            public partial class Broken
            {
                public partial nint Handle { get; set; }
                public virtual partial long Count { get; protected set; }
            }
            """);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Bank; public static class Unrelated { public const int Answer = 42; }", GeneratorHarness.ParseOptions));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        foreach (var step in TrackedSteps.Append(TrackingNames.Refused))
        {
            Assert.True(result.TrackedSteps.TryGetValue(step, out var runs) && runs.Length > 0, $"step {step} did not run");
            Assert.Empty(NotReused(result, step));
        }

        Assert.Single(result.TrackedSteps[TrackingNames.Refused].SelectMany(run => run.Outputs));
        Assert.All(result.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(run => run.Outputs), output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void Editing_a_persistent_class_is_seen_as_a_change()
    {
        // The check above must be able to fail: a real change to a model has to show up as a modified output.
        var compilation = GeneratorHarness.CreateCompilation(Classes);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var tree = compilation.SyntaxTrees.Single();
        var changed = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            Classes.Replace("public partial Guid Id { get; set; }", "public partial Guid Id { get; set; }\n    public partial long Score { get; set; }"))));
        var result = driver.RunGenerators(changed, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        Assert.Contains(NotReused(result, TrackingNames.Models), reason => reason.Contains("Modified"));
        Assert.Contains(NotReused(result, TrackingNames.Plans), reason => reason.Contains("Modified"));
    }

    [Fact]
    public void Changing_an_index_is_seen_as_a_change_of_the_model_and_the_plan()
    {
        // The index kind is part of the model's equality: [Indexed] → [Indexed(Unique = true)] must be emitted again.
        var compilation = GeneratorHarness.CreateCompilation(Classes);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var tree = compilation.SyntaxTrees.Single();
        var changed = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            Classes.Replace("[Indexed] public partial string? Owner", "[Indexed(Unique = true)] public partial string? Owner"))));
        var result = driver.RunGenerators(changed, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        Assert.Contains(NotReused(result, TrackingNames.Models), reason => reason.Contains("Modified"));
        Assert.Contains(NotReused(result, TrackingNames.Plans), reason => reason.Contains("Modified"));
    }

    [Fact]
    public void Moving_a_class_in_its_file_changes_only_its_durable_name_claim()
    {
        // The claim holds the class's location (for PMEM021); the model does not (a model with diagnostics holds
        // theirs, so this source has none), so the class is not emitted again.
        var clean = Classes.Replace("public partial string Name", "public partial string? Name");
        var compilation = GeneratorHarness.CreateCompilation(clean);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var tree = compilation.SyntaxTrees.Single();
        var moved = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            clean.Replace("namespace Bank;", "namespace Bank;\n\n// A comment that moves every class down two lines.\n"))));
        var result = driver.RunGenerators(moved, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        Assert.Empty(result.Diagnostics);
        Assert.Empty(NotReused(result, TrackingNames.Models));
        Assert.Empty(NotReused(result, TrackingNames.Plans));
        Assert.Contains(NotReused(result, TrackingNames.DurableNameClaims), reason => reason.Contains("Modified"));
        Assert.Empty(NotReused(result, TrackingNames.DurableNameCollisions));
    }

    [Fact]
    public void Giving_two_classes_one_durable_name_is_seen_by_the_collision_step()
    {
        var compilation = GeneratorHarness.CreateCompilation(Classes);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var tree = compilation.SyntaxTrees.Single();
        var clashing = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            Classes.Replace("[PersistentObject]\npublic partial class Customer", "[PersistentObject(Name = \"Bank.Account\")]\npublic partial class Customer"))));
        var result = driver.RunGenerators(clashing, TestContext.Current.CancellationToken).GetRunResult().Results.Single();

        Assert.Contains(NotReused(result, TrackingNames.DurableNameCollisions), reason => reason.Contains("Modified"));
        Assert.Equal(["PMEM013", "PMEM021", "PMEM021"], result.Diagnostics.Select(diagnostic => diagnostic.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Models_of_the_same_source_are_equal_across_compilations()
    {
        static object Model() =>
            GeneratorHarness.CreateDriver(trackSteps: true)
                .RunGenerators(GeneratorHarness.CreateCompilation(Classes), TestContext.Current.CancellationToken)
                .GetRunResult().Results.Single()
                .TrackedSteps[TrackingNames.Models].SelectMany(run => run.Outputs).First().Value;

        var first = Model();
        var second = Model();

        Assert.NotSame(first, second);
        Assert.Equal(first, second);
    }

    private static List<string> NotReused(GeneratorRunResult result, string step) =>
        result.TrackedSteps[step]
            .SelectMany(run => run.Outputs)
            .Where(output => output.Reason is not (IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged))
            .Select(output => $"{step}: {output.Reason} ({output.Value})")
            .ToList();
}
