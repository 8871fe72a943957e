using Pmem.Objects;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>A class with indexed properties, generated for real.</summary>
[PersistentObject(Name = "consumer.member")]
public partial class Member
{
    [Indexed(Unique = true)]
    public partial long Number { get; set; }

    [Indexed]
    public partial string? Owner { get; set; }

    [Indexed]
    public partial DayOfWeek Day { get; set; }

    public partial long Balance { get; set; }
}

/// <summary>The root of the index tests: every member, so that the check finds them reachable.</summary>
[PersistentObject(Name = "consumer.club")]
public partial class Club
{
    /// <summary>The members.</summary>
    public partial PersistentList<Member?> Members { get; }
}

/// <summary><see cref="Member"/> with hashed indexes, generated for real.</summary>
[PersistentObject(Name = "consumer.hashedmember")]
public partial class HashedMember
{
    [Indexed(Unique = true, Hashed = true)]
    public partial long Number { get; set; }

    [Indexed(Hashed = true)]
    public partial string? Owner { get; set; }

    [Indexed(Hashed = true)]
    public partial DayOfWeek Day { get; set; }
}

/// <summary>The root of the hashed index test.</summary>
[PersistentObject(Name = "consumer.hashedclub")]
public partial class HashedClub
{
    /// <summary>The members.</summary>
    public partial PersistentList<HashedMember?> Members { get; }
}
