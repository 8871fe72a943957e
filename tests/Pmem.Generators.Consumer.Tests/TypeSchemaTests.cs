// TypeSchemaTests -- the schema the generated classes record (properties, targets, version) and their registration at load.
using System.Reflection;
using Pmem.Objects;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>
/// What a pool will record of each class besides its layout hash: every stored property with its stored type, place,
/// group, target class and former names, and the class's version; and that each class hands this to
/// <see cref="PersistentTypeRegistry"/> by itself when the assembly loads.
/// </summary>
public sealed class TypeSchemaTests
{
    [Fact]
    public void Account_records_every_stored_property_in_offset_order()
    {
        var type = Account.PersistentType;

        Assert.True(type.HasSchema);
        Assert.Equal(
            [
                ("Limit", "System.Decimal?", 0, 24, null, null, false),
                ("Customer", "reference", 24, 8, null, "consumer.customer", true),
                ("Id", "System.Guid", 32, 16, null, null, false),
                ("Balance", "System.Int64", 48, 8, "hot", null, false),
                ("Version", "System.Int32", 56, 4, "hot", null, false),
                ("Owner", "string", 64, 8, null, null, true),
            ],
            type.Properties.Select(property => (property.Name, property.StorageType, property.Offset, property.Size, property.Group, property.Target, property.IsNullable)));
        Assert.All(type.Properties, property => Assert.Empty(property.FormerNames));
    }

    [Fact]
    public void Collections_of_references_record_the_durable_name_of_their_class()
    {
        var targets = Everything.PersistentType.Properties
            .Where(property => property.Target is not null)
            .ToDictionary(property => property.Name, property => (property.StorageType, property.Target));

        Assert.Equal(
            new Dictionary<string, (string, string?)>
            {
                ["Owner"] = ("reference", "consumer.customer"),
                ["Customers"] = ("list<reference>", "consumer.customer"),
                ["CustomersById"] = ("dictionary<System.Int64,reference>", "consumer.customer"),
                ["CustomersByName"] = ("dictionary<string,reference>", "consumer.customer"),
            },
            targets);
    }

    [Fact]
    public void Version_and_former_names_come_from_the_attributes()
    {
        Assert.Equal(1, Account.PersistentType.Version);
        Assert.Equal(3, Renamed.PersistentType.Version);
        var label = Assert.Single(Renamed.PersistentType.Properties);
        Assert.Equal(["Title", "Caption"], label.FormerNames);
    }

    [Fact]
    public void Every_class_is_registered_when_the_assembly_loads()
    {
        // No test code registers anything: the generated module initializers ran when this assembly loaded. The
        // registry's lookup is internal to Pmem.Core (the pool uses it at open), so the test reads it by reflection.
        var find = typeof(PersistentTypeRegistry).GetMethod("Find", BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new InvalidOperationException("PersistentTypeRegistry.Find(ulong) is gone; update this test.");
        IReadOnlyList<PersistentTypeInfo> Find(PersistentTypeInfo type) => (IReadOnlyList<PersistentTypeInfo>)find.Invoke(null, [type.TypeId])!;

        foreach (var type in new[] { Account.PersistentType, Customer.PersistentType, Everything.PersistentType, Renamed.PersistentType })
        {
            Assert.Same(type, Assert.Single(Find(type)));
        }

        // Two classes with one durable name (PMEM021, turned off for this project) are both kept.
        var holders = Find(Holder.PersistentType);
        Assert.Equal(2, holders.Count);
        Assert.Contains(Holder.PersistentType, holders);
        Assert.Contains(HolderOfAccount.PersistentType, holders);
    }

    [Fact]
    public void The_registration_method_is_a_hidden_module_initializer()
    {
        var method = typeof(Account).GetMethod("__PmemRegister", BindingFlags.NonPublic | BindingFlags.Static);

        Assert.NotNull(method);
        Assert.True(method.IsAssembly);
        Assert.NotNull(method.GetCustomAttribute<System.Runtime.CompilerServices.ModuleInitializerAttribute>());
        Assert.Equal(
            System.ComponentModel.EditorBrowsableState.Never,
            method.GetCustomAttribute<System.ComponentModel.EditorBrowsableAttribute>()?.State);
    }
}
