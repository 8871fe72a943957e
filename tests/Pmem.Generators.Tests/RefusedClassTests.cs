using Microsoft.CodeAnalysis;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// A class the generator refuses still gets a part that implements its partial properties with accessors that throw,
/// so that the user sees the PMEM errors and not, for every property, CS9248 ("must have an implementation part") or
/// any other compiler error caused by the missing code.
/// </summary>
public sealed class RefusedClassTests
{
    // Each sample also declares valid partial properties with modifiers the implementation must repeat.
    private const string ValidProperties = """
            public partial long Balance { get; set; }
            public virtual partial string? Owner { get; protected set; }
            internal partial PersistentList<int> Counts { get; }
        """;

    [Theory]
    [InlineData("PMEM002", "public partial long Limit { get; }\n    public partial long Floor { get; init; }\n    public partial ref int Cell { get; }")]
    [InlineData("PMEM003", "public partial System.Collections.Generic.List<int>? History { get; set; }\n    public partial nint Handle { get; set; }")]
    [InlineData("PMEM003", "public partial PersistentList<int?> Maybe { get; }\n    public partial PersistentDictionary<Account, int> ByAccount { get; }")]
    [InlineData("PMEM007", "public required partial long Limit { get; set; }\n    public required string Name = \"\";")]
    [InlineData("PMEM008", "[CacheLineGroup(\"g\")] public partial decimal A { get; set; }\n    [CacheLineGroup(\"g\")] public partial decimal B { get; set; }\n    [CacheLineGroup(\"g\")] public partial decimal C { get; set; }\n    [CacheLineGroup(\"g\")] public partial decimal D { get; set; }\n    [CacheLineGroup(\"g\")] public partial bool E { get; set; }")]
    [InlineData("PMEM011", "public Account(long opening) { }")]
    [InlineData("PMEM012", "public static partial long Count { get; set; }\n    private static partial string? Label { get; set; }")]
    [InlineData("PMEM017", "public partial PersistentList<int> Replaced { get; set; }\n    public partial PersistentDictionary<int, long> Initialised { get; init; }")]
    [InlineData("PMEM018", "public partial PersistentList<string> Tags { get; }")]
    [InlineData("PMEM019", "public partial long PersistentType { get; set; }\n    public partial long Pool { get; set; }\n    public partial long? NullableSlot { get; set; }")]
    [InlineData("PMEM019", "public static int PersistentType() => 0;\n    private int ReadString => 0;")]
    [InlineData("PMEM023", "[RenamedFrom(\"Balance\")] public partial long Total { get; set; }\n    [RenamedFrom(\"\")] public partial long Floor { get; set; }")]
    public void Property_and_member_errors_leave_only_the_PMEM_errors(string id, string members)
    {
        var run = GeneratorHarness.Run($$"""
            using Pmem.Objects;

            namespace Bank;

            [PersistentObject]
            public partial class Account
            {
            {{ValidProperties}}
                {{members}}
            }
            """);

        AssertOnlyGeneratorErrors(run, id);
    }

    [Theory]
    [InlineData("PMEM004", "public partial class Box<T> where T : struct", "public partial long Value { get; set; }")]
    [InlineData("PMEM006", "public partial record Account(long Opening)", "public partial long Balance { get; set; }")]
    [InlineData("PMEM006", "public partial record class Account", "public partial long Balance { get; set; }")]
    [InlineData("PMEM007,PMEM010", "public partial class Account : Entity", "public required partial long Balance { get; set; }")]
    [InlineData("PMEM014", "[PersistentObject(Name = \" \")] public partial class Account", "public partial long Balance { get; set; }")]
    [InlineData("PMEM022", "[PersistentObject(Version = 0)] public partial class Account", "public partial long Balance { get; set; }")]
    [InlineData("PMEM015", "public abstract partial class Account", "public partial long Balance { get; set; }")]
    [InlineData("PMEM012,PMEM015", "public static partial class Account", "public static partial long Count { get; set; }")]
    public void Class_errors_leave_only_the_PMEM_errors(string ids, string declaration, string members)
    {
        var attribute = declaration.StartsWith('[') ? string.Empty : "[PersistentObject]";
        var run = GeneratorHarness.Run($$"""
            using Pmem.Objects;

            namespace Bank;

            public class Entity { }

            {{attribute}}
            {{declaration}}
            {
                {{members}}
            }
            """);

        AssertOnlyGeneratorErrors(run, ids.Split(','));
    }

    [Fact]
    public void Nested_generic_class_in_partial_types_is_completed_inside_them()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            namespace Bank;

