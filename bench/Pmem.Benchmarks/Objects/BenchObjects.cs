using Pmem.Objects;

namespace Pmem.Benchmarks.Objects;

/// <summary>One 8-byte field: transfers, property sets, batches.</summary>
[PersistentObject(Name = "bench.account")]
public partial class Account
{
    public partial long Balance { get; set; }
}

/// <summary>Two 8-byte fields of one object (the two-field transaction).</summary>
[PersistentObject(Name = "bench.pair")]
public partial class Pair
{
    public partial long A { get; set; }

    public partial long B { get; set; }
}

/// <summary>A 64-byte object (eight 8-byte fields, one cache line), the allocation benchmark's size.</summary>
[PersistentObject(Name = "bench.obj64")]
public partial class Obj64
{
    public partial long F0 { get; set; }

    public partial long F1 { get; set; }

    public partial long F2 { get; set; }

    public partial long F3 { get; set; }

    public partial long F4 { get; set; }

    public partial long F5 { get; set; }

    public partial long F6 { get; set; }

    public partial long F7 { get; set; }
}

/// <summary>Holds a persistent dictionary (the collection benchmarks' root).</summary>
[PersistentObject(Name = "bench.mapholder")]
public partial class MapHolder
{
    public partial PersistentDictionary<long, long> Map { get; }
}

/// <summary>A sorted dictionary of <c>long → long</c> (the sorted-dictionary benchmarks).</summary>
[PersistentObject(Name = "bench.sortedholder")]
public partial class SortedHolder
{
    public partial PersistentSortedDictionary<long, long> Map { get; }
}

/// <summary>A small linked object with a string: what export benchmarks write (a number, a text, a reference).</summary>
[PersistentObject(Name = "bench.node")]
public partial class Node
{
    public partial long Value { get; set; }

    public partial string? Name { get; set; }

    public partial Node? Next { get; set; }
}

/// <summary>One thread's log of the throughput harness's allocating workload: a list it appends to.</summary>
[PersistentObject(Name = "bench.threadlog")]
public partial class ThreadLog
{
    public partial PersistentList<long> Items { get; }
}

/// <summary>Two string-keyed sorted dictionaries (the string key layouts' benchmark): the first is read in the former layout.</summary>
[PersistentObject(Name = "bench.stringsortedpair")]
public partial class StringSortedPair
{
    public partial PersistentSortedDictionary<string, long> First { get; }

    public partial PersistentSortedDictionary<string, long> Second { get; }
}
