// Persistent classes with hashed indexes, hand-written as the generator writes them, and their sorted twins, for the hashed index tests.
using Pmem.Objects;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>What the hashed index tests read and write of a "Tests.Member", whichever index kinds its program gives it.</summary>
internal interface IMemberFields
{
    long Offset { get; }

    long Number { get; set; }

    string? Name { get; set; }

    Tide Tide { get; set; }

    long Score { get; set; }

    Guid Key { get; set; }
}

/// <summary>A root whose list holds every member of one program's "Tests.Member" class.</summary>
internal interface IClubOf<TMember> where TMember : PersistentObject, IPersistentObject<TMember>
{
    PersistentList<TMember?> Members { get; }
}

/// <summary>"Tests.Member" with hashed indexes: a hashed unique number, a hashed name, tide and key, and a plain score.</summary>
internal sealed class HashedMember : PersistentObject, IPersistentObject<HashedMember>, IMemberFields
{
    private HashedMember(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.HashedUnique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Hashed),
            new("Tide", "enum:System.Int16", 16, 2, index: PersistentIndexKind.Hashed),
            new("Score", "System.Int64", 24, 8),
            new("Key", "System.Guid", 32, 16, index: PersistentIndexKind.Hashed),
        ]);

    static HashedMember IPersistentObject<HashedMember>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }

    public Tide Tide { get => ReadField<Tide>(16); set => WriteIndexedField(PersistentType, 16, value); }

    public long Score { get => ReadField<long>(24); set => WriteField(24, value); }

    public Guid Key { get => ReadField<Guid>(32); set => WriteIndexedField(PersistentType, 32, value); }
}

/// <summary>"Tests.Member" exactly as <see cref="Member"/> indexes it (sorted), as the sorted twin of <see cref="HashedMember"/> in model tests.</summary>
internal sealed class SortedMember : PersistentObject, IPersistentObject<SortedMember>, IMemberFields
{
    private SortedMember(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Indexed),
            new("Tide", "enum:System.Int16", 16, 2, index: PersistentIndexKind.Indexed),
            new("Score", "System.Int64", 24, 8),
            new("Key", "System.Guid", 32, 16, index: PersistentIndexKind.Indexed),
        ]);

    static SortedMember IPersistentObject<SortedMember>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }

    public Tide Tide { get => ReadField<Tide>(16); set => WriteIndexedField(PersistentType, 16, value); }

    public long Score { get => ReadField<long>(24); set => WriteField(24, value); }

    public Guid Key { get => ReadField<Guid>(32); set => WriteIndexedField(PersistentType, 32, value); }
}

/// <summary>A program that hashes only "Tests.Member"'s Name; the other indexes are <see cref="Member"/>'s.</summary>
internal sealed class MemberHashedName : PersistentObject, IPersistentObject<MemberHashedName>
{
    private MemberHashedName(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Member", 64, 0x1DE0001, 1,
        [
            new("Number", "System.Int64", 0, 8, index: PersistentIndexKind.Unique),
            new("Name", "string", 8, 8, isNullable: true, index: PersistentIndexKind.Hashed),
            new("Tide", "enum:System.Int16", 16, 2, index: PersistentIndexKind.Indexed),
            new("Score", "System.Int64", 24, 8),
            new("Key", "System.Guid", 32, 16, index: PersistentIndexKind.Indexed),
        ]);

    static MemberHashedName IPersistentObject<MemberHashedName>.Attach(ObjectHandle handle) => new(handle);

    public long Number { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public string? Name { get => ReadString(8); set => WriteIndexedString(PersistentType, 8, value); }
}

/// <summary>The root ("Tests.Club") holding hashed members.</summary>
internal sealed class HashedClub : PersistentObject, IPersistentObject<HashedClub>, IClubOf<HashedMember>
{
    private HashedClub(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Club", 64, 0xC1B0001, 1, [new("Members", "list<reference>", 0, 8, target: "Tests.Member")]);

    static HashedClub IPersistentObject<HashedClub>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<HashedMember?> Members => GetObjectList<HashedMember>(0);
}

/// <summary>The root ("Tests.Club") holding <see cref="SortedMember"/>s.</summary>
internal sealed class SortedClub : PersistentObject, IPersistentObject<SortedClub>, IClubOf<SortedMember>
{
    private SortedClub(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Club", 64, 0xC1B0001, 1, [new("Members", "list<reference>", 0, 8, target: "Tests.Member")]);

    static SortedClub IPersistentObject<SortedClub>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<SortedMember?> Members => GetObjectList<SortedMember>(0);
}

/// <summary>What the normalization tests read and write of a "Tests.Stamp", whichever index kinds its program gives it.</summary>
internal interface IStampFields
{
    long Offset { get; }

