using System.Text.Json;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

public sealed class InfoTests : IDisposable
{
    /// <summary>The format new pools get (docs/pool-format.md).</summary>
    internal const uint PoolLayoutVersion = 11;

    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Info_shows_header_sizes_objects_and_stored_types_as_text()
    {
        var path = _files.CreateLibrary();

        var run = ToolHarness.Run("info", path);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Error);
        Assert.Contains($"layout       {ToolHarness.Layout}", run.Out);
        Assert.Contains($"format       version {PoolLayoutVersion}", run.Out);
        Assert.Contains("lanes        8 × 192.0 KiB, 12 log slots each", run.Out);
        Assert.Contains("grows to     never by itself", run.Out);
        Assert.Contains("durability   PowerFailure", run.Out);
        Assert.Contains("checksum     ok", run.Out);
        Assert.Contains("no logs awaiting recovery", run.Out);
        Assert.Contains("tooltests.library", run.Out);
        Assert.Contains("tooltests.book", run.Out);
        Assert.Contains("reference", run.Out);
        Assert.Contains("tooltests.book  version 1", run.Out); // the stored schema, property by property
        Assert.Contains("Title: string", run.Out);
        Assert.Contains("Pages: System.Int32 (4 bytes)", run.Out);
        Assert.False(run.Out.Contains('\e'), "no colour when not on a terminal");
    }

    /// <summary>
    /// A pool copied while it commits through its write-ahead log (as a crash leaves it): info names the active log and
    /// counts its commits as awaiting recovery, and check replays them on a private view, leaving both files as they are.
    /// </summary>
    [Fact]
    public void Info_and_check_of_a_crashed_pool_with_a_write_ahead_log_replay_it_without_writing()
    {
        var path = _files.PathOf("logged.pool");
        var image = _files.PathOf("crashed.pool");
        ToolHarness.CrashImageWithWriteAheadLog(path, image, books: 4);

        var (poolHash, logHash) = (ToolHarness.Hash(image), ToolHarness.Hash(PersistentPool.WriteAheadLogPath(image)));
        var info = ToolHarness.Run("info", image);
        var json = ToolHarness.Run("info", image, "--json");
        var check = ToolHarness.Run("check", image);

        Assert.Equal(0, info.ExitCode);
        Assert.Contains($"write-ahead  active: {PersistentPool.WriteAheadLogPath(image)}", info.Out);
        Assert.Contains("committed log(s) awaiting recovery", info.Out);
        using (var document = JsonDocument.Parse(json.Out))
        {
            Assert.Equal(PersistentPool.WriteAheadLogPath(image), document.RootElement.GetProperty("header").GetProperty("writeAheadLog").GetString());
            Assert.True(document.RootElement.GetProperty("logsAwaitingRecovery").GetInt32() > 0);
        }

        Assert.Equal(0, check.ExitCode);
        Assert.Equal((poolHash, logHash), (ToolHarness.Hash(image), ToolHarness.Hash(PersistentPool.WriteAheadLogPath(image))));
        using var reopened = PersistentPool.Open(image, ToolHarness.Layout);
        Assert.Equal(4, reopened.Root<Library>().Books.Count);
    }

    [Fact]
    public void Info_json_has_the_documented_shape_and_values()
    {
        var path = _files.CreateLibrary(books: 3);
        Guid uuid;
        using (var pool = PersistentPool.Open(path, ToolHarness.Layout))
        {
            uuid = pool.Uuid;
        }

        var run = ToolHarness.Run("info", path, "--json");

        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Out);
        var root = json.RootElement;
        Assert.Equal(path, root.GetProperty("path").GetString());
        Assert.Equal(new FileInfo(path).Length, root.GetProperty("fileSize").GetInt64());
        Assert.Equal(0, root.GetProperty("logsAwaitingRecovery").GetInt32());

        var header = root.GetProperty("header");
        Assert.Equal(PoolLayoutVersion, header.GetProperty("formatVersion").GetUInt32());
        Assert.Equal(ToolHarness.Layout, header.GetProperty("layout").GetString());
        Assert.Equal(uuid, header.GetProperty("uuid").GetGuid());
        Assert.Equal("PowerFailure", header.GetProperty("durability").GetString());
        Assert.Equal(8, header.GetProperty("laneCount").GetInt32());
        Assert.Equal(192 * 1024, header.GetProperty("laneSize").GetInt32());
        Assert.Equal(12, header.GetProperty("logSlotsPerLane").GetInt32());
        Assert.Equal(0, header.GetProperty("growthLimit").GetInt64());
        Assert.True(header.GetProperty("checksumValid").GetBoolean());
        Assert.InRange(header.GetProperty("created").GetDateTime(), DateTime.UtcNow.AddMinutes(-10), DateTime.UtcNow.AddMinutes(1));

        var sizes = root.GetProperty("sizes");
        Assert.Equal(header.GetProperty("poolSize").GetInt64(), sizes.GetProperty("poolSize").GetInt64());
        Assert.True(sizes.GetProperty("allocatedBytes").GetInt64() > 0);
        Assert.True(sizes.GetProperty("freeChunkBytes").GetInt64() > 0);

        var counts = root.GetProperty("objects").EnumerateArray().ToDictionary(t => t.GetProperty("type").GetString()!, t => t);
        Assert.Equal(1, counts["tooltests.library"].GetProperty("count").GetInt64());
        Assert.Equal(3, counts["tooltests.book"].GetProperty("count").GetInt64());
        Assert.Equal(3 * Book.PersistentType.Size, counts["tooltests.book"].GetProperty("objectBytes").GetInt64());
        Assert.Equal(4, counts["string"].GetProperty("count").GetInt64()); // the name and three titles
        Assert.Equal(JsonValueKind.Null, counts["string"].GetProperty("objectBytes").ValueKind);
        Assert.Equal(sizes.GetProperty("objectCount").GetInt64(), counts.Values.Sum(t => t.GetProperty("count").GetInt64()));

        var library = root.GetProperty("storedTypes").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "tooltests.library");
        Assert.Equal(Library.PersistentType.Size, library.GetProperty("size").GetInt32());
        Assert.Equal(Library.PersistentType.LayoutHash.ToString("x16"), library.GetProperty("layoutHash").GetString());
        Assert.Equal(Library.PersistentType.TypeId.ToString("x16"), library.GetProperty("typeId").GetString());
        // Types are named by durable name, in the order first stored; the type table's numbering is not shown.
        Assert.False(library.TryGetProperty("index", out _));
        Assert.Equal(["tooltests.library", "tooltests.book"], root.GetProperty("storedTypes").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToArray());
        var fields = library.GetProperty("fields").EnumerateArray().Select(f => (f.GetProperty("offset").GetInt32(), f.GetProperty("kind").GetString()!)).ToList();
        Assert.Equal(Library.PersistentType.Fields.Select(f => (f.Offset, f.Kind.ToString().ToLowerInvariant())).ToList(), fields);
        var book = root.GetProperty("storedTypes").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "tooltests.book");
        Assert.Equal(1, book.GetProperty("version").GetInt32());
        Assert.Equal(
            Book.PersistentType.Properties.Select(p => (p.Name, p.StorageType, p.Offset)).ToList(),
            book.GetProperty("properties").EnumerateArray().Select(p => (p.GetProperty("name").GetString()!, p.GetProperty("storageType").GetString()!, p.GetProperty("offset").GetInt32())).ToList());
    }

    [Fact]
    public void Info_and_check_leave_a_closed_pool_byte_identical()
    {
        var path = _files.CreateLibrary();
        var before = ToolHarness.Hash(path);
        var modified = File.GetLastWriteTimeUtc(path);

        Assert.Equal(0, ToolHarness.Run("info", path).ExitCode);
        Assert.Equal(0, ToolHarness.Run("info", path, "--json").ExitCode);
        Assert.Equal(0, ToolHarness.Run("check", path).ExitCode);

        Assert.Equal(before, ToolHarness.Hash(path));
        Assert.Equal(modified, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void Info_counts_the_logs_of_a_pool_that_was_not_closed_and_leaves_the_file_unchanged()
    {
        // The bytes of a pool file while the pool is open after some commits: what a crash of the opener leaves.
        var path = _files.CrashImage("crashed.pool", books: 5);

        int expected;
        var copy = _files.PathOf("reference-copy.pool");
        ToolHarness.Copy(path, copy);
        using (var reopened = PersistentPool.Open(copy, ToolHarness.Layout))
        {
            expected = reopened.RecoveredTransactions;
        }

        var before = ToolHarness.Hash(path);

        var info = ToolHarness.Run("info", path, "--json");
        var check = ToolHarness.Run("check", path, "--json");

        Assert.Equal(0, info.ExitCode);
        Assert.Equal(0, check.ExitCode);
        Assert.True(expected > 0, "the image should hold committed logs awaiting recovery");
        Assert.Equal(expected, JsonDocument.Parse(info.Out).RootElement.GetProperty("logsAwaitingRecovery").GetInt32());
        Assert.Equal(expected, JsonDocument.Parse(check.Out).RootElement.GetProperty("logsAwaitingRecovery").GetInt32());
        Assert.Contains("awaiting recovery", ToolHarness.Run("info", path).Out);
        Assert.Equal(before, ToolHarness.Hash(path));
    }

    [Fact]
    public void Info_of_a_pool_open_elsewhere_is_refused_with_exit_2()
    {
        var path = _files.CreateLibrary();
        using var pool = PersistentPool.Open(path, ToolHarness.Layout);

        var run = ToolHarness.Run("info", path);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"already open by this process ({Environment.ProcessId})", run.Error); // the harness runs the tool in this process
        Assert.Contains("for writing", run.Error);
    }

    [Fact]
    public void Info_of_a_missing_file_exits_2_with_a_message_and_json_error()
    {
        var path = _files.PathOf("missing.pool");

        var run = ToolHarness.Run("info", path, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("cannot open", run.Error);
        Assert.Contains(path, run.Error);
        var error = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(path, error.GetProperty("path").GetString());
        Assert.Equal("FileNotFoundException", error.GetProperty("error").GetProperty("kind").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("error").GetProperty("message").GetString()));
    }

    [Fact]
    public void Json_keeps_the_characters_of_paths()
    {
        var path = _files.CreateLibrary("it's Müller.pool");

        var run = ToolHarness.Run("info", path, "--json");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("it's Müller.pool", run.Out);
        Assert.Equal(path, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
    }

    [Fact]
    public void Reading_needs_no_temporary_copy()
    {
        var path = _files.CreateLibrary();
        var temp = _files.PathOf("scratch");
        Directory.CreateDirectory(temp);

        var run = ToolHarness.Run("check", path, "--temp-dir", temp); // accepted, unused: the pool opens read-only in place

        Assert.Equal(0, run.ExitCode);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp));
    }
}
