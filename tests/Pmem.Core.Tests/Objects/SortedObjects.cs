using Pmem.Objects;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Objects;

/// <summary>Weekdays as enum keys: a signed underlying type with negative members.</summary>
internal enum Tide : short
{
    Low = -2,
    Slack = 0,
    High = 3,
}

/// <summary>Sorted collections as properties, written the way the generator writes them.</summary>
internal sealed class Index : PersistentObject, IPersistentObject<Index>
{
    private Index(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Index", 128, 0x50F7ED,
        [.. Enumerable.Range(0, 11).Select(i => new PersistentFieldInfo(i * 8, PersistentFieldKind.Collection))]);

    static Index IPersistentObject<Index>.Attach(ObjectHandle handle) => new(handle);

    public PersistentSortedDictionary<long, long> Numbers => GetSortedDictionary<long, long>(0);

    public PersistentSortedDictionary<string, string?> Names => GetStringKeyedSortedDictionaryOfStrings(8);

    public PersistentSortedDictionary<Guid, Account?> ById => GetSortedDictionaryOfObjects<Guid, Account>(16);

    public PersistentSet<long> Tags => GetSet<long>(24);

    public PersistentSet<string> Words => GetStringSet(32);

    public PersistentSortedDictionary<int, string?> Signed => GetSortedDictionaryOfStrings<int>(40);

    public PersistentSortedDictionary<DateTime, decimal> ByTime => GetSortedDictionary<DateTime, decimal>(48);

    public PersistentSortedDictionary<decimal, long> ByAmount => GetSortedDictionary<decimal, long>(56);

    public PersistentSortedDictionary<Tide, long> ByTide => GetSortedDictionary<Tide, long>(64);

    public PersistentSortedDictionary<DateTimeOffset, long> ByInstant => GetSortedDictionary<DateTimeOffset, long>(72);

    /// <summary>The field of <see cref="Numbers"/> read with another key type: a program whose property changed.</summary>
    public PersistentSortedDictionary<int, long> NumbersAsInt => GetSortedDictionary<int, long>(0);

    public PersistentSortedDictionary<double, long> ByDouble => GetSortedDictionary<double, long>(80);
}