            public partial struct Outer<U>
            {
                private partial interface IMiddle
                {
                    [PersistentObject]
                    public partial class Inner<T>
                    {
                        public partial long Value { get; set; }
                        protected internal partial string? Label { get; private set; }
                    }
                }
            }
            """);

        AssertOnlyGeneratorErrors(run, "PMEM004", "PMEM005");
        Assert.Equal("Bank.Outer`1.IMiddle.Inner`1.g.cs", Assert.Single(run.GeneratedSources).HintName);
    }

    [Fact]
    public void Property_errors_keep_the_class_usable_as_a_persistent_type()
    {
        // Only property errors: the part still derives from PersistentObject, so code that uses the class as a
        // persistent type does not fail as well (CS0311 at every pool.New<Account>()).
        var run = GeneratorHarness.Run(
            """
            using Pmem.Objects;

            namespace Bank;

            [PersistentObject]
            public partial class Account
            {
                public partial nint Handle { get; set; }
            }
            """,
            """
            namespace Bank;

            public static class Use
            {
                public static long Open(Pmem.Pool.PersistentPool pool) => pool.Root<Account>().Offset + Account.PersistentType.Size + pool.New<Account>().Offset;
            }
            """);

        AssertOnlyGeneratorErrors(run, "PMEM003");
    }

    [Fact]
    public void A_class_with_a_property_error_gets_throwing_members()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            namespace Bank;

            [PersistentObject]
            public partial class Account
            {
                public partial long Balance { get; set; }
                public virtual partial string? Owner { get; protected set; }
                public required partial long Limit { get; set; }
                public partial PersistentList<long> History { get; }
                public partial long @class { get; init; }
            }
            """);

        AssertOnlyGeneratorErrors(run, "PMEM002", "PMEM007");
        Snapshot.Verify(run);
    }

    [Fact]
    public void A_nested_generic_record_gets_only_its_property_implementations()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            namespace Shapes;

            public partial class Outer<U>
            {
                [PersistentObject]
                public partial record Pair<T>(T First) where T : struct
                {
                    public partial T Second { get; set; }
                    public partial U? Tag { get; set; }
                }
            }
            """);

        AssertOnlyGeneratorErrors(run, "PMEM003", "PMEM004", "PMEM005", "PMEM006");
        Snapshot.Verify(run);
    }

    [Fact]
    public void A_class_nested_in_a_type_that_is_not_partial_gets_no_part()
    {
        // No part can be added: the compiler's CS9248 stays next to PMEM005, as CS0751 does next to PMEM001.
        var run = GeneratorHarness.Run("""
            public class Outer
            {
                [Pmem.Objects.PersistentObject]
                public partial class Inner
                {
                    public partial long Count { get; set; }
                }
            }
            """);

        Assert.Equal(["PMEM005"], run.GeneratorDiagnostics.Select(diagnostic => diagnostic.Id));
        Assert.Empty(run.GeneratedSources);
        Assert.Contains(Errors(run), diagnostic => diagnostic.Id == "CS9248");
    }

    [Fact]
    public void A_property_of_an_unknown_type_is_left_to_the_compiler()
    {
        // Implementing it would repeat the compiler's CS0246 inside the generated file.
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial Ownr? Owner { get; set; }
                public partial long Balance { get; set; }
            }
            """);

        Assert.DoesNotContain("Owner", run.SingleSource);
        Assert.Contains("public partial long Balance", run.SingleSource);
        Assert.Equal(["CS0246", "CS9248"], Errors(run).Select(diagnostic => diagnostic.Id).Order());
        Assert.All(Errors(run), diagnostic => Assert.Equal("Input0.cs", diagnostic.Location.GetLineSpan().Path));
    }

    /// <summary>
    /// The generator reported <paramref name="ids"/> (and no other IDs), a part was generated that registers nothing,
    /// and the compilation has no error and no warning of its own.
    /// </summary>
    private static void AssertOnlyGeneratorErrors(GeneratorRun run, params string[] ids)
    {
        Assert.Equal(ids.Order(StringComparer.Ordinal), run.GeneratorDiagnostics.Select(diagnostic => diagnostic.Id).Distinct().Order(StringComparer.Ordinal));
        Assert.All(run.GeneratorDiagnostics, diagnostic => Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity));
        Assert.NotEmpty(run.GeneratedSources);
        Assert.All(run.GeneratedSources, source => Assert.DoesNotContain("PersistentTypeRegistry", source.Text));

        var compilerProblems = run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken)
            .Where(diagnostic => diagnostic.Severity >= DiagnosticSeverity.Warning)
            .ToList();
        Assert.True(compilerProblems.Count == 0, "Compiler diagnostics besides the generator's:\n" + string.Join("\n", compilerProblems));
    }

    private static List<Diagnostic> Errors(GeneratorRun run) =>
        [.. run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(diagnostic => diagnostic.Severity == DiagnosticSeverity.Error)];
}
