// Persistent classes with every stored property kind, hand-written as the generator writes them, for export/import tests.
using Pmem.Objects;
using Pmem.Tests.Schema;

namespace Pmem.Tests.Tooling;

/// <summary>An enum stored as its byte.</summary>
internal enum Shade : byte
{
    None = 0,
    Dark = 7,
    Light = 255,
}

/// <summary>An enum stored as its signed short (dictionary keys).</summary>
internal enum Tier : short
{
    Low = -3,
    High = 9,
}

/// <summary>Every scalar, nullable, string, reference and collection kind a persistent class can store.</summary>
internal sealed class Everything : PersistentObject, IPersistentObject<Everything>
{
    private Everything(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Everything", 384, 0xE7E8_1000, 3,
        [
            new("Flag", "System.Boolean", 0, 1),
            new("Byte", "System.Byte", 1, 1),
            new("SByte", "System.SByte", 2, 1),
            new("Short", "System.Int16", 4, 2, group: "hot"),
            new("UShort", "System.UInt16", 6, 2),
            new("Letter", "System.Char", 8, 2),
            new("Half", "System.Half", 10, 2),
            new("Int", "System.Int32", 12, 4, formerNames: ["Number", "Count"]),
            new("UInt", "System.UInt32", 16, 4),
            new("Float", "System.Single", 20, 4),
            new("Long", "System.Int64", 24, 8),
            new("ULong", "System.UInt64", 32, 8),
            new("Double", "System.Double", 40, 8),
            new("When", "System.DateTime", 48, 8),
            new("Span", "System.TimeSpan", 56, 8),
            new("Money", "System.Decimal", 64, 16),
            new("Id", "System.Guid", 80, 16),
            new("Offset", "System.DateTimeOffset", 96, 16),
            new("Huge", "System.Int128", 112, 16),
            new("UHuge", "System.UInt128", 128, 16),
            new("Shade", "enum:System.Byte", 144, 1),
            new("MaybeInt", "System.Int32?", 152, 8),
            new("MaybeMoney", "System.Decimal?", 160, 24),
            new("MaybeHuge", "System.Int128?", 192, 32),
            new("Name", "string", 224, 8, isNullable: true),
            new("Missing", "string", 232, 8, isNullable: true),
            new("Next", "reference", 240, 8, target: "Tests.Everything", isNullable: true),
            new("Leaf", "reference", 248, 8, target: "Tests.Leaf", isNullable: true),
            new("Numbers", "list<System.Int32>", 256, 8),
            new("Words", "list<string>", 264, 8),
            new("Leaves", "list<reference>", 272, 8, target: "Tests.Leaf"),
            new("Labels", "dictionary<System.Int64,string>", 280, 8),
            new("ByName", "dictionary<string,reference>", 288, 8, target: "Tests.Leaf"),
            new("Scores", "sorted<System.Int32,System.Double>", 296, 8),
            new("Index", "sorted<string,reference>", 304, 8, target: "Tests.Leaf"),
            new("Ids", "set<System.Guid>", 312, 8),
            new("Tags", "set<string>", 320, 8),
            new("Amounts", "list<System.Decimal>", 328, 8),
            new("Times", "dictionary<enum:System.Int16,System.DateTime>", 336, 8),
            new("Never", "list<System.Int32>", 344, 8),
            new("MaybeShade", "enum:System.Int32?", 352, 8),
            new("Stamps", "sorted<System.DateTimeOffset,System.Int64>", 360, 8),
        ]);

    static Everything IPersistentObject<Everything>.Attach(ObjectHandle handle) => new(handle);

    public bool Flag { get => ReadField<bool>(0); set => WriteField(0, value); }

    public byte Byte { get => ReadField<byte>(1); set => WriteField(1, value); }

    public sbyte SByte { get => ReadField<sbyte>(2); set => WriteField(2, value); }

    public short Short { get => ReadField<short>(4); set => WriteField(4, value); }

    public ushort UShort { get => ReadField<ushort>(6); set => WriteField(6, value); }

    public char Letter { get => ReadField<char>(8); set => WriteField(8, value); }

    public Half Half { get => ReadField<Half>(10); set => WriteField(10, value); }

    public int Int { get => ReadField<int>(12); set => WriteField(12, value); }

