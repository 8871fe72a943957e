// SchemaLockTests -- the schema lock file (pmem.schema.json): reading it, PMEM024 for changes that need a new Version, PMEM025.
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Pmem.Generators.SchemaLock;
using Pmem.Generators.Tests.Infrastructure;
using static Pmem.Generators.Tests.Infrastructure.DiagnosticAssertions;

namespace Pmem.Generators.Tests;

/// <summary>
/// A project may keep the schema of its pools in an <c>AdditionalFiles</c> item named <c>pmem.schema.json</c>; at the
/// version it records, a class may change only in ways pools migrate by themselves.
/// </summary>
public sealed class SchemaLockTests
{
    private const string LockFile = """
        {
          "format": 1,
          "writtenBy": "a test",
          "types": [
            {
              "name": "bank.account",
              "version": 2,
              "properties": [
                { "name": "Balance", "storageType": "System.Int64", "offset": 0, "size": 8 },
                { "name": "Count", "storageType": "System.Int32" },
                { "name": "Owner", "storageType": "string" },
                { "name": "Customer", "storageType": "reference", "target": "bank.customer" }
              ]
            },
            { "name": "bank.customer", "properties": [ { "name": "Name", "storageType": "string" } ] }
          ]
        }
        """;

    private const string Classes = """
        using Pmem.Objects;

        namespace Bank;

        [PersistentObject(Name = "bank.customer")]
        public partial class Customer
        {
            public partial string? Name { get; set; }
        }

        [PersistentObject(Name = "bank.account", Version = 2)]
        public partial class Account
        {
            public partial long Balance { get; set; }
            public partial int Count { get; set; }
            public partial string? Owner { get; set; }
            public partial Customer? Customer { get; set; }
        }
        """;

    [Fact]
    public void The_reader_reads_types_versions_and_properties_and_ignores_other_members()
    {
        var schema = SchemaLockReader.Read("pmem.schema.json", LockFile);

        Assert.Null(schema.Problem);
        var account = schema.Find("bank.account");
        Assert.NotNull(account);
        Assert.Equal(2, account.Version);
        Assert.Equal(
            [
                new LockedProperty("Balance", "System.Int64", null),
                new LockedProperty("Count", "System.Int32", null),
                new LockedProperty("Owner", "string", null),
                new LockedProperty("Customer", "reference", "bank.customer"),
            ],
            account.Properties);
        Assert.Equal(1, schema.Find("bank.customer")?.Version);
        Assert.Null(schema.Find("bank.ledger"));
    }

    [Theory]
    [InlineData("{ \"types\": [ { \"name\": \"a\" } ", "expected ']' at line 1")]
    [InlineData("{ \"types\": [ { \"name\": \"a\", \"properties\": [ { \"name\": \"X\" } ] } ] }", "the property 'X' of 'a' has no \"storageType\" string")]
    [InlineData("{ \"format\": 2 }", "it has format 2, and this generator reads format 1")]
    [InlineData("{ \"types\": [ { \"name\": \"a\" }, { \"name\": \"a\" } ] }", "it lists the type 'a' twice")]
    [InlineData("[]", "the document is not a JSON object")]
    [InlineData("{ \"types\": [ { \"name\": \"a\", \"version\": 1.5 } ] }", "the version of 'a' is not a whole number")]
    [InlineData("{}\n{}", "unexpected text after the document at line 2")]
    public void The_reader_says_why_a_file_cannot_be_used(string text, string problem)
    {
        var schema = SchemaLockReader.Read("pmem.schema.json", text);

        Assert.Equal(problem, schema.Problem);
        Assert.True(schema.Types.IsEmpty);
    }

    [Fact]
    public void An_unchanged_class_and_automatic_changes_are_fine()
    {
        // Added, widened (int → long), made nullable, renamed with [RenamedFrom]: all migrate by themselves.
        var changed = Classes
            .Replace("public partial int Count", "public partial long Count")
            .Replace("public partial long Balance { get; set; }", "[RenamedFrom(\"Balance\")] public partial long? Amount { get; set; }\n    public partial Guid Id { get; set; }")
            .Replace("using Pmem.Objects;", "using System;\nusing Pmem.Objects;");

        // Removed (pools drop it), int → double (every int is exact in a double), long → decimal, and a number that
        // becomes an enum of its underlying type: the runtime converts each of them on open, so no warning either.
        var converted = Classes
            .Replace("public partial string? Owner { get; set; }", string.Empty)
            .Replace("public partial int Count", "public partial double Count")
            .Replace("public partial long Balance", "public partial Level Balance")
            .Replace("namespace Bank;", "namespace Bank;\n\npublic enum Level : long { Low, High }");

        Assert.Empty(RunWithLock(Classes).GeneratorDiagnostics);
        Assert.Empty(RunWithLock(changed).GeneratorDiagnostics);
        Assert.Empty(RunWithLock(converted).GeneratorDiagnostics);
    }

    [Fact]
    public void An_index_added_or_made_unique_at_the_locked_version_is_not_a_change()
    {
        // An index is kept by the pool beside the objects; the stored bytes, and so the lock file's view, stay the same.
        var indexed = Classes
            .Replace("public partial long Balance", "[Indexed] public partial long Balance")
            .Replace("public partial string? Owner", "[Indexed(Unique = true)] public partial string? Owner");

        Assert.Empty(RunWithLock(indexed).GeneratorDiagnostics);
    }

