using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Parsing;
using Pmem.Generators.Tests.Infrastructure;
using static Pmem.Generators.Tests.Infrastructure.DiagnosticAssertions;

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
        AssertRefused(run);
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
        AssertRefused(run);
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
        AssertRefused(run);
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

        AssertOnly(
            run,
            ("PMEM016", "Cached", "on 'Cached' has no effect"),
            ("PMEM020", "Cached", "The auto-property 'Cached' is not persisted and not shared"));
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
        AssertRefused(run);
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
        AssertRefused(run);
    }

    [Fact]
    public void PMEM003_sorted_keys_and_set_elements_need_a_durable_order()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Basket
            {
                public partial PersistentSortedDictionary<double, long> ByWeight { get; }
                public partial PersistentSortedDictionary<Basket, long> ByBasket { get; }
                public partial PersistentSet<float> Weights { get; }
                public partial PersistentSet<Basket> Baskets { get; }
                public partial PersistentSortedDictionary<long, int?> Maybe { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM003", "Baskets", "its element type 'Basket' has no durable order"),
            ("PMEM003", "ByBasket", "its key type 'Basket' has no durable order"),
            ("PMEM003", "ByWeight", "its key type 'double' has no durable order"),
            ("PMEM003", "Maybe", "its value type 'int?' cannot be stored in a collection"),
            ("PMEM003", "Weights", "its element type 'float' has no durable order"));
        AssertRefused(run);
    }

    [Fact]
    public void A_nullable_set_element_is_reported_once_by_the_compiler_and_not_again_in_the_generated_part()
    {
        // PersistentSet<T> needs a non-null T: the compiler's CS8714 on the declaration says so; the generated part
        // must not repeat it (an outside user found it beside PMEM003).
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Basket
            {
                public partial PersistentSet<Basket?> Baskets { get; }
                public partial PersistentSortedDictionary<string?, long> ByName { get; }
            }
            """);

        var warnings = run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken)
            .Where(diagnostic => diagnostic.Severity >= DiagnosticSeverity.Warning)
            .ToList();
        Assert.All(warnings, diagnostic => Assert.Equal("Input0.cs", diagnostic.Location.GetLineSpan().Path));
        Assert.NotEmpty(run.GeneratorDiagnostics);
    }

    [Fact]
    public void PMEM018_sorted_collections_declared_with_other_nullability_than_the_pool_returns()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Basket
            {
                public partial PersistentSet<string?> Tags { get; }
                public partial PersistentSortedDictionary<string, string> Labels { get; }
                public partial PersistentSortedDictionary<long, Basket?> Fine { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM018", "Labels", "'Labels' must be declared as 'PersistentSortedDictionary<string, string?>'"),
            ("PMEM018", "Tags", "'Tags' must be declared as 'PersistentSet<string>'"));
        AssertRefused(run);
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
        AssertRefused(run);
    }

    [Fact]
    public void PMEM020_instance_fields_and_auto_properties_warn_that_they_live_in_one_wrapper()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                private static int s_created;
                private const int Limit = 10;
                private int _cache;

                public partial long Balance { get; set; }

                public int Volatile { get; set; }

                public long Twice => Balance * 2 + _cache + s_created + Limit;
            }
            """);

        AssertOnly(
            run,
            ("PMEM020", "_cache", "The field '_cache' is not persisted and not shared"),
            ("PMEM020", "Volatile", "The auto-property 'Volatile' is not persisted and not shared"));
        Assert.Contains("ReadField<long>(0)", run.SingleSource); // a warning: the class is still generated
    }

    [Fact]
    public void PMEM019_persistent_property_named_like_a_generated_or_inherited_member()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial long PersistentType { get; set; }
                public partial long Pool { get; set; }
                public partial string? ReadString { get; set; }
                public partial int GetHashCode { get; set; }
                public partial long? NullableSlot { get; set; }
                public partial long Balance { get; set; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM019", "GetHashCode", "The persistent property 'GetHashCode' has the same name as the inherited member 'Pmem.Objects.PersistentObject.GetHashCode()'"),
            ("PMEM019", "NullableSlot", "The persistent property 'NullableSlot' has the same name as the struct 'NullableSlot<T>' that the generator adds"),
            ("PMEM019", "PersistentType", "The persistent property 'PersistentType' has the same name as the property 'PersistentType' that the generator adds to every persistent class"),
            ("PMEM019", "Pool", "The persistent property 'Pool' has the same name as the inherited member 'Pmem.Objects.PersistentObject.Pool'"),
            ("PMEM019", "ReadString", "The persistent property 'ReadString' has the same name as the inherited member 'Pmem.Objects.PersistentObject.ReadString(int)'"));
        AssertRefused(run);
    }

    [Fact]
    public void PMEM019_other_members_and_the_class_named_like_generated_members()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial long? Limit { get; set; }
                public static string PersistentType() => "mine";
                private static int s_persistentType;
                private struct NullableSlot { }
                public int GetList => 0;
            }
            """);
        var classRun = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class PersistentType
            {
                public partial long Count { get; set; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM019", "GetList", "The member 'GetList' has the same name as the inherited member 'Pmem.Objects.PersistentObject.GetList<T>(int)'"),
            ("PMEM019", "NullableSlot", "The member 'NullableSlot' has the same name as the struct 'NullableSlot<T>'"),
            ("PMEM019", "PersistentType", "The member 'PersistentType' has the same name as the property 'PersistentType'"),
            ("PMEM019", "s_persistentType", "The member 's_persistentType' has the same name as the field 's_persistentType'"));
        AssertRefused(run);
        AssertOnly(classRun, ("PMEM019", "PersistentType", "The class 'PersistentType' has the same name as the property 'PersistentType'"));
        AssertRefused(classRun);
    }

    [Fact]
    public void Names_the_generated_code_does_not_take_are_free()
    {
        // Attach is implemented explicitly (IPersistentObject<T>.Attach), NullableSlot is declared only for T? values,
        // and ordinary members may override or hide inherited ones as in any C# class.
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial long Attach { get; set; }
                public partial long Handle { get; set; }
                private struct NullableSlot { }
                public override string ToString() => $"{Attach}";
            }
            """);

        Assert.Contains("public partial long Attach", run.SingleSource);
    }

    [Fact]
    public void PMEM003_messages_list_every_supported_value_type()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial System.Version? Version { get; set; }
                public partial PersistentList<System.Version?> Versions { get; }
            }
            """);

        var messages = run.GeneratorDiagnostics.Select(diagnostic => diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, messages.Count);
        Assert.All(messages, message =>
        {
            var listed = message[message.LastIndexOf(": ", StringComparison.Ordinal)..].Split([", ", ": ", " and "], StringSplitOptions.RemoveEmptyEntries);
            foreach (var keyword in new[] { "Half", "Int128", "UInt128", "bool", "decimal", "TimeSpan" }.Concat(SupportedTypes.Scalars.Select(scalar => scalar.Keyword)))
            {
                Assert.True(listed.Contains(keyword) || listed.Any(item => item.EndsWith(" " + keyword, StringComparison.Ordinal)), $"'{keyword}' is missing from: {message}");
            }
        });
    }

    [Fact]
    public void Every_descriptor_has_an_absolute_help_link_to_its_section()
    {
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "generator.md"));
        var anchors = MarkdownAnchors(docs);
        var repository = RepositoryUrl();

        Assert.Equal(Descriptors.Count, Descriptors.Select(descriptor => descriptor.Id).Distinct().Count());
        foreach (var descriptor in Descriptors)
        {
            Assert.Matches("^PMEM[0-9]{3}$", descriptor.Id);
            Assert.True(Uri.TryCreate(descriptor.HelpLinkUri, UriKind.Absolute, out var link), $"{descriptor.Id}: '{descriptor.HelpLinkUri}' is not an absolute URL");
            Assert.Equal(Uri.UriSchemeHttps, link.Scheme);
            Assert.Equal($"{repository}/blob/main/docs/generator.md", link.GetLeftPart(UriPartial.Path));
            Assert.Equal("#" + descriptor.Id.ToLowerInvariant(), link.Fragment);
            Assert.Contains(link.Fragment[1..], anchors);
        }
    }

    [Fact]
    public void Every_descriptor_is_documented_with_its_title_and_severity()
    {
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "generator.md")).Replace("\r\n", "\n");

        foreach (var descriptor in Descriptors)
        {
            var title = Regex.Escape(descriptor.Title.ToString());
            var severity = descriptor.DefaultSeverity.ToString();
            Assert.Matches(new Regex($@"^\| \[{descriptor.Id}\]\(#{descriptor.Id.ToLowerInvariant()}\) \| {severity} \| {title} \|$", RegexOptions.Multiline), docs);
            Assert.Matches(new Regex($@"^### {descriptor.Id}\n\*\*{title}\*\* \({severity.ToLowerInvariant()}\)$", RegexOptions.Multiline), docs);
        }
    }

    [Fact]
    public void Markdown_anchors_follow_GitHubs_heading_rules()
    {
        // The help-link test relies on this: GitHub lower-cases a heading, drops punctuation and turns spaces into hyphens.
        var anchors = MarkdownAnchors("# Title\n```\n# not a heading\n```\n### PMEM001\n## Layout hash: v1 (FNV-1a)\n## Layout hash: v1 (FNV-1a)\n");

        Assert.Equal(["title", "pmem001", "layout-hash-v1-fnv-1a", "layout-hash-v1-fnv-1a-1"], anchors);
    }

    [Fact]
    public void The_help_links_point_into_the_repository_the_package_names()
    {
        // Directory.Build.props gives the package its RepositoryUrl; the generator's help links must point into it.
        Assert.StartsWith(RepositoryUrl() + "/", DiagnosticDescriptors.HelpBase, StringComparison.Ordinal);
        var props = System.Xml.Linq.XDocument.Load(Path.Combine(RepositoryRoot(), "Directory.Build.props"));
        Assert.Equal(RepositoryUrl(), props.Descendants("PackageProjectUrl").Single().Value);
    }

    private static readonly List<DiagnosticDescriptor> Descriptors = typeof(DiagnosticDescriptors)
        .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
        .Where(field => field.FieldType == typeof(DiagnosticDescriptor))
        .Select(field => (DiagnosticDescriptor)field.GetValue(null)!)
        .ToList();

    /// <summary>The anchors GitHub gives the headings of a Markdown file, in order (duplicates get -1, -2, …).</summary>
    private static List<string> MarkdownAnchors(string markdown)
    {
        var anchors = new List<string>();
        var inFence = false;
        foreach (var line in markdown.Replace("\r\n", "\n").Split('\n'))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                inFence = !inFence;
                continue;
            }

            var heading = Regex.Match(line, "^#{1,6} +(.*?) *$");
            if (inFence || !heading.Success)
            {
                continue;
            }

            var slug = Regex.Replace(heading.Groups[1].Value.ToLowerInvariant(), @"[^\p{L}\p{Nd}\p{Mn}\p{Pc} -]", string.Empty).Replace(' ', '-');
            var unique = slug;
            for (var n = 1; anchors.Contains(unique); n++)
            {
                unique = $"{slug}-{n}";
            }

            anchors.Add(unique);
        }

        return anchors;
    }

    /// <summary>The RepositoryUrl of Directory.Build.props, without a trailing slash.</summary>
    private static string RepositoryUrl()
    {
        var props = System.Xml.Linq.XDocument.Load(Path.Combine(RepositoryRoot(), "Directory.Build.props"));
        return props.Descendants("RepositoryUrl").Single().Value.TrimEnd('/');
    }

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string callerFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(callerFile)!, "..", ".."));
}