    decimal Amount { get; set; }

    decimal Code { get; set; }

    DateTimeOffset At { get; set; }

    DateTime When { get; set; }

    string? Label { get; set; }
}

/// <summary>"Tests.Stamp" hashed: an amount, a unique code, an instant, a time and a label whose equal values have several encodings (or none).</summary>
internal sealed class HashedStamp : PersistentObject, IPersistentObject<HashedStamp>, IStampFields
{
    private HashedStamp(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Stamp", 64, 0x57A0001, 1,
        [
            new("Amount", "System.Decimal", 0, 16, index: PersistentIndexKind.Hashed),
            new("Code", "System.Decimal", 16, 16, index: PersistentIndexKind.HashedUnique),
            new("At", "System.DateTimeOffset", 32, 16, index: PersistentIndexKind.Hashed),
            new("When", "System.DateTime", 48, 8, index: PersistentIndexKind.Hashed),
            new("Label", "string", 56, 8, isNullable: true, index: PersistentIndexKind.Hashed),
        ]);

    static HashedStamp IPersistentObject<HashedStamp>.Attach(ObjectHandle handle) => new(handle);

    public decimal Amount { get => ReadField<decimal>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public decimal Code { get => ReadField<decimal>(16); set => WriteIndexedField(PersistentType, 16, value); }

    public DateTimeOffset At { get => ReadField<DateTimeOffset>(32); set => WriteIndexedField(PersistentType, 32, value); }

    public DateTime When { get => ReadField<DateTime>(48); set => WriteIndexedField(PersistentType, 48, value); }

    public string? Label { get => ReadString(56); set => WriteIndexedString(PersistentType, 56, value); }
}

/// <summary>"Tests.Stamp" with sorted indexes: the twin whose answers <see cref="HashedStamp"/>'s must equal.</summary>
internal sealed class SortedStamp : PersistentObject, IPersistentObject<SortedStamp>, IStampFields
{
    private SortedStamp(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Stamp", 64, 0x57A0001, 1,
        [
            new("Amount", "System.Decimal", 0, 16, index: PersistentIndexKind.Indexed),
            new("Code", "System.Decimal", 16, 16, index: PersistentIndexKind.Unique),
            new("At", "System.DateTimeOffset", 32, 16, index: PersistentIndexKind.Indexed),
            new("When", "System.DateTime", 48, 8, index: PersistentIndexKind.Indexed),
            new("Label", "string", 56, 8, isNullable: true, index: PersistentIndexKind.Indexed),
        ]);

    static SortedStamp IPersistentObject<SortedStamp>.Attach(ObjectHandle handle) => new(handle);

    public decimal Amount { get => ReadField<decimal>(0); set => WriteIndexedField(PersistentType, 0, value); }

    public decimal Code { get => ReadField<decimal>(16); set => WriteIndexedField(PersistentType, 16, value); }

    public DateTimeOffset At { get => ReadField<DateTimeOffset>(32); set => WriteIndexedField(PersistentType, 32, value); }

    public DateTime When { get => ReadField<DateTime>(48); set => WriteIndexedField(PersistentType, 48, value); }

    public string? Label { get => ReadString(56); set => WriteIndexedString(PersistentType, 56, value); }
}

/// <summary>The root ("Tests.StampBook") holding hashed stamps.</summary>
internal sealed class HashedStampBook : PersistentObject, IPersistentObject<HashedStampBook>, IClubOf<HashedStamp>
{
    private HashedStampBook(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.StampBook", 64, 0x57B0001, 1, [new("Stamps", "list<reference>", 0, 8, target: "Tests.Stamp")]);

    static HashedStampBook IPersistentObject<HashedStampBook>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<HashedStamp?> Members => GetObjectList<HashedStamp>(0);
}

/// <summary>The root ("Tests.StampBook") holding sorted stamps.</summary>
internal sealed class SortedStampBook : PersistentObject, IPersistentObject<SortedStampBook>, IClubOf<SortedStamp>
{
    private SortedStampBook(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.StampBook", 64, 0x57B0001, 1, [new("Stamps", "list<reference>", 0, 8, target: "Tests.Stamp")]);

    static SortedStampBook IPersistentObject<SortedStampBook>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<SortedStamp?> Members => GetObjectList<SortedStamp>(0);
}
