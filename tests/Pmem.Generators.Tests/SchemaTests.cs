// SchemaTests -- the schema the generated type info records: properties with stored types, targets, groups and former names, the version, registration.
using System.Text.RegularExpressions;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// The <c>PersistentTypeInfo</c> each generated class builds: its version and every stored property in offset order,
/// with what a pool needs to read and migrate the property without the program's classes; and the module initializer
/// that registers it.
/// </summary>
public sealed class SchemaTests
{
    [Fact]
    public void Every_property_kind_is_recorded_with_its_schema()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Bank;

            public enum Tier : byte { Bronze, Gold }

            [PersistentObject(Name = "bank.customer")]
            public partial class Customer
            {
                public partial string? Name { get; set; }
            }

            [PersistentObject]
            public partial class Item
            {
                public partial long Price { get; set; }
            }

            [PersistentObject(Name = "bank.account", Version = 2)]
            public partial class Account
            {
                [CacheLineGroup("hot")] public partial long Balance { get; set; }
                [CacheLineGroup("hot")] public partial int Revision { get; set; }
                public partial Tier Tier { get; set; }
                public partial long? Limit { get; set; }
                public partial string? Owner { get; set; }
                public partial Customer? Customer { get; set; }
                public partial Item? LastItem { get; set; }
                public partial PersistentList<Item?> Items { get; }
                public partial PersistentDictionary<string, Customer?> CoOwners { get; }
                public partial PersistentDictionary<Guid, int> Counts { get; }
                [RenamedFrom("Legacy")][RenamedFrom("Older")] public partial int Score { get; set; }
            }
            """);

        var account = Source(run, "Bank.Account.g.cs");
        Assert.Contains("version: 2,", account);
        Assert.Equal(
            [
                "new(\"Limit\", \"System.Int64?\", 0, 16),",
                "new(\"Balance\", \"System.Int64\", 16, 8, group: \"hot\"),",
                "new(\"Revision\", \"System.Int32\", 24, 4, group: \"hot\"),",
                "new(\"Score\", \"System.Int32\", 28, 4, formerNames: [\"Legacy\", \"Older\"]),",
                "new(\"CoOwners\", \"dictionary<string,reference>\", 32, 8, target: \"bank.customer\"),",
                "new(\"Counts\", \"dictionary<System.Guid,System.Int32>\", 40, 8),",
                "new(\"Customer\", \"reference\", 48, 8, target: \"bank.customer\", isNullable: true),",
                "new(\"Items\", \"list<reference>\", 56, 8, target: \"Bank.Item\"),",
                "new(\"LastItem\", \"reference\", 64, 8, target: \"Bank.Item\", isNullable: true),",
                "new(\"Owner\", \"string\", 72, 8, isNullable: true),",
                "new(\"Tier\", \"enum:System.Byte\", 80, 1),",
            ],
            PropertyLines(account));
        Snapshot.Verify(run);
    }

    [Fact]
    public void A_class_without_Version_is_version_1_and_one_without_properties_lists_none()
    {
        var run = GeneratorHarness.RunClean("""
            [Pmem.Objects.PersistentObject]
            public partial class Marker
            {
            }
            """);

        Assert.Contains("    version: 1,\n        properties: []);", run.SingleSource.Replace("\r\n", "\n"));
    }

    [Fact]
    public void A_non_nullable_string_or_reference_is_recorded_as_not_nullable()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public partial string Owner { get; set; }
                public partial Account Parent { get; set; }
            }
            """);

        Assert.Equal(["PMEM013", "PMEM013"], run.GeneratorDiagnostics.Select(diagnostic => diagnostic.Id));
        Assert.Equal(
            ["new(\"Owner\", \"string\", 0, 8),", "new(\"Parent\", \"reference\", 8, 8, target: \"Account\"),"],
            PropertyLines(run.SingleSource));
    }

    [Fact]
    public void The_target_of_a_class_in_a_referenced_assembly_is_its_durable_name()
    {
        var library = GeneratorHarness.RunClean("""
            namespace Library;

            [Pmem.Objects.PersistentObject(Name = "lib.customer")]
            public partial class Customer
            {
            }

            [Pmem.Objects.PersistentObject]
            public partial class Supplier
            {
            }
            """).OutputCompilation;

        var run = GeneratorHarness.RunClean(GeneratorHarness.CreateCompilation(
            ["""
            namespace App;

            [Pmem.Objects.PersistentObject]
            public partial class Order
            {
                public partial Library.Customer? Customer { get; set; }
                public partial Pmem.Objects.PersistentList<Library.Supplier?> Suppliers { get; }
            }
            """],
            [library.ToMetadataReference()],
            assemblyName: "App"));

        Assert.Equal(
            [
                "new(\"Customer\", \"reference\", 0, 8, target: \"lib.customer\", isNullable: true),",
                "new(\"Suppliers\", \"list<reference>\", 8, 8, target: \"Library.Supplier\"),",
            ],
            PropertyLines(run.SingleSource));
    }

    [Fact]
    public void Version_former_names_and_targets_leave_the_layout_hash_unchanged()
    {
        // Existing pools record layout hashes: the schema's additions must not enter them.
        const string Before = """
            using Pmem.Objects;

            [PersistentObject]
            public partial class Customer { }

            [PersistentObject]
            public partial class Account
            {
                public partial long Balance { get; set; }
                public partial Customer? Customer { get; set; }
            }
            """;
        var after = Before
            .Replace("[PersistentObject]\npublic partial class Customer", "[PersistentObject(Name = \"renamed.customer\")]\npublic partial class Customer")
            .Replace("[PersistentObject]\npublic partial class Account", "[PersistentObject(Version = 7)]\npublic partial class Account")
            .Replace("public partial long Balance", "[RenamedFrom(\"Amount\")] public partial long Balance");
        Assert.NotEqual(Before, after);

        var hashBefore = LayoutHash(Source(GeneratorHarness.RunClean(Before), "Account.g.cs"));
        var accountAfter = Source(GeneratorHarness.RunClean(after), "Account.g.cs");

        Assert.Contains("target: \"renamed.customer\"", accountAfter);
        Assert.Contains("version: 7,", accountAfter);
        Assert.Equal(hashBefore, LayoutHash(accountAfter));
    }

    [Fact]
    public void Every_generated_class_registers_its_type_info_in_a_module_initializer()
    {
        var run = GeneratorHarness.RunClean("""
            [Pmem.Objects.PersistentObject]
            internal partial class Account
            {
                public partial long Balance { get; set; }
            }
            """);

        Assert.Contains(
            """
                [global::System.Runtime.CompilerServices.ModuleInitializer]
                [global::System.ComponentModel.EditorBrowsable(global::System.ComponentModel.EditorBrowsableState.Never)]
                internal static void __PmemRegister() => global::Pmem.Objects.PersistentTypeRegistry.Register(s_persistentType);
            """.Replace("\r\n", "\n"),
            run.SingleSource.Replace("\r\n", "\n"));
    }

    private static string Source(GeneratorRun run, string hintName) =>
        Assert.Single(run.GeneratedSources, source => source.HintName == hintName).Text.Replace("\r\n", "\n");

    /// <summary>The <c>PersistentPropertyInfo</c> constructor calls of the type info, trimmed, in order.</summary>
    private static List<string> PropertyLines(string source) =>
        [.. source.Replace("\r\n", "\n").Split('\n').Select(line => line.Trim()).Where(line => line.StartsWith("new(\"", StringComparison.Ordinal))];

    private static string LayoutHash(string source) => Regex.Match(source, "layoutHash: (0x[0-9A-F]{16})UL").Groups[1].Value;
}