    public uint UInt { get => ReadField<uint>(16); set => WriteField(16, value); }

    public float Float { get => ReadField<float>(20); set => WriteField(20, value); }

    public long Long { get => ReadField<long>(24); set => WriteField(24, value); }

    public ulong ULong { get => ReadField<ulong>(32); set => WriteField(32, value); }

    public double Double { get => ReadField<double>(40); set => WriteField(40, value); }

    public DateTime When { get => ReadField<DateTime>(48); set => WriteField(48, value); }

    public TimeSpan Span { get => ReadField<TimeSpan>(56); set => WriteField(56, value); }

    public decimal Money { get => ReadField<decimal>(64); set => WriteField(64, value); }

    public Guid Id { get => ReadField<Guid>(80); set => WriteField(80, value); }

    public DateTimeOffset Offset2 { get => ReadField<DateTimeOffset>(96); set => WriteField(96, value); }

    public Int128 Huge { get => ReadField<Int128>(112); set => WriteField(112, value); }

    public UInt128 UHuge { get => ReadField<UInt128>(128); set => WriteField(128, value); }

    public Shade Shade { get => ReadField<Shade>(144); set => WriteField(144, value); }

    public int? MaybeInt { get => ReadField<NullableSlot<int>>(152).ToNullable(); set => WriteField(152, new NullableSlot<int>(value)); }

    public decimal? MaybeMoney { get => ReadField<NullableSlot<decimal>>(160).ToNullable(); set => WriteField(160, new NullableSlot<decimal>(value)); }

    public Int128? MaybeHuge { get => ReadField<NullableSlot<Int128>>(192).ToNullable(); set => WriteField(192, new NullableSlot<Int128>(value)); }

    public string? Name { get => ReadString(224); set => WriteString(224, value); }

    public string? Missing { get => ReadString(232); set => WriteString(232, value); }

    public Everything? Next { get => ReadReference<Everything>(240); set => WriteReference(240, value); }

    public Leaf? Leaf { get => ReadReference<Leaf>(248); set => WriteReference(248, value); }

    public PersistentList<int> Numbers => GetList<int>(256);

    public PersistentList<string?> Words => GetStringList(264);

    public PersistentList<Leaf?> Leaves => GetObjectList<Leaf>(272);

    public PersistentDictionary<long, string?> Labels => GetDictionaryOfStrings<long>(280);

    public PersistentDictionary<string, Leaf?> ByName => GetStringKeyedDictionaryOfObjects<Leaf>(288);

    public PersistentSortedDictionary<int, double> Scores => GetSortedDictionary<int, double>(296);

    public PersistentSortedDictionary<string, Leaf?> Index => GetStringKeyedSortedDictionaryOfObjects<Leaf>(304);

    public PersistentSet<Guid> Ids => GetSet<Guid>(312);

    public PersistentSet<string> Tags => GetStringSet(320);

    public PersistentList<decimal> Amounts => GetList<decimal>(328);

    public PersistentDictionary<Tier, DateTime> Times => GetDictionary<Tier, DateTime>(336);

    /// <summary>The raw field, to see whether the collection was ever created (reading <c>GetList</c> creates it).</summary>
    public long NeverField => ReadField<long>(344);

    public int? MaybeShade { get => ReadField<NullableSlot<int>>(352).ToNullable(); set => WriteField(352, new NullableSlot<int>(value)); }

    public PersistentSortedDictionary<DateTimeOffset, long> Stamps => GetSortedDictionary<DateTimeOffset, long>(360);
}

/// <summary>A small object that many refer to, and that refers back (a cycle).</summary>
internal sealed class Leaf : PersistentObject, IPersistentObject<Leaf>
{
    private Leaf(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Leaf", 64, 0x1EAF_0001, 1,
        [
            new("Label", "string", 0, 8, isNullable: true),
            new("Weight", "System.Int32", 8, 4),
            new("Back", "reference", 16, 8, target: "Tests.Everything", isNullable: true),
        ]);

    static Leaf IPersistentObject<Leaf>.Attach(ObjectHandle handle) => new(handle);

    public string? Label { get => ReadString(0); set => WriteString(0, value); }

    public int Weight { get => ReadField<int>(8); set => WriteField(8, value); }

    public Everything? Back { get => ReadReference<Everything>(16); set => WriteReference(16, value); }
}
