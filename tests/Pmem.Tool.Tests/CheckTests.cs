using System.Text.Json;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

public sealed class CheckTests : IDisposable
{
    private readonly ToolHarness _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Check_of_a_clean_pool_exits_0()
    {
        var path = _files.CreateLibrary();

        var run = ToolHarness.Run("check", path);

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        Assert.Contains("clean", run.Out);
    }

    [Fact]
    public async Task Check_waits_out_a_lock_of_this_process_that_no_open_pool_holds()
    {
        // What a tool process another thread forks holds from fork to exec: a closed pool's lock, with this process's id.
        var path = _files.CreateLibrary();
        var copyOfTheLock = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var release = Task.Run(async () =>
        {
            await Task.Delay(200);
            copyOfTheLock.Dispose();
        });

        var run = ToolHarness.Run("check", path);
        await release;

        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Error}");
        Assert.Contains("clean", run.Out);
    }

    [Fact]
    public void Check_json_of_a_clean_pool_has_the_documented_shape()
    {
        var path = _files.CreateLibrary(books: 2);

        var run = ToolHarness.Run("check", path, "--json");

        Assert.Equal(0, run.ExitCode);
        var root = JsonDocument.Parse(run.Out).RootElement;
        Assert.Equal(path, root.GetProperty("path").GetString());
        Assert.True(root.GetProperty("clean").GetBoolean());
        Assert.True(root.GetProperty("consistent").GetBoolean());
        Assert.Equal(root.GetProperty("allocatedObjects").GetInt64(), root.GetProperty("reachableObjects").GetInt64());
        Assert.True(root.GetProperty("allocatedObjects").GetInt64() >= 6); // library, name, 2 books, 2 titles (+ list blocks)
        Assert.Equal(0, root.GetProperty("logsAwaitingRecovery").GetInt32());
        Assert.Empty(root.GetProperty("errors").EnumerateArray());
        Assert.Empty(root.GetProperty("unreachable").EnumerateArray());
        Assert.Empty(root.GetProperty("detached").EnumerateObject());
    }

    [Fact]
    public void Check_reports_an_unreachable_block_with_exit_1()
    {
        var leaked = _files.CreateLibraryWithLeak("leak.pool");
        var path = _files.PathOf("leak.pool");

        var text = ToolHarness.Run("check", path);
        var json = ToolHarness.Run("check", path, "--json");

        Assert.Equal(1, text.ExitCode);
        Assert.Contains($"unreachable: the block at offset {leaked}", text.Out);
        Assert.Equal(1, json.ExitCode);
        var root = JsonDocument.Parse(json.Out).RootElement;
        Assert.False(root.GetProperty("clean").GetBoolean());
        Assert.True(root.GetProperty("consistent").GetBoolean());
        Assert.Equal([leaked], root.GetProperty("unreachable").EnumerateArray().Select(e => e.GetInt64()));
    }

    [Fact]
    public void Check_counts_objects_the_root_does_not_reach_as_detached_and_exits_0()
    {
        // A program that finds its objects by All<T>() (as Realm's users do) never links them from the root.
        var path = _files.PathOf("detached.pool");
        using (var pool = PersistentPool.Create(path, ToolHarness.Layout, ToolHarness.PoolSize))
        {
            ToolHarness.Fill(pool, books: 1);
            pool.New<Book>().Title = "found by All<Book>()";
            pool.New<Book>();
        }

        var text = ToolHarness.Run("check", path);
        var json = ToolHarness.Run("check", path, "--json");

        Assert.True(text.ExitCode == 0, text.Out + text.Error);
        Assert.Contains("reachable from the root, 3 detached, no errors", text.Out);
        Assert.Contains("detached: 1 string, 2 tooltests.book (the root does not reach them; All<T>() and indexes find them)", text.Out);
        Assert.Equal(0, json.ExitCode);
        var root = JsonDocument.Parse(json.Out).RootElement;
        Assert.True(root.GetProperty("clean").GetBoolean());
        Assert.Empty(root.GetProperty("unreachable").EnumerateArray());
        var detached = root.GetProperty("detached");
        Assert.Equal((2, 1), (detached.GetProperty("tooltests.book").GetInt64(), detached.GetProperty("string").GetInt64()));
        Assert.Equal(root.GetProperty("allocatedObjects").GetInt64(), root.GetProperty("reachableObjects").GetInt64() + 3);
    }

    [Fact]
    public void Check_reports_a_dangling_reference_in_a_damaged_copy_with_exit_1()
    {
        var path = _files.CreateLibrary();
        long field;
        using (var pool = PersistentPool.Open(path, ToolHarness.Layout))
        {
            var reference = Library.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.Reference);
            field = pool.Root<Library>().Offset + reference.Offset;
        }

        var damaged = _files.PathOf("damaged.pool");
        ToolHarness.Copy(path, damaged);
        ToolHarness.Poke(damaged, field, BitConverter.GetBytes(123L * 64)); // points into the header: no object there

        var run = ToolHarness.Run("check", damaged, "--json");

        Assert.Equal(1, run.ExitCode);
        var root = JsonDocument.Parse(run.Out).RootElement;
        Assert.False(root.GetProperty("consistent").GetBoolean());
        Assert.NotEmpty(root.GetProperty("errors").EnumerateArray());
        Assert.Equal(1, ToolHarness.Run("check", damaged).ExitCode);
        Assert.Contains("error:", ToolHarness.Run("check", damaged).Out);
    }

    [Fact]
    public void Check_of_a_pool_with_a_flipped_header_byte_exits_2_with_the_reason()
    {
        var path = _files.CreateLibrary();
        var damaged = _files.PathOf("header.pool");
        ToolHarness.Copy(path, damaged);
        ToolHarness.Poke(damaged, 40, [7]); // the durability mode, covered by the header checksum
        var before = ToolHarness.Hash(damaged);

        var run = ToolHarness.Run("check", damaged);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("checksum", run.Error);
        Assert.Equal(before, ToolHarness.Hash(damaged));
    }

    [Fact]
    public void Check_of_a_pool_with_damaged_heap_metadata_exits_2_or_1_with_a_message()
    {
        var path = _files.CreateLibrary();
        var damaged = _files.PathOf("heap.pool");
        ToolHarness.Copy(path, damaged);
        long heapStart;
        using (var json = JsonDocument.Parse(ToolHarness.Run("info", path, "--json").Out))
        {
            heapStart = json.RootElement.GetProperty("header").GetProperty("heapStart").GetInt64();
        }

        ToolHarness.Poke(damaged, heapStart, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]); // the first chunk header

        var run = ToolHarness.Run("check", damaged);

        Assert.InRange(run.ExitCode, 1, 2);
        Assert.NotEqual("", run.ExitCode == 2 ? run.Error : run.Out);
    }

    [Fact]
    public void Check_of_a_file_that_is_not_a_pool_exits_2()
    {
        var path = _files.PathOf("noise.bin");
        var noise = new byte[1 << 20];
        new Random(42).NextBytes(noise);
        TestFiles.WriteAllBytes(path, noise);

        var run = ToolHarness.Run("check", path, "--json");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("not a pool", run.Error);
        Assert.Equal("PoolCorruptedException", JsonDocument.Parse(run.Out).RootElement.GetProperty("error").GetProperty("kind").GetString());
    }

    [Fact]
    public void Check_of_a_truncated_pool_exits_2()
    {
        var path = _files.CreateLibrary();
        var truncated = _files.PathOf("truncated.pool");
        var bytes = ToolHarness.ReadBytes(path);
        TestFiles.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        var run = ToolHarness.Run("check", truncated);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("truncated", run.Error);
    }
}
