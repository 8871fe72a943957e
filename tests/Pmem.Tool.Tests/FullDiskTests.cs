// Commands whose output file meets a full disk: "cannot write" naming the file its user knows, exit 2, nothing left behind.
using System.Diagnostics;
using System.Text.Json;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

/// <summary>
/// A small tmpfs filled to the last page stands for a full disk: the failure shows only once bytes are written, after
/// the file was made. Needs root, to mount it; skipped otherwise (CI runs as root).
/// </summary>
public sealed class FullDiskTests : IDisposable
{
    private readonly ToolHarness _files = new();
    private readonly DirectoryInfo _mount = Directory.CreateTempSubdirectory("pmem-full-");
    private bool _mounted;

    public void Dispose()
    {
        if (_mounted)
        {
            Run("umount", _mount.FullName);
        }

        _mount.Delete(recursive: true);
        _files.Dispose();
    }

    private static int Run(string command, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>Mounts a tmpfs of <paramref name="size"/>, copies <paramref name="onIt"/> there (if any), and fills it; returns its path.</summary>
    private string FullDisk(string size = "1M", string? onIt = null, bool fill = true)
    {
        Assert.SkipWhen(!OperatingSystem.IsLinux() || Environment.UserName != "root", "mounting a small tmpfs needs root");
        Assert.SkipWhen(Run("mount", $"-t tmpfs -o size={size} tmpfs {_mount.FullName}") != 0, "tmpfs cannot be mounted here");
        _mounted = true;
        if (onIt is not null)
        {
            File.Copy(onIt, Path.Combine(_mount.FullName, Path.GetFileName(onIt)));
        }

        if (!fill)
        {
            return _mount.FullName; // a small disk, not full yet
        }

        using var filler = new FileStream(Path.Combine(_mount.FullName, "filler"), FileMode.CreateNew);
        try
        {
            while (true)
            {
                filler.Write(new byte[4096]);
                filler.Flush();
            }
        }
        catch (IOException)
        {
            return _mount.FullName; // full
        }
    }

    [Fact]
    public void An_export_onto_a_full_disk_names_the_destination_and_leaves_no_file()
    {
        var path = _files.CreateLibrary(books: 40);
        var disk = FullDisk();
        var destination = Path.Combine(disk, "out.json");

        var run = ToolHarness.RunProcess("export", path, destination, "--json");

        Assert.Equal(2, run.ExitCode);
        var error = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem export: cannot write {destination}: ", error);
        Assert.Contains("No space left on device", error);
        Assert.DoesNotContain(".tmp", error);
        Assert.Equal(destination, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.Equal(["filler"], Directory.GetFiles(disk).Select(Path.GetFileName));
    }

    [Fact]
    public void A_json_dump_whose_temporary_file_meets_a_full_disk_names_the_directory()
    {
        var path = _files.CreateLibrary(books: 40);
        var disk = FullDisk();

        var run = ToolHarness.RunProcess("dump", path, "--json", "--temp-dir", disk);

        Assert.Equal(2, run.ExitCode);
        var error = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem dump: cannot write in {disk}: the temporary file for the JSON cannot be written: ", error);
        Assert.Contains("No space left on device", error);
        Assert.DoesNotContain(".pmem-dump-", error);
        Assert.Equal(disk, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.Equal(["filler"], Directory.GetFiles(disk).Select(Path.GetFileName));
    }

    [Fact]
    public void A_compaction_whose_new_file_meets_a_full_disk_names_that_file_and_leaves_the_pool_as_it_was()
    {
        var original = _files.CreateLibrary(books: 40);
        var disk = FullDisk("24M", original);
        var path = Path.Combine(disk, Path.GetFileName(original));
        var before = ToolHarness.RunProcess("dump", path).Out;

        var run = ToolHarness.RunProcess("compact", path);

        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"pmem compact: cannot write {path}.compacting: ", Assert.Single(run.Error.TrimEnd().Split('\n')));
        Assert.Equal(before, ToolHarness.RunProcess("dump", path).Out); // its objects as they were (its open may give empty runs back to free space)
        Assert.Equal(0, ToolHarness.RunProcess("check", path).ExitCode);
        Assert.Equal(["filler", Path.GetFileName(path)], Directory.GetFiles(disk).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void An_import_onto_a_full_disk_names_the_new_pool_and_leaves_no_file()
    {
        var export = _files.PathOf("library.json");
        Assert.Equal(0, ToolHarness.RunProcess("export", _files.CreateLibrary(books: 5), export).ExitCode);
        var disk = FullDisk();
        var destination = Path.Combine(disk, "new.pool");

        var run = ToolHarness.RunProcess("import", export, destination, "--json");

        Assert.Equal(2, run.ExitCode);
        var error = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem import: cannot write {destination}: ", error);
        Assert.DoesNotContain(".tmp", error);
        Assert.Equal(destination, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.Equal(["filler"], Directory.GetFiles(disk).Select(Path.GetFileName));
    }

    [Fact]
    public void An_import_whose_pool_cannot_grow_on_a_small_disk_names_the_new_pool_and_leaves_no_file()
    {
        // An outside tester's case: the growth's failure was reported as the export's ("cannot import <file>").
        var source = _files.PathOf("big.pool");
        using (var pool = PersistentPool.Create(source, ToolHarness.Layout, 64 << 20))
        {
            var library = pool.Root<Library>();
            for (var i = 0; i < 40; i++)
            {
                using var tx = pool.BeginTransaction();
                for (var j = 0; j < 50; j++)
                {
                    var book = pool.New<Book>();
                    book.Title = new string((char)('a' + j % 26), 2_000); // 4 KB a title: 8 MB in all
                    library.Books.Add(book);
                }

                tx.Commit();
            }
        }

        var export = _files.PathOf("big.json");
        Assert.Equal(0, ToolHarness.RunProcess("export", source, export).ExitCode);
        var disk = FullDisk("6M", fill: false);
        var destination = Path.Combine(disk, "new.pool");

        var run = ToolHarness.RunProcess("import", export, destination, "--size", "3M", "--json");

        Assert.Equal(2, run.ExitCode);
        var error = Assert.Single(run.Error.TrimEnd().Split('\n'));
        Assert.StartsWith($"pmem import: cannot write {destination}: ", error);
        Assert.DoesNotContain(".tmp", error);
        Assert.Equal(destination, JsonDocument.Parse(run.Out).RootElement.GetProperty("path").GetString());
        Assert.Empty(Directory.GetFiles(disk));
    }
}
