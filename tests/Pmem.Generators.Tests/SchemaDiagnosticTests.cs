// SchemaDiagnosticTests -- the diagnostics about durable names, versions and former names (PMEM021, PMEM022, PMEM023).
using Pmem.Generators.Tests.Infrastructure;
using static Pmem.Generators.Tests.Infrastructure.DiagnosticAssertions;

namespace Pmem.Generators.Tests;

/// <summary>One test per rule of schema evolution the generator enforces: its ID, where it points and what it says.</summary>
public sealed class SchemaDiagnosticTests
{
    [Fact]
    public void PMEM021_two_classes_with_one_durable_name_are_both_reported_naming_both()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            namespace Bank;

            [PersistentObject(Name = "bank.account")]
            public partial class Account
            {
                public partial long Balance { get; set; }
            }

            [PersistentObject(Name = "bank.account")]
            public partial class Ledger
            {
                public partial long Total { get; set; }
            }
            """);

        const string Message = "The persistent classes 'Bank.Account' and 'Bank.Ledger' have the same durable name 'bank.account'";
        AssertOnly(run, ("PMEM021", "Account", Message), ("PMEM021", "Ledger", Message));
    }

    [Fact]
    public void PMEM021_a_Name_equal_to_another_class_s_full_name_collides_and_three_classes_are_listed()
    {
        var run = GeneratorHarness.Run(
            """
            namespace Bank;

            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
            }
            """,
            """
            namespace Archive;

            [Pmem.Objects.PersistentObject(Name = "Bank.Account")]
            public partial class OldAccount
            {
            }

            [Pmem.Objects.PersistentObject(Name = "Bank.Account")]
            public partial class Account
            {
            }
            """);

        const string Message = "The persistent classes 'Archive.Account', 'Archive.OldAccount' and 'Bank.Account' have the same durable name 'Bank.Account'";
        AssertOnly(run, ("PMEM021", "Account", Message), ("PMEM021", "Account", Message), ("PMEM021", "OldAccount", Message));
    }

    [Fact]
    public void PMEM021_names_differing_in_case_or_from_different_classes_do_not_collide()
    {
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            [PersistentObject(Name = "bank.account")]
            public partial class Account
            {
            }

            [PersistentObject(Name = "Bank.Account")]
            public partial class Ledger
            {
            }
            """);

        Assert.Empty(run.GeneratorDiagnostics);
    }

    [Fact]
    public void PMEM022_version_below_one()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject(Version = 0)]
            public partial class Account
            {
                public partial long Balance { get; set; }
            }

            [PersistentObject(Name = "ledger", Version = -3)]
            public partial class Ledger
            {
            }
            """);

        AssertOnly(
            run,
            ("PMEM022", "Account", "The persistent class 'Account' has Version = 0; versions start at 1"),
            ("PMEM022", "Ledger", "The persistent class 'Ledger' has Version = -3"));
        AssertRefused(run);
    }

    [Fact]
    public void PMEM023_former_name_that_is_empty_the_property_itself_or_a_current_property()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                [RenamedFrom("")] public partial long Balance { get; set; }
                [RenamedFrom("Limit")] public partial long Limit { get; set; }
                [RenamedFrom("Balance")] public partial long Total { get; set; }
                [RenamedFrom(null!)] public partial long Floor { get; set; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM023", "Balance", "[RenamedFrom(\"\")] on the persistent property 'Balance' names no property"),
            ("PMEM023", "Floor", "[RenamedFrom(\"\")] on the persistent property 'Floor' names no property"),
            ("PMEM023", "Limit", "[RenamedFrom(\"Limit\")] on the persistent property 'Limit' names the property itself"),
            ("PMEM023", "Total", "[RenamedFrom(\"Balance\")] on the persistent property 'Total' names the persistent property 'Balance', which still exists"));
        AssertRefused(run);
    }

    [Fact]
    public void PMEM023_former_name_repeated_or_claimed_by_two_properties()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                [RenamedFrom("Amount")] public partial long Balance { get; set; }
                [RenamedFrom("Amount")] public partial long Total { get; set; }
                [RenamedFrom("Cap"), RenamedFrom("Cap")] public partial long Limit { get; set; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM023", "Limit", "[RenamedFrom(\"Cap\")] on the persistent property 'Limit' is repeated"),
            ("PMEM023", "Total", "[RenamedFrom(\"Amount\")] on the persistent property 'Total' names a former name that 'Balance' also claims"));
    }

    [Fact]
    public void Former_names_of_properties_that_no_longer_exist_are_accepted()
    {
        // A name an ordinary (not stored) member still uses is fine as well: the pool only knows stored properties.
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            [PersistentObject(Version = 4)]
            public partial class Account
            {
                [RenamedFrom("Amount"), RenamedFrom("Sum")] public partial long Balance { get; set; }
                [RenamedFrom("Describe")] public partial string? Title { get; set; }
                public string Describe() => $"{Title}: {Balance}";
            }
            """);

        Assert.Contains("new(\"Balance\", \"System.Int64\", 0, 8, formerNames: [\"Amount\", \"Sum\"]),", run.SingleSource);
        Assert.Contains("version: 4,", run.SingleSource);
    }

    [Fact]
    public void PMEM019_the_registration_method_name_is_taken()
    {
        var run = GeneratorHarness.Run("""
            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public partial long __PmemRegister { get; set; }
                private static void Helper() { }
            }

            [Pmem.Objects.PersistentObject]
            public partial class Ledger
            {
                internal static void __PmemRegister() { }
            }
            """);

        AssertOnly(
            run,
            ("PMEM019", "__PmemRegister", "The persistent property '__PmemRegister' has the same name as the module initializer '__PmemRegister'"),
            ("PMEM019", "__PmemRegister", "The member '__PmemRegister' has the same name as the module initializer '__PmemRegister'"));
        AssertRefused(run);
    }
}
