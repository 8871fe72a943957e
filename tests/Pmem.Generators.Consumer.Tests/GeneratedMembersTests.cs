using Pmem.Objects;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>
/// The generator ran inside the real SDK build of this project (otherwise it would not have compiled: CS9248). These
/// tests check the static surface the generated code gives each class; <see cref="PoolRoundTripTests"/> uses it in pools.
/// </summary>
public sealed class GeneratedMembersTests
{
    [Fact]
    public void Account_has_the_planned_size_and_field_list()
    {
        var type = Account.PersistentType;

        Assert.Equal("Pmem.Generators.Consumer.Tests.Account", type.Name);
        Assert.Equal(128, type.Size);

        // 68 bytes of fields: decimal? (24), Guid, the hot group (12) and the reference fill line 0; the string starts line 1.
        Assert.Equal(
            [new PersistentFieldInfo(24, PersistentFieldKind.Reference), new PersistentFieldInfo(64, PersistentFieldKind.String)],
            type.Fields);
    }

    [Fact]
    public void Durable_names_and_type_ids_follow_the_attribute()
    {
        Assert.Equal("consumer.customer", Customer.PersistentType.Name);
        Assert.Equal(PersistentTypeInfo.ComputeTypeId("consumer.customer"), Customer.PersistentType.TypeId);
        Assert.Equal(64, Customer.PersistentType.Size);
        Assert.Equal([new PersistentFieldInfo(0, PersistentFieldKind.String)], Customer.PersistentType.Fields);
    }

    [Fact]
    public void Layout_hashes_are_the_generators_and_differ_between_types()
    {
        // Pinned: a change means every existing pool of this type would be refused. Update only on purpose.
        Assert.Equal(ExpectedAccountHash, Account.PersistentType.LayoutHash);
        Assert.NotEqual(Account.PersistentType.LayoutHash, Customer.PersistentType.LayoutHash);
    }

    [Fact]
    public void Classes_implement_the_runtime_contract()
    {
        Assert.True(typeof(PersistentObject).IsAssignableFrom(typeof(Account)));
        Assert.Contains(typeof(IPersistentObject<Account>), typeof(Account).GetInterfaces());
        Assert.Same(Account.PersistentType, PersistentTypeOf<Account>());
    }

    private static PersistentTypeInfo PersistentTypeOf<T>()
        where T : PersistentObject, IPersistentObject<T> => T.PersistentType;

    private const ulong ExpectedAccountHash = 0x4B8026724DE83DFBUL;
}
