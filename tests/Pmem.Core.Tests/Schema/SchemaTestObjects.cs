// Versions of one persistent class, hand-written as the generator writes them (with schemas), for migration tests.
using System.Runtime.InteropServices;
using Pmem.Objects;

namespace Pmem.Tests.Schema;

/// <summary>The first version of "Tests.Person": 64 bytes.</summary>
internal sealed class PersonV1 : PersistentObject, IPersistentObject<PersonV1>
{
    private PersonV1(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Person", 64, 0x9E250001, 1,
        [
            new("Age", "System.Int32", 0, 4),
            new("Score", "System.Single", 4, 4),
            new("Name", "string", 8, 8, isNullable: true),
            new("Friend", "reference", 16, 8, target: "Tests.Person", isNullable: true),
            new("Nick", "string", 24, 8, isNullable: true),
            new("Tags", "list<string>", 32, 8),
            new("Count", "System.Int64", 40, 8),
        ]);

    static PersonV1 IPersistentObject<PersonV1>.Attach(ObjectHandle handle) => new(handle);

    public int Age { get => ReadField<int>(0); set => WriteField(0, value); }

    public float Score { get => ReadField<float>(4); set => WriteField(4, value); }

    public string? Name { get => ReadString(8); set => WriteString(8, value); }

    public PersonV1? Friend { get => ReadReference<PersonV1>(16); set => WriteReference(16, value); }

    public string? Nick { get => ReadString(24); set => WriteString(24, value); }

    public PersistentList<string?> Tags => GetStringList(32);

    public long Count { get => ReadField<long>(40); set => WriteField(40, value); }
}

/// <summary>
/// "Tests.Person" grown to 128 bytes (objects move): Age and Score widened, Name renamed to FullName, Count made
/// nullable, Email added, Nick removed.
/// </summary>
internal sealed class PersonV2 : PersistentObject, IPersistentObject<PersonV2>
{
    private PersonV2(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Person", 128, 0x9E250002, 1,
        [
            new("Age", "System.Int64", 0, 8),
            new("Score", "System.Double", 8, 8),
            new("FullName", "string", 16, 8, isNullable: true, formerNames: ["Name"]),
            new("Friend", "reference", 24, 8, target: "Tests.Person", isNullable: true),
            new("Tags", "list<string>", 32, 8),
            new("Count", "System.Int64?", 48, 16),
            new("Email", "string", 64, 8, isNullable: true),
        ]);

    static PersonV2 IPersistentObject<PersonV2>.Attach(ObjectHandle handle) => new(handle);

    public long Age { get => ReadField<long>(0); set => WriteField(0, value); }

    public double Score { get => ReadField<double>(8); set => WriteField(8, value); }

    public string? FullName { get => ReadString(16); set => WriteString(16, value); }

    public PersonV2? Friend { get => ReadReference<PersonV2>(24); set => WriteReference(24, value); }

    public PersistentList<string?> Tags => GetStringList(32);

    public long? Count { get => ReadField<NullableSlot<long>>(48).ToNullable(); set => WriteField(48, new NullableSlot<long>(value)); }

    public string? Email { get => ReadString(64); set => WriteString(64, value); }
}

/// <summary>"Tests.Person" still 64 bytes (converted in place): Level added, Count and Friend moved, Score and Nick removed.</summary>
internal sealed class PersonInPlace : PersistentObject, IPersistentObject<PersonInPlace>
{
    private PersonInPlace(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Person", 64, 0x9E250003, 1,
        [
            new("Age", "System.Int32", 0, 4),
            new("Level", "System.Int16", 4, 2),
            new("Name", "string", 8, 8, isNullable: true),
            new("Count", "System.Int64", 16, 8),
            new("Friend", "reference", 24, 8, target: "Tests.Person", isNullable: true),
            new("Tags", "list<string>", 32, 8),
        ]);

    static PersonInPlace IPersistentObject<PersonInPlace>.Attach(ObjectHandle handle) => new(handle);

    public int Age { get => ReadField<int>(0); set => WriteField(0, value); }

    public short Level { get => ReadField<short>(4); set => WriteField(4, value); }

    public string? Name { get => ReadString(8); set => WriteString(8, value); }

    public long Count { get => ReadField<long>(16); set => WriteField(16, value); }

    public PersonInPlace? Friend { get => ReadReference<PersonInPlace>(24); set => WriteReference(24, value); }

    public PersistentList<string?> Tags => GetStringList(32);
}

/// <summary>"Tests.Person" with Name changed from a string to a number: not automatic.</summary>
internal sealed class PersonNameAsNumber : PersistentObject, IPersistentObject<PersonNameAsNumber>
{
    private PersonNameAsNumber(ObjectHandle handle) : base(handle) { }

    /// <summary>Version 2: its migration computes Name from the stored string.</summary>
    public static PersistentTypeInfo PersistentType { get; } = Describe(2);

    /// <summary>The same change without raising the version or registering a migration.</summary>
    public static PersistentTypeInfo Unversioned { get; } = Describe(1);

