using Pmem.Objects;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>A customer, stored in a pool.</summary>
[PersistentObject(Name = "consumer.customer")]
public partial class Customer
{
    /// <summary>The customer's name.</summary>
    public partial string? Name { get; set; }
}

/// <summary>A bank account, stored in a pool.</summary>
[PersistentObject]
public partial class Account
{
    /// <summary>The balance in cents.</summary>
    [CacheLineGroup("hot")]
    public partial long Balance { get; set; }

    /// <summary>Bumped on every change.</summary>
    [CacheLineGroup("hot")]
    public partial int Version { get; set; }

    /// <summary>The account's identity.</summary>
    public partial Guid Id { get; set; }

    /// <summary>The overdraft limit, if any.</summary>
    public partial decimal? Limit { get; set; }

    /// <summary>The owner's display name.</summary>
    public partial string? Owner { get; set; }

    /// <summary>The owning customer.</summary>
    public partial Customer? Customer { get; set; }

    /// <summary>Not stored: an ordinary member.</summary>
    public string Describe() => $"{Owner}: {Balance}";
}

/// <summary>A class at its third schema version whose one property was renamed twice.</summary>
[PersistentObject(Name = "consumer.renamed", Version = 3)]
public partial class Renamed
{
    /// <summary>Called Title first, then Caption.</summary>
    [RenamedFrom("Title")]
    [RenamedFrom("Caption")]
    public partial string? Label { get; set; }
}

/// <summary>A journal of events kept in order by time, with a set of tags: the sorted collections as properties.</summary>
[PersistentObject(Name = "consumer.journal")]
public partial class Journal
{
    /// <summary>Event descriptions by time.</summary>
    public partial PersistentSortedDictionary<DateTime, string?> Events { get; }

    /// <summary>Customers by name, ordinally.</summary>
    public partial PersistentSortedDictionary<string, Customer?> ByName { get; }

    /// <summary>The tags seen.</summary>
    public partial PersistentSet<string> Tags { get; }
}
