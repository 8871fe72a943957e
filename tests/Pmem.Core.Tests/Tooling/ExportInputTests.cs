// Import of damaged or foreign exports, export of damaged pools, and dump text: clear errors naming what and where, nothing left behind.
using System.Text;
using System.Text.RegularExpressions;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Tooling;

public sealed class ExportInputTests : IDisposable
{
    private const string Layout = "export-tests";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pmem-export-input-" + Guid.NewGuid().ToString("N"));

    public ExportInputTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    /// <summary>A root <see cref="Everything"/> with a name, a leaf and a list, exported (compact).</summary>
    private string SmallExport(Action<PersistentPool>? more = null, long size = 8 << 20)
    {
        var path = PathOf("small.pool");
        File.Delete(path); // a test may export several variants
        using var pool = PersistentPool.Create(path, Layout, size);
        var root = pool.Root<Everything>();
        root.Name = "root";
        root.Int = 42;
        root.Leaf = pool.New<Leaf>();
        root.Leaf.Label = "leaf";
        root.Numbers.Add(1);
        more?.Invoke(pool);
        using var output = new MemoryStream();
        PoolExport.Export(pool, output);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    private PoolImportException Refused(string json) => Refused(Encoding.UTF8.GetBytes(json));

    private PoolImportException Refused(byte[] json)
    {
        var target = PathOf("imported.pool");
        var before = Directory.GetFiles(_directory).Order().ToList();
        var e = Assert.Throws<PoolImportException>(() => PoolExport.Import(new MemoryStream(json), target, new PoolImportOptions { SourceName = "in.json" }));
        Assert.Equal(before, Directory.GetFiles(_directory).Order().ToList()); // no pool, no temporary file
        Assert.Equal("in.json", e.PoolPath);
        return e;
    }

    [Fact]
    public void Truncated_json_is_refused_at_any_length()
    {
        var json = SmallExport();
        for (var length = 0; length < json.Length; length += Math.Max(1, json.Length / 40))
        {
            Assert.StartsWith("in.json: it ", Refused(json[..length]).Message);
        }
    }

    [Fact]
    public void A_utf8_byte_order_mark_before_the_json_is_skipped()
    {
        // Saved by a Windows editor, or by PowerShell's Set-Content -Encoding utf8 (an outside tester's file).
        var json = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes(SmallExport())).ToArray();
        var fromFile = PathOf("bom.json");
        File.WriteAllBytes(fromFile, json);

        foreach (var (input, target) in new (Stream, string)[] { (new MemoryStream(json), PathOf("from-memory.pool")), (File.OpenRead(fromFile), PathOf("from-file.pool")) })
        {
            using (input)
            {
                Assert.Equal(2, PoolExport.Import(input, target).Objects); // the root and its leaf
            }

            using var pool = PersistentPool.Open(target, Layout);
            Assert.Equal("leaf", pool.Root<Everything>().Leaf!.Label);
        }

        Assert.StartsWith("in.json: it is not valid JSON", Refused([.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(SmallExport())]).Message); // one mark only
    }

    [Fact]
    public void Another_format_version_is_refused()
    {
        var e = Refused(SmallExport().Replace("\"format\":\"pmem-export/1\"", "\"format\":\"pmem-export/7\""));

        Assert.Equal("in.json: its format is 'pmem-export/7'; this version reads 'pmem-export/1'", e.Message);
    }

    [Fact]
    public void A_dangling_id_is_refused()
    {
        var e = Refused(SmallExport().Replace("\"Leaf\":\"#2\"", "\"Leaf\":\"#77\""));

        Assert.Equal("in.json: object #1, property 'Leaf' (reference) refers to #77, which the file does not define", e.Message);
    }