    static PersonNameAsNumber IPersistentObject<PersonNameAsNumber>.Attach(ObjectHandle handle) => new(handle);

    public int Age { get => ReadField<int>(0); set => WriteField(0, value); }

    public long Name { get => ReadField<long>(8); set => WriteField(8, value); }

    public PersonNameAsNumber? Friend { get => ReadReference<PersonNameAsNumber>(16); set => WriteReference(16, value); }

    public long Count { get => ReadField<long>(40); set => WriteField(40, value); }

    private static PersistentTypeInfo Describe(int version) => new(
        "Tests.Person", 64, 0x9E250004, version,
        [
            new("Age", "System.Int32", 0, 4),
            new("Score", "System.Single", 4, 4),
            new("Name", "System.Int64", 8, 8),
            new("Friend", "reference", 16, 8, target: "Tests.Person", isNullable: true),
            new("Nick", "string", 24, 8, isNullable: true),
            new("Tags", "list<string>", 32, 8),
            new("Count", "System.Int64", 40, 8),
        ]);
}

/// <summary>A version-2 migration hook's class: V1's layout plus an Initials string filled by the hook.</summary>
internal sealed class PersonWithInitials : PersistentObject, IPersistentObject<PersonWithInitials>
{
    private PersonWithInitials(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Person", 64, 0x9E250005, 2,
        [
            new("Age", "System.Int32", 0, 4),
            new("Score", "System.Single", 4, 4),
            new("Name", "string", 8, 8, isNullable: true),
            new("Friend", "reference", 16, 8, target: "Tests.Person", isNullable: true),
            new("Initials", "string", 24, 8, isNullable: true),
            new("Tags", "list<string>", 32, 8),
            new("Count", "System.Int64", 40, 8),
        ]);

    static PersonWithInitials IPersistentObject<PersonWithInitials>.Attach(ObjectHandle handle) => new(handle);

    public string? Name { get => ReadString(8); set => WriteString(8, value); }

    public string? Initials { get => ReadString(24); set => WriteString(24, value); }

    public long Count { get => ReadField<long>(40); set => WriteField(40, value); }
}

/// <summary>"Tests.Person" as a program older than schema records described it: V1's layout hash, fields only.</summary>
internal sealed class PersonLegacy : PersistentObject, IPersistentObject<PersonLegacy>
{
    private PersonLegacy(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Person", 64, 0x9E250001,
        [new(8, PersistentFieldKind.String), new(16, PersistentFieldKind.Reference), new(24, PersistentFieldKind.String), new(32, PersistentFieldKind.Collection)]);

    static PersonLegacy IPersistentObject<PersonLegacy>.Attach(ObjectHandle handle) => new(handle);

    public int Age { get => ReadField<int>(0); set => WriteField(0, value); }

    public string? Name { get => ReadString(8); set => WriteString(8, value); }
}

/// <summary>The root: a reference and a list of references to people, typed by the program's version of the class.</summary>
internal sealed class Directory<TPerson> : PersistentObject, IPersistentObject<Directory<TPerson>>
    where TPerson : PersistentObject, IPersistentObject<TPerson>
{
    private Directory(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Directory", 64, 0xD1EC7082, 1,
        [
            new("First", "reference", 0, 8, target: "Tests.Person", isNullable: true),
            new("People", "list<reference>", 8, 8, target: "Tests.Person"),
            new("Title", "string", 16, 8, isNullable: true),
            new("ByAge", "sorted<System.Int64,reference>", 24, 8, target: "Tests.Person"),
        ]);

    static Directory<TPerson> IPersistentObject<Directory<TPerson>>.Attach(ObjectHandle handle) => new(handle);

    public TPerson? First { get => ReadReference<TPerson>(0); set => WriteReference(0, value); }

    public PersistentList<TPerson?> People => GetObjectList<TPerson>(8);

    public string? Title { get => ReadString(16); set => WriteString(16, value); }

    public PersistentSortedDictionary<long, TPerson?> ByAge => GetSortedDictionaryOfObjects<long, TPerson>(24);
}

/// <summary>The bytes of a <c>T?</c>, as the generator's mirror struct stores them.</summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct NullableSlot<T>(T? value) where T : unmanaged
{
    private readonly bool _hasValue = value.HasValue;
    private readonly T _value = value.GetValueOrDefault();

    public T? ToNullable() => _hasValue ? _value : null;
}

/// <summary>Forty strings (more than a type table entry's 30 fields) and a 200-character durable name.</summary>
internal sealed class WideRecord : PersistentObject, IPersistentObject<WideRecord>
{
    public const int Strings = 40;

    private WideRecord(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Wide." + new string('w', 189), Strings * 8, 0x3D1DE, 1,
        [.. Enumerable.Range(0, Strings).Select(i => new PersistentPropertyInfo($"S{i}", "string", i * 8, 8, isNullable: true))]);

    static WideRecord IPersistentObject<WideRecord>.Attach(ObjectHandle handle) => new(handle);

    public string? this[int i]
    {
        get => ReadString(i * 8);
        set => WriteString(i * 8, value);
    }
}
