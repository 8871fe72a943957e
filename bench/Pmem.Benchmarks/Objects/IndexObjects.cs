using Pmem.Objects;

namespace Pmem.Benchmarks.Objects;

/// <summary>An object found by its indexed name (the index lookup benchmarks).</summary>
[PersistentObject(Name = "bench.nameditem")]
public partial class NamedItem
{
    [Indexed]
    public partial string? Name { get; set; }

    public partial long Value { get; set; }
}

/// <summary><see cref="NamedItem"/> with a hashed index on its name (the index lookup benchmarks).</summary>
[PersistentObject(Name = "bench.hasheditem")]
public partial class HashedItem
{
    [Indexed(Hashed = true)]
    public partial string? Name { get; set; }

    public partial long Value { get; set; }
}

/// <summary>The lookup benchmarks' root: the same objects in a dictionary by name (the baseline).</summary>
[PersistentObject(Name = "bench.namedholder")]
public partial class NamedHolder
{
    public partial PersistentDictionary<string, NamedItem?> ByName { get; }
}

/// <summary>Two indexed properties (a string and a long) and a plain long: the indexed set and <c>New</c> benchmarks.</summary>
[PersistentObject(Name = "bench.indexeditem")]
public partial class IndexedItem
{
    [Indexed]
    public partial string? Name { get; set; }

    [Indexed]
    public partial long Rank { get; set; }

    public partial long Plain { get; set; }
}

/// <summary><see cref="IndexedItem"/> with hashed indexes (the indexed set benchmarks).</summary>
[PersistentObject(Name = "bench.hashedindexeditem")]
public partial class HashedIndexedItem
{
    [Indexed(Hashed = true)]
    public partial string? Name { get; set; }

    [Indexed(Hashed = true)]
    public partial long Rank { get; set; }

    public partial long Plain { get; set; }
}

/// <summary><see cref="IndexedItem"/>'s layout without indexes (the <c>New</c> baseline).</summary>
[PersistentObject(Name = "bench.plainitem")]
public partial class PlainItem
{
    public partial string? Name { get; set; }

    public partial long Rank { get; set; }

    public partial long Plain { get; set; }
}
