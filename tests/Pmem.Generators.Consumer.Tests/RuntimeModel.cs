using Pmem.Objects;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>A membership level (byte-sized enum).</summary>
public enum Tier : byte
{
    /// <summary>The default.</summary>
    Bronze,

    /// <summary>The middle.</summary>
    Silver,

    /// <summary>The top.</summary>
    Gold,
}

/// <summary>Every supported property type once, stored in a pool by generated code.</summary>
[PersistentObject(Name = "consumer.everything")]
public partial class Everything
{
    /// <summary>A bool.</summary>
    public partial bool Flag { get; set; }

    /// <summary>A byte.</summary>
    public partial byte Byte { get; set; }

    /// <summary>An sbyte.</summary>
    public partial sbyte SByte { get; set; }

    /// <summary>A short.</summary>
    public partial short Int16 { get; set; }

    /// <summary>A ushort.</summary>
    public partial ushort UInt16 { get; set; }

    /// <summary>A char.</summary>
    public partial char Char { get; set; }

    /// <summary>A Half.</summary>
    public partial Half Half { get; set; }

    /// <summary>An int.</summary>
    public partial int Int32 { get; set; }

    /// <summary>A uint.</summary>
    public partial uint UInt32 { get; set; }

    /// <summary>A float.</summary>
    public partial float Single { get; set; }

    /// <summary>A long.</summary>
    public partial long Int64 { get; set; }

    /// <summary>A ulong.</summary>
    public partial ulong UInt64 { get; set; }

    /// <summary>A double.</summary>
    public partial double Double { get; set; }

    /// <summary>A decimal.</summary>
    public partial decimal Decimal { get; set; }

    /// <summary>A Guid.</summary>
    public partial Guid Guid { get; set; }

    /// <summary>A DateTime.</summary>
    public partial DateTime DateTime { get; set; }

    /// <summary>A DateTimeOffset.</summary>
    public partial DateTimeOffset DateTimeOffset { get; set; }

    /// <summary>A TimeSpan.</summary>
    public partial TimeSpan TimeSpan { get; set; }

    /// <summary>An Int128.</summary>
    public partial Int128 Int128 { get; set; }

    /// <summary>A UInt128.</summary>
    public partial UInt128 UInt128 { get; set; }

    /// <summary>An enum.</summary>
    public partial Tier Tier { get; set; }

    /// <summary>A bool?.</summary>
    public partial bool? NullableFlag { get; set; }

    /// <summary>An int?.</summary>
    public partial int? NullableInt32 { get; set; }

    /// <summary>A long?.</summary>
    public partial long? NullableInt64 { get; set; }

    /// <summary>A double?.</summary>
    public partial double? NullableDouble { get; set; }

    /// <summary>A decimal?.</summary>
    public partial decimal? NullableDecimal { get; set; }

    /// <summary>A Guid?.</summary>
    public partial Guid? NullableGuid { get; set; }

    /// <summary>A DateTime?.</summary>
    public partial DateTime? NullableDateTime { get; set; }

    /// <summary>A DateTimeOffset?.</summary>
    public partial DateTimeOffset? NullableDateTimeOffset { get; set; }

    /// <summary>A TimeSpan?.</summary>
    public partial TimeSpan? NullableTimeSpan { get; set; }

    /// <summary>An Int128?.</summary>
    public partial Int128? NullableInt128 { get; set; }

    /// <summary>An enum?.</summary>
    public partial Tier? NullableTier { get; set; }

    /// <summary>A string.</summary>
    public partial string? Name { get; set; }

    /// <summary>An empty string, which must stay distinct from null.</summary>
    public partial string? Empty { get; set; }

    /// <summary>A reference.</summary>
    public partial Customer? Owner { get; set; }

    /// <summary>A list of ints.</summary>
    public partial PersistentList<int> Numbers { get; }

    /// <summary>A list of enums.</summary>
    public partial PersistentList<Tier> Tiers { get; }

    /// <summary>A list of strings.</summary>
    public partial PersistentList<string?> Tags { get; }

    /// <summary>A list of references.</summary>
    public partial PersistentList<Customer?> Customers { get; }

    /// <summary>Unmanaged keys to unmanaged values.</summary>
    public partial PersistentDictionary<Guid, decimal> Prices { get; }

    /// <summary>Unmanaged keys to strings.</summary>
    public partial PersistentDictionary<int, string?> Labels { get; }

    /// <summary>Unmanaged keys to references.</summary>
    public partial PersistentDictionary<long, Customer?> CustomersById { get; }

    /// <summary>String keys to unmanaged values.</summary>
    public partial PersistentDictionary<string, DateTime> Updated { get; }

    /// <summary>String keys to strings.</summary>
    public partial PersistentDictionary<string, string?> Notes { get; }

    /// <summary>String keys to references.</summary>
    public partial PersistentDictionary<string, Customer?> CustomersByName { get; }
}

// Holder and HolderOfAccount stand for two versions of one program in one assembly, so they share a durable name on
// purpose; in an application that is error PMEM021, which the project file turns off (<NoWarn>: a generator's
// diagnostics cannot be suppressed with #pragma).
/// <summary>Version 1 of a holder: its reference points at a customer.</summary>
[PersistentObject(Name = "consumer.holder")]
public partial class Holder
{
    /// <summary>The held customer.</summary>
    public partial Customer? Target { get; set; }
}

/// <summary>
/// Version 2 of the same durable type after a program change: the reference's declared type became <see cref="Account"/>.
/// A reference stores only an offset, so the layout (and its hash) is unchanged; the pool must catch the wrong type on read.
/// </summary>
[PersistentObject(Name = "consumer.holder")]
public partial class HolderOfAccount
{
    /// <summary>The held object, now declared as an account.</summary>
    public partial Account? Target { get; set; }
}
