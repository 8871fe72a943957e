using System.Text.RegularExpressions;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// The generated source for representative classes, compared with checked-in snapshots; every scenario must also
/// compile against Pmem.Core without errors or warnings.
/// </summary>
public sealed class GeneratedSourceTests
{
    [Fact]
    public void Account_with_a_balance_and_an_owner()
    {
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            namespace Bank;

            [PersistentObject]
            public partial class Account
            {
                public partial long Balance { get; set; }

                public partial string? Owner { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Every_supported_value_type()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Samples;

            [PersistentObject]
            public partial class AllValues
            {
                public partial bool Flag { get; set; }
                public partial byte Byte { get; set; }
                public partial sbyte SByte { get; set; }
                public partial short Int16 { get; set; }
                public partial ushort UInt16 { get; set; }
                public partial char Char { get; set; }
                public partial Half Half { get; set; }
                public partial int Int32 { get; set; }
                public partial uint UInt32 { get; set; }
                public partial float Single { get; set; }
                public partial long Int64 { get; set; }
                public partial ulong UInt64 { get; set; }
                public partial double Double { get; set; }
                public partial DateTime DateTime { get; set; }
                public partial TimeSpan TimeSpan { get; set; }
                public partial decimal Decimal { get; set; }
                public partial Guid Guid { get; set; }
                public partial DateTimeOffset DateTimeOffset { get; set; }
                public partial Int128 Int128 { get; set; }
                public partial UInt128 UInt128 { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Nullable_forms_of_value_types()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Samples;

            [PersistentObject]
            public partial class NullableValues
            {
                public partial bool? Flag { get; set; }
                public partial short? Int16 { get; set; }
                public partial int? Int32 { get; set; }
                public partial long? Int64 { get; set; }
                public partial double? Double { get; set; }
                public partial decimal? Decimal { get; set; }
                public partial Guid? Guid { get; set; }
                public partial DateTime? DateTime { get; set; }
                public partial DateTimeOffset? DateTimeOffset { get; set; }
                public partial Int128? Int128 { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Enums_are_stored_as_themselves()
    {
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            namespace Shop;

            public enum OrderState : byte { Open, Paid, Shipped }

            public enum Priority { Low, High }

            [PersistentObject]
            public partial class Order
            {
                public partial OrderState State { get; set; }

                public partial Priority? Priority { get; set; }

                public partial long Number { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void References_between_persistent_classes()
    {
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            namespace Shop;

            [PersistentObject(Name = "shop.customer")]
            public partial class Customer
            {
                public partial string? Name { get; set; }

                public partial Order? LastOrder { get; set; }
            }

            [PersistentObject]
            public partial class Order
            {
                public partial Customer? Customer { get; set; }

                public partial Order? Previous { get; set; }

                public partial decimal Total { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Cache_line_groups_share_a_line()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Bank;

            [PersistentObject]
            public partial class Ledger
            {
                [CacheLineGroup("head")]
                public partial long Head { get; set; }

                [CacheLineGroup("head")]
                public partial int Count { get; set; }

                public partial Guid Id { get; set; }

                public partial decimal Limit { get; set; }

                public partial DateTimeOffset Opened { get; set; }

                public partial decimal Reserve { get; set; }

                [CacheLineGroup("tail")]
                public partial long Tail { get; set; }

                [CacheLineGroup("tail")]
                public partial bool Closed { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Many_properties_across_several_cache_lines()
    {
        var properties = string.Join("\n", Enumerable.Range(0, 24).Select(index => (index % 4) switch
        {
            0 => $"    public partial long Counter{index} {{ get; set; }}",
            1 => $"    public partial System.Guid Key{index} {{ get; set; }}",
            2 => $"    public partial int Small{index} {{ get; set; }}",
            _ => $"    public partial string? Label{index} {{ get; set; }}",
        }));
        var run = GeneratorHarness.RunClean($$"""
            using Pmem.Objects;

            namespace Samples;

            [PersistentObject]
            public partial class Wide
            {
            {{properties}}
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Global_namespace_internal_class_and_custom_durable_name()
    {
        var run = GeneratorHarness.RunClean("""
            [Pmem.Objects.PersistentObject(Name = "settings/v1")]
            internal partial class Settings
            {
                public partial int Volume { get; set; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Accessor_modifiers_keywords_and_ordinary_members_are_respected()
    {
        var run = GeneratorHarness.RunClean("""
            using Pmem.Objects;

            namespace Samples;

            [PersistentObject]
            public partial class Document
            {
                public partial long Version { get; private set; }

                internal partial int @class { get; set; }

                public virtual partial string? Title { get; protected set; }

                // Ordinary members without instance state stay ordinary: not stored, no diagnostic (an instance field
                // or auto-property would get PMEM020: it lives in one wrapper).
                public string Summary => $"{Title} v{Version}";

                public void Bump() => Version++;
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Class_without_persistent_properties_is_one_empty_line()
    {
        var run = GeneratorHarness.RunClean("""
            namespace Samples;

            [Pmem.Objects.PersistentObject]
            public sealed partial class Marker
            {
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Properties_from_every_part_of_the_class_are_stored()
    {
        var run = GeneratorHarness.RunClean(
            """
            namespace Split;

            [Pmem.Objects.PersistentObject]
            public partial class Account
            {
                public partial long Balance { get; set; }
            }
            """,
            """
            namespace Split;

            public partial class Account
            {
                public partial string? Owner { get; set; }
            }
            """);

        Assert.Contains("public partial long Balance", run.SingleSource);
        Assert.Contains("public partial string? Owner", run.SingleSource);
    }

    [Fact]
    public void References_to_persistent_classes_of_another_assembly_are_supported()
    {
        var library = GeneratorHarness.RunClean("""
            namespace Library;

            [Pmem.Objects.PersistentObject]
            public partial class Customer
            {
                public partial string? Name { get; set; }
            }
            """).OutputCompilation;

        // The referenced class is recognised by its generated IPersistentObject<Customer>, not by the attribute.
        var run = GeneratorHarness.RunClean(GeneratorHarness.CreateCompilation(
            ["""
            namespace App;

            [Pmem.Objects.PersistentObject]
            public partial class Order
            {
                public partial Library.Customer? Customer { get; set; }
            }
            """],
            [library.ToMetadataReference()],
            assemblyName: "App"));

        Assert.Contains("get => ReadReference<global::Library.Customer>(0);", run.SingleSource);
    }

    [Fact]
    public void Properties_declared_in_a_nullable_oblivious_context_compile_cleanly()
    {
        var run = GeneratorHarness.RunClean("""
            #nullable disable
            namespace Legacy;

            [Pmem.Objects.PersistentObject]
            public partial class Note
            {
                public partial string Text { get; set; }

                public partial Note Next { get; set; }
            }
            """);

        Assert.Contains("get => ReadString(8)!;", run.SingleSource);
    }

    [Fact]
    public void Collections_of_every_flavour_are_get_only_slots()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Shop;

            public enum Size : byte { Small, Large }

            [PersistentObject]
            public partial class Product
            {
                public partial string? Name { get; set; }
            }

            [PersistentObject]
            public partial class Catalog
            {
                public partial long Version { get; set; }

                public partial PersistentList<int> Counts { get; }
                public partial PersistentList<Size> Sizes { get; }
                public partial PersistentList<string?> Tags { get; }
                public partial PersistentList<Product?> Products { get; }

                public partial PersistentDictionary<Guid, decimal> Prices { get; }
                public partial PersistentDictionary<int, string?> Labels { get; }
                public partial PersistentDictionary<long, Product?> ById { get; }
                public partial PersistentDictionary<string, DateTime> Updated { get; }
                public partial PersistentDictionary<string, string?> Notes { get; }
                internal partial PersistentDictionary<string, Product?> BySku { get; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Sorted_dictionaries_and_sets_are_get_only_slots()
    {
        var run = GeneratorHarness.RunClean("""
            using System;
            using Pmem.Objects;

            namespace Shop;

            public enum Size : byte { Small, Large }

            [PersistentObject]
            public partial class Product
            {
                public partial string? Name { get; set; }
            }

            [PersistentObject]
            public partial class Index
            {
                public partial PersistentSortedDictionary<long, long> Totals { get; }
                public partial PersistentSortedDictionary<DateTime, string?> Events { get; }
                public partial PersistentSortedDictionary<Guid, Product?> ById { get; }
                public partial PersistentSortedDictionary<string, decimal> Prices { get; }
                public partial PersistentSortedDictionary<string, string?> Notes { get; }
                public partial PersistentSortedDictionary<string, Product?> BySku { get; }
                public partial PersistentSortedDictionary<Size, int> BySize { get; }
                public partial PersistentSet<int> Numbers { get; }
                public partial PersistentSet<string> Tags { get; }
            }
            """);

        Snapshot.Verify(run);
    }

    [Fact]
    public void Collections_declared_in_a_nullable_oblivious_context_compile_cleanly()
    {
        var run = GeneratorHarness.RunClean("""
            #nullable disable
            using Pmem.Objects;

            namespace Legacy;

            [PersistentObject]
            public partial class Note
            {
                public partial PersistentList<string> Lines { get; }

                public partial PersistentDictionary<string, Note> Links { get; }
            }
            """);

        Assert.Contains("get => __PmemCollectionLines ??= GetStringList(0);", run.SingleSource);
        Assert.Contains("get => __PmemCollectionLinks ??= GetStringKeyedDictionaryOfObjects<global::Legacy.Note>(8);", run.SingleSource);
    }

    [Fact]
    public void Layout_hash_changes_when_a_collection_element_type_changes()
    {
        // Through the whole generator: the same slot, offset and size, only the element or key type differs.
        static string HashOf(string collectionType) => Regex.Match(
            GeneratorHarness.RunClean($$"""
                using Pmem.Objects;

                [PersistentObject(Name = "tests.basket")]
                public partial class Basket
                {
                    public partial {{collectionType}} Items { get; }
                }
                """).SingleSource,
            "layoutHash: (0x[0-9A-F]{16})UL").Groups[1].Value;

        string[] hashes =
        [
            HashOf("PersistentList<int>"),
            HashOf("PersistentList<long>"),
            HashOf("PersistentList<string?>"),
            HashOf("PersistentList<Basket?>"),
            HashOf("PersistentDictionary<int, long>"),
            HashOf("PersistentDictionary<long, int>"),
            HashOf("PersistentDictionary<string, long>"),
            HashOf("PersistentSortedDictionary<int, long>"),
            HashOf("PersistentSortedDictionary<string, long>"),
            HashOf("PersistentSet<int>"),
            HashOf("PersistentSet<string>"),
        ];

        Assert.All(hashes, hash => Assert.Matches("^0x[0-9A-F]{16}$", hash));
        Assert.Equal(hashes.Length, hashes.Distinct().Count());
        Assert.Equal(hashes[0], HashOf("PersistentList<int>"));
    }
}
