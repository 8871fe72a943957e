// Persistent classes with indexed properties, hand-written as the generator writes them, for the index tests.
using Pmem.Objects;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>"Tests.Member": a unique number, an indexed name, tide and key, and a plain score.</summary>
internal sealed class Member : PersistentObject, IPersistentObject<Member>
{
    private Member(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Indexed),
            new("Tide", "enum:System.Int16", 16, 2, index: PersistentIndexKind.Indexed),
            new("Score", "System.Int64", 24, 8),
            new("Key", "System.Guid", 32, 16, index: PersistentIndexKind.Indexed),
        ]);

    static Member IPersistentObject<Member>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }

    public Tide Tide { get => ReadField<Tide>(16); set => WriteIndexedField(PersistentType, 16, value); }

    public long Score { get => ReadField<long>(24); set => WriteField(24, value); }

    public Guid Key { get => ReadField<Guid>(32); set => WriteIndexedField(PersistentType, 32, value); }
}

/// <summary>The next program's "Tests.Member": the same layout, Score now indexed and Name no longer, Number still unique.</summary>
internal sealed class MemberReindexed : PersistentObject, IPersistentObject<MemberReindexed>
{
    private MemberReindexed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true),
            new("Tide", "enum:System.Int16", 16, 2, index: PersistentIndexKind.Indexed),
            new("Score", "System.Int64", 24, 8, index: PersistentIndexKind.Indexed),
            new("Key", "System.Guid", 32, 16, index: PersistentIndexKind.Indexed),
        ]);

    static MemberReindexed IPersistentObject<MemberReindexed>.Attach(ObjectHandle handle) => new(handle);

    public string? Name { get => ReadString(8); set => WriteString(8, value); }

    public long Score { get => ReadField<long>(24); set => WriteIndexedField(PersistentType, 24, value); }
}

/// <summary>A program that makes "Tests.Member"'s Score unique.</summary>
internal sealed class MemberUniqueScore : PersistentObject, IPersistentObject<MemberUniqueScore>
{
    private MemberUniqueScore(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Indexed),
            new("Tide", "enum:System.Int16", 16, 2, index: PersistentIndexKind.Indexed),
            new("Score", "System.Int64", 24, 8, index: PersistentIndexKind.Unique),
            new("Key", "System.Guid", 32, 16, index: PersistentIndexKind.Indexed),
        ]);

    static MemberUniqueScore IPersistentObject<MemberUniqueScore>.Attach(ObjectHandle handle) => new(handle);
}

/// <summary>The root: every member in a list, so that the check finds them all reachable.</summary>
internal sealed class Club : PersistentObject, IPersistentObject<Club>
{
    private Club(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Club", 64, 0xC1B0001, 1, [new("Members", "list<reference>", 0, 8, target: "Tests.Member")]);

    static Club IPersistentObject<Club>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<Member?> Members => GetObjectList<Member>(0);
}

/// <summary>"Tests.Member" as a program without indexes writes it: the same layout, plain setters.</summary>
internal sealed class MemberUnindexed : PersistentObject, IPersistentObject<MemberUnindexed>
{
    private MemberUnindexed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8),
            new("Name", "string", 8, 8, isNullable: true),
            new("Tide", "enum:System.Int16", 16, 2),
            new("Score", "System.Int64", 24, 8),
            new("Key", "System.Guid", 32, 16),
        ]);

    static MemberUnindexed IPersistentObject<MemberUnindexed>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteField(0, value); }

    public string? Name { get => ReadString(8); set => WriteString(8, value); }
}

/// <summary>A root holding members written without indexes.</summary>
internal sealed class PlainClub : PersistentObject, IPersistentObject<PlainClub>
{
    private PlainClub(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Club", 64, 0xC1B0001, 1, [new("Members", "list<reference>", 0, 8, target: "Tests.Member")]);

    static PlainClub IPersistentObject<PlainClub>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<MemberUnindexed?> Members => GetObjectList<MemberUnindexed>(0);
}
