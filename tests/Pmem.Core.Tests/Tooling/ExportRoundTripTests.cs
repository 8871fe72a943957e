// Export then import: every property kind, shared objects, cycles, empty and large collections come back exactly, and the pool opens with the classes.
using System.Text.Json;
using System.Text.Json.Nodes;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Tooling;

public sealed class ExportRoundTripTests : IDisposable
{
    private const string Layout = "export-tests";
    private const int ManyNumbers = 20_000;
    private const int ManyScores = 3_000;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pmem-export-tests-" + Guid.NewGuid().ToString("N"));

    public ExportRoundTripTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    /// <summary>
    /// The source pool: a root and a second <see cref="Everything"/> referring to each other, leaves shared by many
    /// properties and collections (one refers back to the root), an unreachable leaf, and extreme scalar values.
    /// </summary>
    private static void Fill(PersistentPool pool)
    {
        var root = pool.Root<Everything>();
        var second = pool.New<Everything>();
        var shared = pool.New<Leaf>();
        var other = pool.New<Leaf>();
        var lonely = pool.New<Leaf>(); // reached from nothing: found by type
        shared.Label = "shared";
        shared.Weight = -5;
        shared.Back = root;
        other.Label = null;
        other.Weight = int.MaxValue;
        lonely.Label = "nobody refers to me";

        root.Flag = true;
        root.Byte = 255;
        root.SByte = -128;
        root.Short = short.MinValue;
        root.UShort = ushort.MaxValue;
        root.Letter = 'é';
        root.Half = Half.Epsilon;
        root.Int = int.MinValue;
        root.UInt = uint.MaxValue;
        root.Float = float.MaxValue;
        root.Long = long.MinValue;
        root.ULong = ulong.MaxValue;
        root.Double = -0.0;
        root.When = new DateTime(2024, 2, 29, 23, 59, 58, DateTimeKind.Utc).AddTicks(1234567);
        root.Span = TimeSpan.FromTicks(-123456789012345);
        root.Money = -79228162514264337593543950335m;
        root.Id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        root.Offset2 = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.FromMinutes(330)).AddTicks(7);
        root.Huge = Int128.MinValue;
        root.UHuge = UInt128.MaxValue;
        root.Shade = Shade.Light;
        root.MaybeInt = -1;
        root.MaybeMoney = 1.10m; // the scale (two digits) is part of the value
        root.MaybeHuge = Int128.MaxValue;
        root.MaybeShade = 0;
        root.Name = "Grüße 🌍 \"quoted\"\n\ttabbed";
        root.Missing = null;
        root.Next = second;
        root.Leaf = shared;

