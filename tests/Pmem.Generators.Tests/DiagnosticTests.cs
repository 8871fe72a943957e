using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>One test per diagnostic: its ID, where it points and what it says.</summary>
public sealed class DiagnosticTests
{
    [Fact]
    public void PMEM001_class_not_partial()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public class Account
            {
            }
            """);

        AssertOnly(run, ("PMEM001", "Account", "'Account' must be declared partial"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void PMEM002_partial_property_without_setter_or_with_init()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public partial long Balance { get; }

                public partial long Limit { get; init; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM002", "Balance", "'Balance' must declare both a get and a set accessor"),
            ("PMEM002", "Limit", "'Limit' must declare both a get and a set accessor"));
    }

    [Fact]
    public void PMEM003_unsupported_type_names_the_type()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public partial System.Collections.Generic.List<int>? History { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM003", "History", "'History' has type 'System.Collections.Generic.List<int>?'"));
    }

    [Fact]
    public void PMEM003_native_sized_integers_are_unsupported_with_the_reason()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public partial nint Handle { get; set; }

                public partial nuint? Cookie { get; set; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM003", "Handle", "type 'nint', which cannot be stored in a pool: its size depends on the process"),
            ("PMEM003", "Cookie", "type 'nuint?', which cannot be stored in a pool: its size depends on the process"));
    }

    [Fact]
    public void PMEM004_generic_class()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Box<T>
            {
            }
            """);

        AssertOnly(run, ("PMEM004", "Box", "'Box<T>' cannot be generic"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void PMEM005_nested_class()
    {
        var run = GeneratorHarness.Run("""
            public partial class Outer
            {
                [Pmem.Objects.PersistentObject]
                public partial class Inner
                {
                }
            }
            """);

        AssertOnly(run, ("PMEM005", "Inner", "'Outer.Inner' cannot be nested"));
    }

    [Fact]
    public void PMEM006_record_class()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial record Account(long Balance);
            """);

        AssertOnly(run, ("PMEM006", "Account", "'Account' is a record"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void Struct_is_rejected_by_the_compiler_and_ignored_by_the_generator()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial struct Account
            {
            }
            """);

        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.GeneratedSources);
        Assert.Contains(run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken), diagnostic => diagnostic.Id == "CS0592");
    }

    [Fact]
    public void PMEM007_required_members()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public required partial long Balance { get; set; }

                public required string Name = "";
            }
            """);

        AssertOnly(
            run,
            ("PMEM007", "Balance", "'Balance' is required"),
            ("PMEM007", "Name", "'Name' is required"));
    }

    [Fact]
    public void PMEM008_group_larger_than_a_cache_line()
    {
        var run = GeneratorHarness.Run("""
            using System;
            using Pmem.Objects;

            [PersistentObject]
            public partial class Keys
            {
                [CacheLineGroup("keys")] public partial Guid A { get; set; }
                [CacheLineGroup("keys")] public partial Guid B { get; set; }
                [CacheLineGroup("keys")] public partial Guid C { get; set; }
                [CacheLineGroup("keys")] public partial Guid D { get; set; }
                [CacheLineGroup("keys")] public partial bool E { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM008", "A", "'keys' needs 65 bytes"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void PMEM009_group_names_differing_only_in_case_warn_and_still_generate()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Counters
            {
                [CacheLineGroup("Hot")] public partial long A { get; set; }
                [CacheLineGroup("hot")] public partial long B { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM009", "B", "'Hot' and 'hot' differ only in case"));
        Assert.Single(run.GeneratedSources);
        Assert.DoesNotContain(run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken), diagnostic => diagnostic.Severity == DiagnosticSeverity.Error);
    }

    [Fact]
    public void PMEM010_class_with_its_own_base_class()
    {
        var run = GeneratorHarness.Run("""
            public class Entity { }

            [Pmem.Objects.PersistentObject]
            public partial class Account : Entity
            {
            }
            """);

        AssertOnly(run, ("PMEM010", "Account", "declares the base class 'Entity'"));
    }

    [Fact]
    public void PMEM011_class_with_a_constructor()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public Account(long opening) { }
            }
            """);

        AssertOnly(run, ("PMEM011", "Account", "'Account' declares a constructor"));
        var location = run.GeneratorDiagnostics.Single().Location.GetLineSpan();
        Assert.Equal(3, location.StartLinePosition.Line);
    }

    [Fact]
    public void PMEM012_static_partial_property()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public static partial long Count { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM012", "Count", "'Count' is static"));
    }

    [Fact]
    public void PMEM013_non_nullable_string_or_reference_warns_and_generates()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial string Owner { get; set; }

                public partial Account Parent { get; set; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM013", "Owner", "'Owner' has the non-nullable type 'string'"),
            ("PMEM013", "Parent", "'Parent' has the non-nullable type 'Account'"));
        Assert.Contains("get => ReadString(0)!;", run.SingleSource);
        Assert.DoesNotContain(run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken), diagnostic => diagnostic.Severity >= DiagnosticSeverity.Warning);
    }

    [Fact]
    public void PMEM014_empty_durable_name()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject(Name = "")]
            public partial class Account
            {
            }
            """);

        AssertOnly(run, ("PMEM014", "Account", "durable name of the persistent class 'Account' is empty"));
    }

    [Fact]
    public void PMEM015_abstract_class()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public abstract partial class Account
            {
            }
            """);

        AssertOnly(run, ("PMEM015", "Account", "'Account' is abstract"));
    }

    [Fact]
    public void PMEM016_group_on_an_ordinary_property()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                [Pmem.Objects.CacheLineGroup("hot")]
                public long Cached { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM016", "Cached", "on 'Cached' has no effect"));
        Assert.Single(run.GeneratedSources);
    }

    [Fact]
    public void PMEM017_collection_property_with_a_setter_or_init()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Basket
            {
                public partial PersistentList<int> Counts { get; set; }

                public partial PersistentDictionary<int, long> Totals { get; init; }

                public partial PersistentList<long> Fine { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM017", "Counts", "'Counts' must have only a get accessor"),
            ("PMEM017", "Totals", "'Totals' must have only a get accessor"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void PMEM003_unsupported_collection_elements_name_the_element_type()
    {
        var run = GeneratorHarness.Run("""
            using System.Collections.Generic;
            using Pmem.Objects;

            public class Plain { }

            [PersistentObject]
            public partial class Basket
            {
                public partial PersistentList<List<int>?> Nested { get; }
                public partial PersistentList<nint> Handles { get; }
                public partial PersistentList<int?> Maybe { get; }
                public partial PersistentDictionary<int, Plain?> Plains { get; }
                public partial PersistentDictionary<Basket, int> ByBasket { get; }
                public partial PersistentDictionary<PersistentList<int>, int> ByList { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM003", "ByBasket", "its key type 'Basket' cannot be a dictionary key: keys are unmanaged values or strings"),
            ("PMEM003", "ByList", "its key type 'Pmem.Objects.PersistentList<int>' cannot be stored in a collection"),
            ("PMEM003", "Handles", "its element type 'nint' cannot be stored in a collection: its size depends on the process"),
            ("PMEM003", "Maybe", "its element type 'int?' cannot be stored in a collection: nullable value types cannot be collection elements"),
            ("PMEM003", "Nested", "type 'Pmem.Objects.PersistentList<System.Collections.Generic.List<int>?>', which cannot be stored in a pool: its element type 'System.Collections.Generic.List<int>'"),
            ("PMEM003", "Plains", "its value type 'Plain' cannot be stored in a collection"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void PMEM018_collection_declared_with_other_nullability_than_the_pool_returns()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Basket
            {
                public partial PersistentList<string> Tags { get; }
                public partial PersistentList<Basket> Children { get; }
                public partial PersistentDictionary<int, string> Labels { get; }
                public partial PersistentDictionary<string?, long> Totals { get; }
                public partial PersistentDictionary<string, string?> Fine { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM018", "Children", "'Children' must be declared as 'PersistentList<Basket?>'"),
            ("PMEM018", "Labels", "'Labels' must be declared as 'PersistentDictionary<int, string?>'"),
            ("PMEM018", "Tags", "'Tags' must be declared as 'PersistentList<string?>'"),
            ("PMEM018", "Totals", "'Totals' must be declared as 'PersistentDictionary<string, long>'"));
        Assert.Empty(run.GeneratedSources);
    }

    [Fact]
    public void Every_descriptor_has_a_help_link_and_a_documented_section()
    {
        var descriptors = typeof(DiagnosticDescriptors)
            .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(field => (DiagnosticDescriptor)field.GetValue(null)!)
            .ToList();
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "generator.md"));

        Assert.Equal(descriptors.Count, descriptors.Select(descriptor => descriptor.Id).Distinct().Count());
        foreach (var descriptor in descriptors)
        {
            Assert.Matches("^PMEM[0-9]{3}$", descriptor.Id);
            Assert.Equal($"docs/generator.md#{descriptor.Id.ToLowerInvariant()}", descriptor.HelpLinkUri);
            Assert.Matches(new Regex($"^### {descriptor.Id}: {Regex.Escape(descriptor.Title.ToString())}$", RegexOptions.Multiline), docs);
        }
    }

    /// <summary>
    /// Asserts that the generator reported exactly <paramref name="expected"/>: each ID at a location whose source text
    /// is the given token, with a message containing the given fragment.
    /// </summary>
    private static void AssertOnly(GeneratorRun run, params (string Id, string LocationText, string MessageFragment)[] expected)
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

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string callerFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerFile)!, "..", ".."));
}