    [Fact]
    public void A_value_of_another_type_than_the_schema_says_is_refused()
    {
        Assert.Contains("property 'Int' (System.Int32): \"forty\" is not a value of this type", Refused(SmallExport().Replace("\"Int\":42", "\"Int\":\"forty\"")).Message);
        Assert.Contains("property 'Int' (System.Int32): 4294967296 is not a value of this type", Refused(SmallExport().Replace("\"Int\":42", "\"Int\":4294967296")).Message);
        Assert.Contains("property 'Name' (string): 5 is not a string", Refused(SmallExport().Replace("\"Name\":\"root\"", "\"Name\":5")).Message);
        Assert.Contains("property 'Numbers' (list<System.Int32>): \"one\" is not a System.Int32", Refused(SmallExport().Replace("\"Numbers\":[1]", "\"Numbers\":[\"one\"]")).Message);
        Assert.Contains("the type 'Tests.Everything' has no stored property 'Surprise'", Refused(SmallExport().Replace("\"Int\":42", "\"Surprise\":42")).Message);
    }

    /// <summary>
    /// JSON may escape half a surrogate pair, which no string can hold (the reader throws no JSON error for it, but an
    /// InvalidOperationException): each place a string is read refuses it by name, like any other bad value.
    /// </summary>
    [Fact]
    public void Half_a_surrogate_pair_in_any_string_is_refused_by_place()
    {
        var json = SmallExport(pool => pool.Root<Everything>().Words.Add("w"));

        Assert.Equal("in.json: object #1, property 'Name' (string): \"\\ud800\" is not valid text (half a surrogate pair, or bytes that are not UTF-8)",
            Refused(json.Replace("\"Name\":\"root\"", "\"Name\":\"\\ud800\"")).Message);
        Assert.Contains("object #1, property 'Words' (list<string>): \"x\\udc00\" is not valid text",
            Refused(json.Replace("\"Words\":[\"w\"]", "\"Words\":[\"x\\udc00\"]")).Message);
        Assert.Contains("object #1, a property name: \"Int\\ud800\" is not valid text",
            Refused(json.Replace("\"Int\":42", "\"Int\\ud800\":42")).Message);
        Assert.Contains("object #1, property 'Letter' (System.Char): \"\\ud800\" is not a value of this type",
            Refused(json.Replace("\"Int\":42", "\"Int\":42,\"Letter\":\"\\ud800\"")).Message);
        Assert.Contains("object #1, property 'Leaf' (reference): \"#\\ud800\" is not valid text",
            Refused(json.Replace("\"Leaf\":\"#2\"", "\"Leaf\":\"#\\ud800\"")).Message);
        Assert.Equal("in.json: layout: \"\\udfff\" is not valid text (half a surrogate pair, or bytes that are not UTF-8)",
            Refused(json.Replace("\"layout\":\"export-tests\"", "\"layout\":\"\\udfff\"")).Message);
        Assert.Contains("a property name: \"pool\\ud800\" is not valid text",
            Refused(json.Replace("\"poolSize\"", "\"pool\\ud800\"")).Message);
    }

    [Fact]
    public void Bytes_that_are_not_utf8_in_a_string_are_refused_by_place()
    {
        var bytes = Encoding.UTF8.GetBytes(SmallExport().Replace("\"Name\":\"root\"", "\"Name\":\"ro?t\""));
        bytes[Encoding.UTF8.GetString(bytes).IndexOf("ro?t", StringComparison.Ordinal) + 2] = 0xFF;

        Assert.Contains("object #1, property 'Name' (string): ", Refused(bytes).Message);
        Assert.EndsWith("is not valid text (half a surrogate pair, or bytes that are not UTF-8)", Refused(bytes).Message);
    }