        second.Letter = '\ud800'; // half a surrogate pair: JSON text cannot hold it as a character
        second.Double = double.NaN;
        second.Float = float.NegativeInfinity;
        second.Half = Half.PositiveInfinity;
        second.When = new DateTime(1999, 12, 31, 12, 0, 0, DateTimeKind.Local);
        second.Money = 0.000000001m;
        second.Name = "";
        second.Next = root; // a cycle
        second.Leaf = other;
        _ = second.Words; // created, left empty
        _ = second.Labels;
        _ = second.Index;

        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < ManyNumbers; i++)
            {
                root.Numbers.Add(i * 7 - 1000);
            }

            tx.Commit();
        }

        root.Words.Add("alpha");
        root.Words.Add(null);
        root.Words.Add("");
        root.Leaves.Add(shared);
        root.Leaves.Add(null);
        root.Leaves.Add(shared);
        root.Leaves.Add(other);
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 500; i++)
            {
                root.Labels[i * 1_000_003L] = i % 3 == 0 ? null : "label " + i;
            }

            for (var i = 0; i < ManyScores; i++)
            {
                root.Scores[(i * 7919) % 100_003 - 50_000] = i / 3.0;
            }

            tx.Commit();
        }

        root.ByName["shared"] = shared;
        root.ByName["none"] = null;
        root.ByName["other"] = other;
        root.Index["b"] = shared;
        root.Index["a"] = other;
        root.Ids.Add(Guid.Parse("00000000-0000-0000-0000-000000000001"));
        root.Ids.Add(Guid.Parse("ffffffff-0000-0000-0000-000000000000"));
        root.Tags.Add("zeta");
        root.Tags.Add("Äpfel");
        root.Amounts.Add(1.0m);
        root.Amounts.Add(1.00m);
        root.Amounts.Add(decimal.MaxValue);
        root.Times[Tier.Low] = DateTime.MinValue;
        root.Times[Tier.High] = new DateTime(2030, 1, 1, 0, 0, 0, DateTimeKind.Unspecified);
        root.Stamps[new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.FromHours(-8))] = 1;
        root.Stamps[new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero)] = 2;
    }

    private string CreateSource()
    {
        var path = PathOf("source.pool");
        using var pool = PersistentPool.Create(path, Layout, 32 << 20);
        Fill(pool);
        return path;
    }

    private static byte[] Export(string path)
    {
        using var pool = PersistentPool.Open(path, Layout);
        using var output = new MemoryStream();
        PoolExport.Export(pool, output, indented: true);
        return output.ToArray();
    }

    [Fact]
    public void An_imported_pool_opens_with_the_classes_and_holds_every_value()
    {
        var source = CreateSource();
        var json = Export(source);
        var target = PathOf("imported.pool");

        var result = PoolExport.Import(new MemoryStream(json), target);

        Assert.Equal(Path.GetFullPath(target), result.Path);
        Assert.Equal(5, result.Objects);
        Assert.Equal(2, result.Types);
        using var expected = PersistentPool.Open(source, Layout);
        using var actual = PersistentPool.Open(target, Layout);
        Assert.Equal(Layout, actual.Layout);
        Assert.Equal(Pmem.Memory.DurabilityMode.PowerFailure, actual.Durability); // built without syncs, published as an ordinary pool
        Assert.Equal(0, actual.RecoveredTransactions); // closed cleanly before the rename
        AssertSameEverything(expected.Root<Everything>(), actual.Root<Everything>());
        AssertSameEverything(expected.Root<Everything>().Next!, actual.Root<Everything>().Next!);
        Assert.Equal(
            expected.All<Leaf>().Select(l => (l.Label, l.Weight)).Order(),
            actual.All<Leaf>().Select(l => (l.Label, l.Weight)).Order());
        var report = actual.Check();
        Assert.True(report.IsConsistent, string.Join("\n", report.Errors));
        Assert.Equal(3, actual.All<Leaf>().Count()); // the unreachable leaf came too
    }

    [Fact]
    public void Shared_objects_stay_shared_and_cycles_stay_cycles()
    {
        var target = PathOf("imported.pool");
        PoolExport.Import(new MemoryStream(Export(CreateSource())), target);

        using var pool = PersistentPool.Open(target, Layout);
        var root = pool.Root<Everything>();
        var shared = root.Leaf!;
        Assert.Equal(root.Offset, root.Next!.Next!.Offset);
        Assert.Equal(root.Offset, shared.Back!.Offset);
        Assert.Equal(shared.Offset, root.Leaves[0]!.Offset);
        Assert.Equal(shared.Offset, root.Leaves[2]!.Offset);
        Assert.Equal(shared.Offset, root.ByName["shared"]!.Offset);
        Assert.Equal(shared.Offset, root.Index["b"]!.Offset);
        Assert.Equal(root.Next!.Leaf!.Offset, root.Leaves[3]!.Offset);
        Assert.Null(root.Leaves[1]);

        // String keys are imported in the layout the program writes (prefixed), not in the one older pools hold.
        Assert.Equal((int)KeyOrder.OrdinalPrefixed, pool.Domain.Read<int>(root.Index.Offset + SortedLayout.KeyOrderOffset));
        Assert.Equal((int)KeyOrder.OrdinalPrefixed, pool.Domain.Read<int>(root.Tags.Offset + SortedLayout.KeyOrderOffset));
    }

    [Fact]
    public void The_imported_type_table_is_what_the_programs_registration_writes()
    {
        var source = CreateSource();
        var target = PathOf("imported.pool");
        PoolExport.Import(new MemoryStream(Export(source)), target);

        using var expected = PersistentPool.Open(source, Layout);
        using var actual = PersistentPool.Open(target, Layout);
        var before = expected.StoredTypes;
        var after = actual.StoredTypes;
        Assert.Equal(before.Select(t => (t.Name, t.TypeId, t.Size, t.LayoutHash, t.Version)), after.Select(t => (t.Name, t.TypeId, t.Size, t.LayoutHash, t.Version)));
        for (var i = 0; i < before.Count; i++)
        {
            // The schema record's bytes are exactly the ones the program's class would record.
            Assert.Equal(SchemaRecord.Encode(before[i].Schema!), SchemaRecord.Encode(after[i].Schema!));
            Assert.Equal(before[i].Fields, after[i].Fields);
        }

        Assert.Equal(SchemaRecord.Encode(Everything.PersistentType), SchemaRecord.Encode(after.Single(t => t.Name == "Tests.Everything").Schema!));
    }

    [Fact]
    public void Exporting_the_import_gives_the_same_document()
    {
        var first = Export(CreateSource());
        var target = PathOf("imported.pool");
        PoolExport.Import(new MemoryStream(first), target);

        var second = Export(target);

        Assert.Equal(Canonical(first), Canonical(second));
    }

    /// <summary>
    /// The document with each dictionary's entries sorted: a hashed table lists them in slot order, which depends on
    /// the order of inserts and growths, not on the contents (lists hold no arrays, so an array of arrays is a map).
    /// </summary>
    private static string Canonical(byte[] json)
    {
        var document = JsonNode.Parse(json)!;
        foreach (var item in document["objects"]!.AsArray())
        {
            foreach (var (_, value) in item!["values"]!.AsObject())
            {
                if (value is JsonArray array && array.Count > 0 && array.All(e => e is JsonArray))
                {
                    var sorted = array.Select(e => e!.ToJsonString()).Order(StringComparer.Ordinal).ToList();
                    array.Clear();
                    sorted.ForEach(e => array.Add(JsonNode.Parse(e)));
                }
            }
        }

        return document.ToJsonString();
    }

    [Fact]
    public void The_document_names_its_format_layout_root_and_schema()
    {
        var root = JsonDocument.Parse(Export(CreateSource())).RootElement;

        Assert.Equal("pmem-export/1", root.GetProperty("format").GetString());
        Assert.Equal(Layout, root.GetProperty("layout").GetString());
        Assert.Equal("#1", root.GetProperty("root").GetString());
        var everything = root.GetProperty("types").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "Tests.Everything");
        Assert.Equal(3, everything.GetProperty("version").GetInt32());
        Assert.Equal(Everything.PersistentType.Properties.Length, everything.GetProperty("properties").GetArrayLength());
        var first = root.GetProperty("objects")[0];
        Assert.Equal("#1", first.GetProperty("id").GetString());
        var values = first.GetProperty("values");
        Assert.Equal("2024-02-29T23:59:58.1234567Z", values.GetProperty("When").GetString());
        Assert.Equal("-170141183460469231731687303715884105728", values.GetProperty("Huge").GetString());
        Assert.Equal("1.10", values.GetProperty("MaybeMoney").GetRawText());
        Assert.Equal(JsonValueKind.Null, values.GetProperty("Missing").ValueKind);
        Assert.Equal(ManyNumbers, values.GetProperty("Numbers").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, values.GetProperty("Never").ValueKind);
    }

    [Fact]
    public void An_empty_pool_round_trips_with_no_root()
    {
        var source = PathOf("empty.pool");
        using (PersistentPool.Create(source, Layout, 8 << 20))
        {
        }

        var target = PathOf("imported.pool");
        var result = PoolExport.Import(new MemoryStream(Export(source)), target);

        Assert.Equal(0, result.Objects);
        using var pool = PersistentPool.Open(target, Layout);
        Assert.Equal(0, pool.RootOffset);
    }

    [Fact]
    public void Small_transactions_give_the_same_pool()
    {
        var json = Export(CreateSource());
        var target = PathOf("imported.pool");

        PoolExport.Import(new MemoryStream(json), target, new PoolImportOptions { TransactionSize = 7 });

        Assert.Equal(Canonical(json), Canonical(Export(target)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(4096)]
    public void An_export_read_in_pieces_that_split_its_tokens_gives_the_same_pool(int pieceSize)
    {
        // An outside tester's 2.2 GB export could not be imported ("Stream was too long": one array holds 2 GiB at
        // most); it is read in pieces now, each token possibly split between two (a byte-order mark too, here).
        var json = Export(CreateSource());
        var file = PathOf("export.json");
        File.WriteAllBytes(file, [.. "\uFEFF"u8, .. json]);
        var target = PathOf("imported.pool");

        using (var input = File.OpenRead(file))
        {
            PoolExport.Import(input, target, new PoolImportOptions { PieceSize = pieceSize });
        }

        Assert.Equal(Canonical(json), Canonical(Export(target)));
    }

    [Fact]
    public void A_string_longer_than_one_json_value_may_be_is_written_in_pieces_and_imported_whole()
    {
        // An outside tester's pool held a string of 166,666,667 characters: the JSON writer refused it ("too large"),
        // so the pool could not be exported. Long strings are written in pieces of one value; a pair stays whole.
        var pieces = ExportWriter.StringSegment;
        var text = string.Create(2 * pieces + 3, pieces, static (chars, pieces) =>
        {
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = (char)('a' + (i % 26));
            }

            chars[pieces - 2] = '"';
            chars[pieces - 1] = '\ud83d'; // a pair across the first piece's end
            chars[pieces] = '\ude00';
            chars[2 * pieces] = '\n';
        });
        var source = PathOf("long.pool");
        using (var pool = PersistentPool.Create(source, Layout, 32 << 20))
        {
            pool.Root<Everything>().Name = text;
        }

        var target = PathOf("imported.pool");
        PoolExport.Import(new MemoryStream(Export(source)), target);

        using var imported = PersistentPool.Open(target, Layout);
        Assert.Equal(text, imported.Root<Everything>().Name);
    }

    private static void AssertSameEverything(Everything expected, Everything actual)
    {
        Assert.Equal(expected.Flag, actual.Flag);
        Assert.Equal(expected.Byte, actual.Byte);
        Assert.Equal(expected.SByte, actual.SByte);
        Assert.Equal(expected.Short, actual.Short);
        Assert.Equal(expected.UShort, actual.UShort);
        Assert.Equal(expected.Letter, actual.Letter);
        Assert.Equal(BitConverter.HalfToUInt16Bits(expected.Half), BitConverter.HalfToUInt16Bits(actual.Half));
        Assert.Equal(expected.Int, actual.Int);
        Assert.Equal(expected.UInt, actual.UInt);
        Assert.Equal(BitConverter.SingleToInt32Bits(expected.Float), BitConverter.SingleToInt32Bits(actual.Float));
        Assert.Equal(expected.Long, actual.Long);
        Assert.Equal(expected.ULong, actual.ULong);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected.Double), BitConverter.DoubleToInt64Bits(actual.Double));
        Assert.Equal(expected.When.Ticks, actual.When.Ticks);
        Assert.Equal(expected.When.Kind, actual.When.Kind);
        Assert.Equal(expected.Span, actual.Span);
        Assert.Equal(decimal.GetBits(expected.Money), decimal.GetBits(actual.Money));
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Offset2.Ticks, actual.Offset2.Ticks);
        Assert.Equal(expected.Offset2.Offset, actual.Offset2.Offset);
        Assert.Equal(expected.Huge, actual.Huge);
        Assert.Equal(expected.UHuge, actual.UHuge);
        Assert.Equal(expected.Shade, actual.Shade);
        Assert.Equal(expected.MaybeInt, actual.MaybeInt);
        Assert.Equal(expected.MaybeMoney.HasValue, actual.MaybeMoney.HasValue);
        Assert.Equal(decimal.GetBits(expected.MaybeMoney.GetValueOrDefault()), decimal.GetBits(actual.MaybeMoney.GetValueOrDefault()));
        Assert.Equal(expected.MaybeHuge, actual.MaybeHuge);
        Assert.Equal(expected.MaybeShade, actual.MaybeShade);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Missing, actual.Missing);
        Assert.Equal(expected.Leaf?.Label, actual.Leaf?.Label);
        Assert.Equal(expected.NeverField == 0, actual.NeverField == 0);
        Assert.Equal(expected.Numbers.ToList(), actual.Numbers.ToList());
        Assert.Equal(expected.Words.ToList(), actual.Words.ToList());
        Assert.Equal(expected.Leaves.Select(l => l?.Label), actual.Leaves.Select(l => l?.Label));
        Assert.Equal(expected.Labels.OrderBy(p => p.Key), actual.Labels.OrderBy(p => p.Key));
        Assert.Equal(expected.ByName.Select(p => (p.Key, p.Value?.Label)).Order(), actual.ByName.Select(p => (p.Key, p.Value?.Label)).Order());
        Assert.Equal(expected.Scores.ToList(), actual.Scores.ToList());
        Assert.Equal(expected.Index.Select(p => (p.Key, p.Value?.Label)), actual.Index.Select(p => (p.Key, p.Value?.Label)));
        Assert.Equal(expected.Ids.ToList(), actual.Ids.ToList());
        Assert.Equal(expected.Tags.ToList(), actual.Tags.ToList());
        Assert.Equal(expected.Amounts.Select(decimal.GetBits), actual.Amounts.Select(decimal.GetBits));
        Assert.Equal(expected.Times.OrderBy(p => p.Key).Select(p => (p.Key, p.Value.Ticks, p.Value.Kind)), actual.Times.OrderBy(p => p.Key).Select(p => (p.Key, p.Value.Ticks, p.Value.Kind)));
        Assert.Equal(expected.Stamps.Select(p => (p.Key.Ticks, p.Key.Offset, p.Value)), actual.Stamps.Select(p => (p.Key.Ticks, p.Key.Offset, p.Value)));

        // Lookups go through the stored hashes and key order: the import must have written them as the program would.
        Assert.All(expected.Labels, pair => Assert.Equal(pair.Value, actual.Labels[pair.Key]));
        Assert.All(expected.Scores, pair => Assert.Equal(pair.Value, actual.Scores[pair.Key]));
        Assert.All(expected.Times, pair => Assert.True(actual.Times.ContainsKey(pair.Key)));
        Assert.All(expected.Ids, id => Assert.Contains(id, (ISet<Guid>)actual.Ids));
        Assert.All(expected.Tags, tag => Assert.Contains(tag, (ISet<string>)actual.Tags));
        Assert.All(expected.ByName.Keys, key => Assert.True(actual.ByName.ContainsKey(key)));
    }
}
