// DiagnosticPrecisionTests -- a diagnostic names what is wrong: no PMEM020 for state the user did not write, PMEM019 before CS0102.
using Microsoft.CodeAnalysis;
using Pmem.Generators.Tests.Infrastructure;
using static Pmem.Generators.Tests.Infrastructure.DiagnosticAssertions;

namespace Pmem.Generators.Tests;

/// <summary>
/// Where the compiler already reports the real mistake, the generator adds no misleading warning; and where the
/// generated part would not compile, the generator says why instead of leaving an error inside the generated file.
/// </summary>
public sealed class DiagnosticPrecisionTests
{
    [Fact]
    public void An_initializer_on_a_partial_property_is_CS8050_only_not_PMEM020()
    {
        // The compiler gives the definition a backing field for the initializer; the property is still the persisted one.
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class WithDefault
            {
                public partial int X { get; set; } = 5;
            }
            """);

        AssertOnly(run);
        Assert.Contains(run.OutputCompilation.GetDiagnostics(TestContext.Current.CancellationToken), diagnostic => diagnostic.Id == "CS8050");
    }

    [Fact]
    public void A_primary_constructor_is_PMEM011_without_PMEM020_for_the_compilers_captured_parameter()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Primary(int y)
            {
                public partial int X { get; set; }
                public int Y => y;
            }
            """);

        AssertOnly(run, ("PMEM011", "Primary", "declares a constructor"));
    }

    [Fact]
    public void A_user_implemented_partial_property_with_a_backing_field_is_still_PMEM020()
    {
        // Implemented by the user, the property is ordinary C#: its field lives in the wrapper like any auto-property's.
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Account
            {
                public partial int Cached { get; set; }
                public partial int Cached { get => field; set => field = value; }
            }
            """);

        AssertOnly(run, ("PMEM020", "Cached", "The auto-property 'Cached' is not persisted"));
    }

    [Fact]
    public void PMEM019_a_member_named_like_a_collection_handle_field()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Coll
            {
                public partial PersistentList<int> Tags { get; }
                private static int __PmemCollectionTags;
                public static int Z => __PmemCollectionTags;
            }
            """);

        AssertOnly(run, ("PMEM019", "__PmemCollectionTags", "The member '__PmemCollectionTags' has the same name as the field '__PmemCollectionTags' that the generator adds to keep the handle of the collection property 'Tags'"));
        AssertRefused(run);
    }

    [Fact]
    public void PMEM019_a_persistent_property_or_the_class_named_like_a_collection_handle_field()
    {
        var run = GeneratorHarness.Run("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Coll
            {
                public partial PersistentSet<long> Seen { get; }
                public partial long __PmemCollectionSeen { get; set; }
            }

            [PersistentObject]
            public partial class __PmemCollectionItems
            {
                public partial PersistentList<int> Items { get; }
            }
            """);

        AssertOnly(
            run,
            ("PMEM019", "__PmemCollectionItems", "The class '__PmemCollectionItems' has the same name as the field '__PmemCollectionItems'"),
            ("PMEM019", "__PmemCollectionSeen", "The persistent property '__PmemCollectionSeen' has the same name as the field '__PmemCollectionSeen'"));
        AssertRefused(run);
    }

    [Fact]
    public void A_handle_field_name_without_its_collection_is_free()
    {
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            [PersistentObject]
            public partial class Coll
            {
                public partial long Tags { get; set; }
                public partial PersistentList<int> Other { get; }
                private static int __PmemCollectionTags = 1;
                public static int Z => __PmemCollectionTags;
            }
            """);

        Assert.Contains("__PmemCollectionOther", run.SingleSource);
    }
}