    /// <summary>Two properties on the same bytes would read each other's writes, and check could not tell.</summary>
    [Fact]
    public void Properties_that_share_bytes_are_refused_naming_both()
    {
        var json = SmallExport();
        var moved = json.Replace("{\"name\":\"UInt\",\"storageType\":\"System.UInt32\",\"offset\":16", "{\"name\":\"UInt\",\"storageType\":\"System.UInt32\",\"offset\":14");
        Assert.NotEqual(json, moved);

        Assert.Equal("in.json: type 'Tests.Everything': properties 'Int' (offset 12, 4 bytes) and 'UInt' (offset 14, 4 bytes) share bytes", Refused(moved).Message);
        Assert.Contains("properties 'Int' (offset 12, 4 bytes) and 'UInt' (offset 12, 4 bytes) share bytes",
            Refused(json.Replace("\"name\":\"UInt\",\"storageType\":\"System.UInt32\",\"offset\":16", "\"name\":\"UInt\",\"storageType\":\"System.UInt32\",\"offset\":12")).Message);
        Assert.Contains("properties 'Long' (offset 24, 8 bytes) and 'Double' (offset 28, 8 bytes) share bytes",
            Refused(json.Replace("\"name\":\"Double\",\"storageType\":\"System.Double\",\"offset\":40", "\"name\":\"Double\",\"storageType\":\"System.Double\",\"offset\":28")).Message);
    }

    [Fact]
    public void A_reference_that_is_no_id_or_of_another_type_reads_with_the_right_article()
    {
        var json = SmallExport();

        Assert.Contains("property 'Leaf' (reference): 5 is not an object id like \"#1\"", Refused(json.Replace("\"Leaf\":\"#2\"", "\"Leaf\":5")).Message);
        Assert.Contains("property 'Name' (string): 5 is not a string", Refused(json.Replace("\"Name\":\"root\"", "\"Name\":5")).Message);
    }

    [Fact]
    public void A_schema_the_library_cannot_store_is_refused()
    {
        var e = Refused(SmallExport().Replace("\"storageType\":\"System.Int32\"", "\"storageType\":\"System.Int31\""));

        Assert.StartsWith("in.json: type 'Tests.Everything' is not a possible stored type: 'Tests.Everything.Int' is stored as 'System.Int31'", e.Message);
    }

