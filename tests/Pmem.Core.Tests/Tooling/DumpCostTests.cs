// What dump and export read and hold: only the objects and items they show, their output handed on as it is made.
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Tooling;

/// <summary>
/// Cost guards without timings: objects a dump does not show are damaged (so reading one fails), and the output is
/// observed as it arrives (so a dump that buffered all of it, or wrote it line by line, is caught).
/// </summary>
public sealed class DumpCostTests : IDisposable
{
    private const string Layout = "dump-cost-tests";
    private const long NoObject = 123 * 64; // inside the pool header: no object or string starts there
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pmem-dump-cost-" + Guid.NewGuid().ToString("N"));

    public DumpCostTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    [Fact]
    public void Dump_by_type_reads_no_object_of_another_type()
    {
        var path = PathOf("types.pool");
        var others = new List<long>();
        using (var pool = PersistentPool.Create(path, Layout, 16 << 20))
        using (var tx = pool.BeginTransaction())
        {
            pool.Root<Everything>().Name = "root";
            for (var i = 0; i < 2000; i++)
            {
                var other = pool.New<Everything>();
                other.Name = "other";
                others.Add(other.Offset);
            }

            pool.New<Leaf>().Label = "the leaf"; // reached by nothing
            tx.Commit();
        }

        var image = TestFiles.ReadAllBytes(path);
        foreach (var other in others)
        {
            BitConverter.GetBytes(NoObject).CopyTo(image, other + 224); // each Name points to no string
        }

        TestFiles.WriteAllBytes(path, image);
        using var damaged = PersistentPool.OpenReadOnly(path, Layout);

        var text = new StringWriter();
        Assert.Equal(1, PoolDump.WriteText(damaged, text, new PoolDumpOptions { TypeName = "Tests.Leaf" }));
        Assert.StartsWith($"#1 Tests.Leaf{Environment.NewLine}  Label: \"the leaf\"", text.ToString());
        Assert.Equal(1, PoolDump.WriteJson(damaged, Stream.Null, new PoolDumpOptions { TypeName = "Tests.Leaf" }));
        Assert.Throws<PoolCorruptedException>(() => PoolDump.WriteText(damaged, TextWriter.Null, new PoolDumpOptions { TypeName = "Tests.Everything" }));
    }

    [Fact]
    public void Dump_text_reads_no_item_past_max_items()
    {
        var path = PathOf("items.pool");
        long list, dictionary;
        var damage = new List<long>();
        using (var pool = PersistentPool.Create(path, Layout, 16 << 20))
        using (var tx = pool.BeginTransaction())
        {
            var root = pool.Root<Everything>();
            for (var i = 0; i < 1000; i++)
            {
                root.Leaves.Add(pool.New<Leaf>());
                root.Labels[i] = $"label {i}";
            }

            tx.Commit();
            list = pool.ReadValue<long>(root.Offset + 272);
            dictionary = pool.ReadValue<long>(root.Offset + 280);
            var (storage, count, slotSize, _) = CollectionLayout.ListShape(pool, list);
            for (var i = 3; i < count; i++)
            {
                damage.Add(storage + i * slotSize); // each reference past the third points to no object
            }

            damage.AddRange(CollectionLayout.DictionaryEntries(pool, dictionary).Skip(3).Select(entry => entry.Value)); // to no string
        }

        var image = TestFiles.ReadAllBytes(path);
        foreach (var slot in damage)
        {
            BitConverter.GetBytes(NoObject).CopyTo(image, slot);
        }

        TestFiles.WriteAllBytes(path, image);
        using var damaged = PersistentPool.OpenReadOnly(path, Layout);

        var text = new StringWriter();
        PoolDump.WriteText(damaged, text, new PoolDumpOptions { MaxItems = 3 });
        var lines = text.ToString().Split(Environment.NewLine);
        Assert.Contains("  Leaves: list<reference> → Tests.Leaf, 1000 items", lines);
        Assert.Contains("  Labels: dictionary<System.Int64,string>, 1000 items", lines);
        Assert.Equal(2, lines.Count(line => line == "    … 997 more (--max-items shows more)"));
        Assert.Throws<PoolCorruptedException>(() => PoolDump.WriteText(damaged, TextWriter.Null, new PoolDumpOptions { MaxItems = 4 }));
    }

    [Fact]
    public void Dump_and_export_json_reach_the_stream_as_they_are_written()
    {
        var path = PathOf("json.pool");
        using var pool = PersistentPool.Create(path, Layout, 32 << 20);
        using (var tx = pool.BeginTransaction())
        {
            var root = pool.Root<Everything>();
            for (var i = 0; i < 100_000; i++)
            {
                root.Numbers.Add(i); // one object's collection: about 700 KB of JSON
            }

            for (var i = 0; i < 5000; i++)
            {
                pool.New<Leaf>().Label = $"leaf {i} " + new string('*', 60); // unreachable: by type
            }

            tx.Commit();
        }

        var dump = new WriteSizes();
        Assert.Equal(5000, PoolDump.WriteJson(pool, dump, new PoolDumpOptions { TypeName = "Tests.Leaf" }));
        var export = new WriteSizes();
        PoolExport.Export(pool, export);

        // A writer that kept the document until the end would hand it over in one write of all of it.
        Assert.All(new[] { dump, export }, stream =>
        {
            Assert.True(stream.Length > 500_000, $"{stream.Length} bytes");
            Assert.True(stream.Largest < 200_000, $"a write of {stream.Largest} bytes out of {stream.Length}");
        });
    }

    [Fact]
    public void Dump_text_reaches_its_writer_in_chunks_not_line_by_line()
    {
        var path = PathOf("text.pool");
        using var pool = PersistentPool.Create(path, Layout, 16 << 20);
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 5000; i++)
            {
                pool.New<Leaf>().Label = $"leaf {i}";
            }

            tx.Commit();
        }

        // As the tool's stdout is made: a writer that writes through on every call, over a stream that counts them.
        var stream = new WriteSizes();
        using (var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 4096, leaveOpen: true) { AutoFlush = true })
        {
            PoolDump.WriteText(pool, writer, new PoolDumpOptions { TypeName = "Tests.Leaf" });
        }

        var text = System.Text.Encoding.UTF8.GetString(stream.ToArray());
        Assert.Equal(20_000, text.Split(Environment.NewLine).Length - 1); // #id, Label, Weight, Back
        Assert.EndsWith($"  Back: null{Environment.NewLine}", text);
        Assert.InRange(stream.Writes, 1, 200); // a write per line was a system call per line: 13x slower (bench/RESULTS.md, session 32)
    }

    /// <summary>Records how many writes it is given and the largest.</summary>
    private sealed class WriteSizes : MemoryStream
    {
        public long Largest { get; private set; }

        public int Writes { get; private set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Largest = Math.Max(Largest, count);
            Writes++;
            base.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length); // a derived MemoryStream's own span write would come back here
    }
}
