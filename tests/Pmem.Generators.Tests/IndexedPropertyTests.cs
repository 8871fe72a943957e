// IndexedPropertyTests -- [Indexed] properties: the setter and schema they get, the types they take (PMEM026), an unchanged layout.
using System.Text.RegularExpressions;
using Pmem.Generators.Tests.Infrastructure;
using static Pmem.Generators.Tests.Infrastructure.DiagnosticAssertions;

namespace Pmem.Generators.Tests;

/// <summary>
/// <c>[Indexed]</c> and <c>[Indexed(Unique = true)]</c>: the setter writes through the runtime member that keeps the
/// index, the schema records the kind, and nothing about the layout changes.
/// </summary>
public sealed class IndexedPropertyTests
{
    [Fact]
    public void Indexed_and_unique_properties_write_through_the_index_and_record_its_kind()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Shop;

            public enum OrderState : byte { Open, Paid, Shipped }

            [PersistentObject]
            public partial class Order
            {
                [Indexed] public partial long Number { get; set; }
                [Indexed] public partial OrderState State { get; set; }
                [Indexed] public partial Guid Customer { get; set; }
                [Indexed] public partial string? Note { get; set; }
                [Indexed(Unique = true)] public partial string? Code { get; set; }
                [Indexed(Unique = true)] public partial long Serial { get; private set; }
                [Indexed(Unique = false)] public partial DateTime Placed { get; set; }
                public partial int Quantity { get; set; }
            }
            """);

        Snapshot.Verify(run);
        var source = run.SingleSource;
        Assert.Contains("set => WriteIndexedField<long>(s_persistentType, 32, value);", source);
        Assert.Contains("set => WriteIndexedField<global::Shop.OrderState>(s_persistentType, ", source);
        Assert.Contains("set => WriteIndexedField<global::System.Guid>(s_persistentType, ", source);
        Assert.Contains("set => WriteIndexedString(s_persistentType, ", source);
        Assert.Contains("private set => WriteIndexedField<long>(s_persistentType, ", source);
        Assert.Contains("set => WriteField<int>(", source);
        Assert.Contains("new(\"Code\", \"string\", 16, 8, isNullable: true, index: global::Pmem.Objects.PersistentIndexKind.Unique)", source);
        Assert.Contains("new(\"Placed\", \"System.DateTime\", 40, 8, index: global::Pmem.Objects.PersistentIndexKind.Indexed)", source);
        Assert.Contains("new(\"Quantity\", \"System.Int32\", 56, 4)", source);
    }

    [Fact]
    public void Hashed_and_hashed_unique_properties_write_through_the_index_and_record_their_kind()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Shop;

            [PersistentObject]
            public partial class Session
            {
                [Indexed(Hashed = true)] public partial long Customer { get; set; }
                [Indexed(Unique = true, Hashed = true)] public partial string? Token { get; set; }
                [Indexed(Hashed = true, Unique = false)] public partial Guid Device { get; set; }
                [Indexed(Hashed = false)] public partial long Sequence { get; set; }
            }
            """);

        var source = run.SingleSource;
        Assert.Matches(@"new\(""Customer"", ""System\.Int64"", \d+, 8, index: global::Pmem\.Objects\.PersistentIndexKind\.Hashed\)", source);
        Assert.Matches(@"new\(""Token"", ""string"", \d+, 8, isNullable: true, index: global::Pmem\.Objects\.PersistentIndexKind\.HashedUnique\)", source);
        Assert.Matches(@"new\(""Device"", ""System\.Guid"", \d+, 16, index: global::Pmem\.Objects\.PersistentIndexKind\.Hashed\)", source);
        Assert.Matches(@"new\(""Sequence"", ""System\.Int64"", \d+, 8, index: global::Pmem\.Objects\.PersistentIndexKind\.Indexed\)", source);
        Assert.Equal(2, Regex.Matches(source, @"index: global::Pmem\.Objects\.PersistentIndexKind\.Hashed\)").Count);
        Assert.Matches(@"set => WriteIndexedField<long>\(s_persistentType, \d+, value\);", source);
        Assert.Matches(@"set => WriteIndexedString\(s_persistentType, \d+, value\);", source);
        Assert.Matches(@"set => WriteIndexedField<global::System\.Guid>\(s_persistentType, \d+, value\);", source);
        Assert.Contains("; indexed, hashed.", source);
        Assert.Contains("; indexed, hashed, unique.", source);
    }

    [Theory]
    [InlineData("sbyte", "sbyte")]
    [InlineData("byte", "byte")]
    [InlineData("short", "short")]
    [InlineData("ushort", "ushort")]
    [InlineData("int", "int")]
    [InlineData("uint", "uint")]
    [InlineData("long", "long")]
    [InlineData("ulong", "ulong")]
    [InlineData("char", "char")]
    [InlineData("bool", "bool")]
    [InlineData("Guid", "global::System.Guid")]
    [InlineData("DateTime", "global::System.DateTime")]
    [InlineData("DateTimeOffset", "global::System.DateTimeOffset")]
    [InlineData("TimeSpan", "global::System.TimeSpan")]
    [InlineData("decimal", "decimal")]
    [InlineData("Int128", "global::System.Int128")]
    [InlineData("UInt128", "global::System.UInt128")]
    [InlineData("Level", "global::Samples.Level")]
    [InlineData("Flags", "global::Samples.Flags")]
    public void Every_value_type_with_a_durable_order_can_be_indexed(string type, string accessType)
    {
        var run = GeneratorHarness.RunClean($$"""
            using System;
            using Pmem.Objects;

            namespace Samples;

            public enum Level { Low, High }

            public enum Flags : ulong { None = 0, All = ulong.MaxValue }

            [PersistentObject]
            public partial class Item
            {
                [Indexed(Unique = true)] public partial {{type}} Key { get; set; }
            }
            """);

        Assert.Contains($"set => WriteIndexedField<{accessType}>(s_persistentType, 0, value);", run.SingleSource);
        Assert.Contains("index: global::Pmem.Objects.PersistentIndexKind.Unique)", run.SingleSource);
    }

    [Fact]
    public void A_non_nullable_string_can_be_indexed_and_keeps_its_nullability_warning()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class User
            {
                [Indexed(Unique = true)] public partial string Email { get; set; }
            }
            """);

        AssertOnly(run, ("PMEM013", "Email", "'Email' has the non-nullable type 'string'"));
        Assert.Contains("get => ReadString(0)!;", run.SingleSource);
        Assert.Contains("set => WriteIndexedString(s_persistentType, 0, value);", run.SingleSource);
        Assert.Contains("new(\"Email\", \"string\", 0, 8, index: global::Pmem.Objects.PersistentIndexKind.Unique)", run.SingleSource);
    }

    [Fact]
    public void PMEM026_types_without_a_durable_order_cannot_be_indexed()
    {
        var run = GeneratorHarness.Run("""
            using System;
            using Pmem.Objects;

            [PersistentObject]
            public partial class Customer
            {
                public partial string? Name { get; set; }
            }

            [PersistentObject]
            public partial class Account
            {
                [Indexed] public partial double Rate { get; set; }
                [Indexed] public partial float Ratio { get; set; }
                [Indexed(Unique = true)] public partial Half Small { get; set; }
                [Indexed] public partial long? Limit { get; set; }
                [Indexed] public partial Customer? Owner { get; set; }
                [Indexed] public partial PersistentList<long> History { get; }
                [Indexed] public partial PersistentSortedDictionary<long, long> Totals { get; }
                [Indexed] public partial long Number { get; set; }
            }
            """);

        const string Takes = "which cannot be indexed: indexed properties are integers, enums, char, bool, Guid, DateTime, DateTimeOffset, TimeSpan, decimal, Int128, UInt128 or string (not floating point, nullable value types, references or collections)";
        AssertOnly(
            run,
            ("PMEM026", "Rate", "The persistent property 'Rate' has type 'double', " + Takes),
            ("PMEM026", "Ratio", "'Ratio' has type 'float', " + Takes),
            ("PMEM026", "Small", "'Small' has type 'System.Half', " + Takes),
            ("PMEM026", "Limit", "'Limit' has type 'long?', " + Takes),
            ("PMEM026", "Owner", "'Owner' has type 'Customer?', " + Takes),
            ("PMEM026", "History", "'History' has type 'Pmem.Objects.PersistentList<long>', " + Takes),
            ("PMEM026", "Totals", "'Totals' has type 'Pmem.Objects.PersistentSortedDictionary<long, long>', " + Takes));

        // Account goes the way of every class with errors; Customer is unaffected.
        var account = Assert.Single(run.GeneratedSources, source => source.HintName == "Account.g.cs");
        Assert.Contains("has generator errors (PMEM026)", account.Text);
        Assert.DoesNotContain("layoutHash:", account.Text);
        Assert.DoesNotContain(run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken), diagnostic => diagnostic.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
    }

    [Fact]
    public void PMEM026_is_not_added_to_other_errors_of_the_property()
    {
        // A type that cannot be stored at all, and a collection with a setter, already have their error.
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                [Indexed] public partial nint Handle { get; set; }
                [Indexed] public partial long Count { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM003", "Handle", "'Handle' has type 'nint'"),
            ("PMEM002", "Count", "'Count' must declare both a get and a set accessor"));
        AssertRefused(run);
    }

    [Fact]
    public void Adding_or_removing_an_index_changes_neither_the_layout_nor_its_hash()
    {
        const string Class = """
            using System;
            using Pmem.Objects;

            namespace Bank;

            public enum Kind : short { Checking, Savings }

            [PersistentObject(Name = "bank.account", Version = 3)]
            public partial class Account
            {
                /*A*/ [CacheLineGroup("hot")] public partial long Balance { get; set; }
                /*B*/ [RenamedFrom("Holder")] public partial string? Owner { get; set; }
                /*C*/ public partial Guid Id { get; set; }
                /*D*/ public partial Kind Kind { get; set; }
                public partial decimal Limit { get; set; }
            }
            """;

        var plain = GeneratorHarness.RunClean(Class).SingleSource;
        var indexed = GeneratorHarness.RunClean(Class
            .Replace("/*A*/", "[Indexed]")
            .Replace("/*B*/", "[Indexed(Unique = true)]")
            .Replace("/*C*/", "[Indexed(Unique = true)]")
            .Replace("/*D*/", "[Indexed]")).SingleSource;

        static string LayoutHash(string source) => Regex.Match(source, "layoutHash: (0x[0-9A-F]{16})UL").Groups[1].Value;
        Assert.Matches("^0x[0-9A-F]{16}$", LayoutHash(plain));
        Assert.Equal(LayoutHash(plain), LayoutHash(indexed));

        // Everything else is the same too once the index argument, the setter and the comment are put back: the same
        // layout table, offsets, sizes, PersistentPropertyInfo arguments and getters.
        Assert.Equal(4, Regex.Matches(indexed, @", index: global::Pmem\.Objects\.PersistentIndexKind\.(Indexed|Unique)\)").Count);
        var unindexed = Regex.Replace(indexed, @", index: global::Pmem\.Objects\.PersistentIndexKind\.(Indexed|Unique)\)", ")");
        unindexed = Regex.Replace(unindexed, @"WriteIndexedField<([^>]+)>\(s_persistentType, ", "WriteField<$1>(");
        unindexed = unindexed.Replace("WriteIndexedString(s_persistentType, ", "WriteString(");
        unindexed = Regex.Replace(unindexed, "; indexed(, unique)?\\.", ".");
        Assert.NotEqual(plain, indexed);
        Assert.Equal(plain, unindexed);
    }
}