    [Fact]
    public void An_existing_destination_is_never_replaced()
    {
        var json = SmallExport();
        var target = PathOf("small.pool"); // the source itself
        var before = TestFiles.ReadAllBytes(target);

        Assert.Throws<IOException>(() => PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(json)), target));
        Assert.Equal(before, TestFiles.ReadAllBytes(target));
    }

    [Fact]
    public void An_import_deletes_what_killed_imports_to_its_destination_left_but_not_a_live_one()
    {
        var json = SmallExport();
        var target = PathOf("imported.pool");
        var abandoned = Path.Combine(_directory, ".imported.pool.import-0123456789abcdef0123456789abcdef.tmp");
        var live = Path.Combine(_directory, ".imported.pool.import-fedcba9876543210fedcba9876543210.tmp");
        var other = Path.Combine(_directory, ".other.pool.import-0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(abandoned, new byte[4096]);
        File.WriteAllBytes(other, new byte[4096]);
        using (new FileStream(live, FileMode.CreateNew, FileAccess.Write, FileShare.None)) // its importer still at work
        {
            PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(json)), target);
            Assert.False(File.Exists(abandoned));
            Assert.True(File.Exists(live));
            Assert.True(File.Exists(other)); // another destination's
        }
    }

    [Fact]
    public void An_import_into_a_size_too_small_says_so_by_the_destination_and_leaves_nothing()
    {
        var json = SmallExport(pool =>
        {
            var root = pool.Root<Everything>();
            for (var i = 0; i < 40; i++)
            {
                root.Words.Add(new string((char)('a' + (i % 26)), 100_000)); // ~8 MB of text
            }
        }, size: 32 << 20);
        var target = PathOf("imported.pool");
        var min = PersistentPool.MinimumSize;

        var full = Assert.Throws<PoolOutOfSpaceException>(() => PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(json)), target, new PoolImportOptions { Size = min }));
        Assert.Equal(target, full.PoolPath);
        Assert.Equal($"{target}: out of space: the export's objects do not fit a pool of {min} bytes grown to its limit of {min * 4} bytes (the exported pool was {Regex.Match(json, "\"poolSize\":(\\d+)").Groups[1].Value} bytes); import with a larger size", full.Message);
        var small = Assert.Throws<ArgumentOutOfRangeException>(() => PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(json)), target, new PoolImportOptions { Size = 4096 }));
        Assert.StartsWith($"{target}: a pool needs at least {min} bytes; the size given is 4096.", small.Message);
        Assert.Equal(["small.pool"], Directory.GetFiles(_directory).Select(Path.GetFileName)); // no pool, no temporary file
    }

    [Fact]
    public void A_pool_size_no_pool_can_have_is_refused_by_name()
    {
        // An outside fuzzer's export with poolSize 2^45 got the growth limit's ArgumentOutOfRangeException text.
        var json = Regex.Replace(SmallExport(), "\"poolSize\":\\d+", "\"poolSize\":140737488355328");
        Assert.Equal("in.json: the pool size 140737488355328 is more than a pool can hold (70368744177664 bytes)", Refused(json).Message);
    }

    [Fact]
    public void A_pool_too_small_for_the_objects_fails_and_leaves_nothing()
    {
        var json = SmallExport(pool =>
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 30_000; i++)
            {
                pool.Root<Everything>().Words.Add(new string('x', 200));
            }

            tx.Commit();
        }, size: 64 << 20);

        // Room for the header, lanes and little else; growth limited to 4x by the import.
        var e = Assert.ThrowsAny<PoolException>(() => PoolExport.Import(new MemoryStream(Encoding.UTF8.GetBytes(json)), PathOf("tiny.pool"), new PoolImportOptions { Size = PersistentPool.MinimumSize }));
        Assert.IsNotType<PoolImportException>(e);
        Assert.Equal(["small.pool"], Directory.GetFiles(_directory).Select(Path.GetFileName));
    }

    [Fact]
    public void Export_of_a_dangling_reference_names_the_object_and_property()
    {
        var path = PathOf("damaged.pool");
        long root;
        using (var pool = PersistentPool.Create(path, Layout, 8 << 20))
        {
            var everything = pool.Root<Everything>();
            everything.Leaf = pool.New<Leaf>();
            root = everything.Offset;
        }

        using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.Position = root + 248; // Leaf
            file.Write(BitConverter.GetBytes(64L * 3)); // into the header: no object there
        }

        using var damaged = PersistentPool.Open(path, Layout);
        var e = Assert.Throws<PoolCorruptedException>(() => PoolExport.Export(damaged, Stream.Null));
        Assert.Equal($"{path}: the Tests.Everything at offset {root}, property 'Leaf', points to offset 192, where no object starts", e.Message);
    }

    [Fact]
    public void Dump_text_shows_every_kind_of_value()
    {
        var path = PathOf("dump.pool");
        using var pool = PersistentPool.Create(path, Layout, 8 << 20);
        var root = pool.Root<Everything>();
        root.Letter = 'q';
        root.When = new DateTime(2020, 5, 6, 7, 8, 9, DateTimeKind.Utc);
        root.MaybeInt = null;
        root.MaybeMoney = 2.50m;
        root.Name = "say \"hi\"\n";
        root.Leaf = pool.New<Leaf>();
        root.Leaf.Back = root;
        root.Labels[5] = "five";
        root.Tags.Add("t");
        for (var i = 0; i < 5; i++)
        {
            root.Numbers.Add(i);
        }

        var text = new StringWriter();
        var shown = PoolDump.WriteText(pool, text, new PoolDumpOptions { MaxItems = 3 });

        var lines = text.ToString().Split(Environment.NewLine);
        Assert.Equal(2, shown);
        Assert.Equal("#1 Tests.Everything (root)", lines[0]);
        Assert.Contains("  Letter: 'q'", lines);
        Assert.Contains("  When: 2020-05-06T07:08:09.0000000Z", lines);
        Assert.Contains("  MaybeInt: null", lines);
        Assert.Contains("  MaybeMoney: 2.50", lines);
        Assert.Contains("  Name: \"say \\\"hi\\\"\\n\"", lines);
        Assert.Contains("  Leaf: #2 Tests.Leaf", lines);
        Assert.Contains("    Back: → #1", lines);
        Assert.Contains("  Numbers: list<System.Int32>, 5 items", lines);
        Assert.Contains("    [2]: 2", lines);
        Assert.Contains("    … 2 more (--max-items shows more)", lines);
        Assert.Contains("  Labels: dictionary<System.Int64,string>, 1 item", lines);
        Assert.Contains("    [5]: \"five\"", lines);
        Assert.Contains("    - \"t\"", lines);
        Assert.Contains("  Never: list<System.Int32>, not created", lines);
    }

    [Fact]
    public void Dump_of_a_long_chain_lists_deep_objects_at_the_top_level()
    {
        var path = PathOf("chain.pool");
        using var pool = PersistentPool.Create(path, Layout, 8 << 20);
        var current = pool.Root<Everything>();
        for (var i = 0; i < 30; i++)
        {
            var next = pool.New<Everything>();
            next.Int = i;
            current.Next = next;
            current = next;
        }

        var text = new StringWriter();
        var shown = PoolDump.WriteText(pool, text);

        Assert.Equal(31, shown);
        var lines = text.ToString().Split(Environment.NewLine);
        Assert.Contains(lines, line => line.EndsWith("(below)", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith('#') && line.EndsWith("(nested too deep above)", StringComparison.Ordinal));
        Assert.All(lines, line => Assert.True(line.Length - line.TrimStart().Length <= 2 * (DumpWriter.MaxDepth + 2), line));
    }

    [Fact]
    public void A_string_with_half_a_surrogate_pair_fails_the_export_by_name()
    {
        var path = PathOf("surrogate.pool");
        using var pool = PersistentPool.Create(path, Layout, 8 << 20);
        pool.Root<Everything>().Name = "a\ud800b";

        var e = Assert.Throws<PoolException>(() => PoolExport.Export(pool, Stream.Null));

        Assert.Equal($"{path}: cannot be exported: the Tests.Everything at offset {pool.RootOffset}, property 'Name', holds a string with half a surrogate pair, which JSON text cannot carry", e.Message);
    }

    [Theory]
    [InlineData(48, "00000080FFFFFFFF", "When", "System.DateTime")] // ticks past 9999-12-31: formatted as year 14614
    [InlineData(96, "B0040000000000000000000000000000", "Offset", "System.DateTimeOffset")] // an offset of 20 hours (its minutes come first)
    [InlineData(64, "00001D00", "Money", "System.Decimal")] // scale 29
    [InlineData(168, "00001D00", "MaybeMoney", "System.Decimal")] // the same, in a nullable's value
    public void A_value_the_export_could_not_read_back_fails_the_export_by_name(int at, string hex, string property, string type)
    {
        var path = PathOf("unreadable.pool");
        long root;
        using (var pool = PersistentPool.Create(path, Layout, 8 << 20))
        {
            var everything = pool.Root<Everything>();
            everything.MaybeMoney = 1m;
            root = everything.Offset;
        }

        var image = TestFiles.ReadAllBytes(path);
        Convert.FromHexString(hex).CopyTo(image, root + at); // a value no program wrote, which Check does not look at
        TestFiles.WriteAllBytes(path, image);

        using var damaged = PersistentPool.Open(path, Layout);
        Assert.True(damaged.Check().IsConsistent);
        var e = Assert.Throws<PoolException>(() => PoolExport.Export(damaged, Stream.Null));
        var width = type == "System.Decimal" ? 16 : type == "System.DateTime" ? 8 : 16;
        var bytes = Convert.ToHexString(image, (int)root + at, width);
        Assert.Equal($"{path}: cannot be exported: the Tests.Everything at offset {root}, property '{property}', holds bytes {bytes} (in file order), which are no {type} an import could read back", e.Message);
    }
}