    [Fact]
    public void PMEM024_an_incompatible_type_or_reference_target_at_the_locked_version()
    {
        var run = RunWithLock(Classes
            .Replace("public partial long Balance", "public partial double Balance") // a long may not fit a double
            .Replace("public partial Customer? Customer", "public partial Account? Customer")
            .Replace("public partial int Count", "public partial short Count")
            .Replace("public partial string? Owner { get; set; }", "[RenamedFrom(\"Owner\")] public partial Customer? Holder { get; set; }"));

        const string Tail = "but its Version is still 2, as recorded in pmem.schema.json";
        AssertOnly(
            run,
            ("PMEM024", "Account", "The persistent class 'Bank.Account' stores the property 'Balance' as 'System.Double' instead of 'System.Int64', " + Tail),
            ("PMEM024", "Account", "The persistent class 'Bank.Account' stores the property 'Count' as 'System.Int16' instead of 'System.Int32', " + Tail),
            ("PMEM024", "Account", "The persistent class 'Bank.Account' stores the property 'Owner' (now 'Holder') as 'reference' instead of 'string', " + Tail),
            ("PMEM024", "Account", "The persistent class 'Bank.Account' stores the property 'Customer' as a reference to 'bank.account' instead of 'bank.customer', " + Tail));
        Assert.All(run.GeneratorDiagnostics, diagnostic => Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity));
    }

    [Fact]
    public void A_new_version_or_a_class_the_lock_file_does_not_know_is_not_checked()
    {
        var newVersion = Classes
            .Replace("Version = 2", "Version = 3")
            .Replace("public partial int Count", "public partial short Count");
        var renamedType = Classes
            .Replace("Name = \"bank.account\"", "Name = \"bank.ledger\"")
            .Replace("public partial int Count", "public partial short Count");

        Assert.Empty(RunWithLock(newVersion).GeneratorDiagnostics);
        Assert.Empty(RunWithLock(renamedType).GeneratorDiagnostics);
    }

    [Fact]
    public void A_class_with_errors_is_not_checked()
    {
        // Its property with an error is missing from the model, which must not read as a removed property.
        var run = RunWithLock(Classes.Replace("public partial long Balance { get; set; }", "public partial long Balance { get; }"));

        Assert.Equal(["PMEM002"], run.GeneratorDiagnostics.Select(diagnostic => diagnostic.Id));
    }

    [Fact]
    public void PMEM025_an_unreadable_lock_file_is_reported_once_and_checks_nothing()
    {
        var run = GeneratorHarness.Run(
            GeneratorHarness.CreateCompilation(Classes.Replace("public partial int Count", "public partial short Count")),
            new InMemoryAdditionalText("/project/pmem.schema.json", "{ \"types\": [ }"));

        var diagnostic = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("PMEM025", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Equal(
            "The schema lock file '/project/pmem.schema.json' cannot be used: expected a value at line 1; no persistent class is checked against it",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void PMEM025_two_lock_files()
    {
        var run = GeneratorHarness.Run(
            GeneratorHarness.CreateCompilation(Classes),
            new InMemoryAdditionalText("/project/b/pmem.schema.json", LockFile),
            new InMemoryAdditionalText("/project/a/PMEM.schema.json", LockFile),
            new InMemoryAdditionalText("/project/other.json", "not json"));

        var diagnostic = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("PMEM025", diagnostic.Id);
        Assert.Contains("'/project/a/PMEM.schema.json' cannot be used: the project has 2 files named pmem.schema.json", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void An_unrelated_edit_reuses_the_lock_file_and_its_checks_and_an_edit_of_the_file_does_not()
    {
        var lockFile = new InMemoryAdditionalText("/project/pmem.schema.json", LockFile);
        var changed = Classes.Replace("public partial int Count", "public partial short Count");
        var compilation = GeneratorHarness.CreateCompilation(changed);
        var driver = GeneratorHarness.CreateDriver(trackSteps: true, additionalTexts: [lockFile]).RunGenerators(compilation, TestContext.Current.CancellationToken);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Bank; public static class Unrelated { }", GeneratorHarness.ParseOptions));
        var result = driver.RunGenerators(edited, TestContext.Current.CancellationToken).GetRunResult().Results.Single();
        Assert.All(
            result.TrackedSteps[TrackingNames.SchemaLock].Concat(result.TrackedSteps[TrackingNames.SchemaLockChecks]).SelectMany(run => run.Outputs),
            output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
        Assert.Single(result.TrackedSteps[TrackingNames.SchemaLockChecks].SelectMany(run => run.Outputs));

        var relocked = driver.ReplaceAdditionalText(lockFile, new InMemoryAdditionalText(lockFile.Path, LockFile.Replace("System.Int32", "System.Int16")));
        var afterRelock = relocked.RunGenerators(compilation, TestContext.Current.CancellationToken).GetRunResult().Results.Single();
        Assert.Contains(afterRelock.TrackedSteps[TrackingNames.SchemaLock].SelectMany(run => run.Outputs), output => output.Reason == IncrementalStepRunReason.Modified);
        Assert.Empty(afterRelock.Diagnostics);
    }

    private static GeneratorRun RunWithLock(string source) =>
        GeneratorHarness.Run(GeneratorHarness.CreateCompilation(source), new InMemoryAdditionalText("/project/pmem.schema.json", LockFile));
}
