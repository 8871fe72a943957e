using System.Security.Cryptography;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tool.Tests;

/// <summary>What one in-process run of the tool printed and returned.</summary>
public sealed record ToolRun(int ExitCode, string Out, string Error);

/// <summary>A temporary directory of pool files, deleted at the end of the test, and the helpers the tests share.</summary>
public sealed class ToolHarness : IDisposable
{
    public const string Layout = "tool-tests";
    public const long PoolSize = 8 << 20;

    public ToolHarness()
    {
        Directory = Path.Combine(Path.GetTempPath(), "pmem-tool-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>Runs <c>pmem args...</c> in-process with plain output.</summary>
    public static ToolRun Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = PmemCli.Run(args, output, error);
        return new ToolRun(exit, output.ToString(), error.ToString());
    }

    /// <summary>
    /// Runs the built tool as its own process (the apphost next to the tests), as a user would: exit code, stdout and
    /// stderr, with a time limit so a hang fails the test instead of stalling the run.
    /// </summary>
    /// <summary>Runs another program (chown, stat) to its end; its standard output, or an assertion failure with its error.</summary>
    public static string RunProgram(string program, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)}: exit {process.ExitCode}: {error}");
        return output;
    }

    public static ToolRun RunProcess(params string[] args)
    {
        var exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "Pmem.Tool.exe" : "Pmem.Tool");
        var start = new System.Diagnostics.ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pmem {string.Join(' ', args)} did not finish in 2 minutes");
        }

        return new ToolRun(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>A closed pool: a library named "Tools" with <paramref name="books"/> books, the first one featured.</summary>
    public string CreateLibrary(string name = "library.pool", int books = 3)
    {
        var path = PathOf(name);
        using var pool = PersistentPool.Create(path, Layout, PoolSize);
        Fill(pool, books);
        return path;
    }

    /// <summary>
    /// A closed pool with one leak: the library's name string, its field zeroed by hand, so nothing holds the string
    /// (an object only All&lt;T&gt;() finds is not a leak). Returns the string's offset.
    /// </summary>
    public long CreateLibraryWithLeak(string name, int books = 1)
    {
        var path = CreateLibrary(name, books);
        long field;
        using (var pool = PersistentPool.Open(path, Layout))
        {
            field = pool.Root<Library>().Offset + Library.PersistentType.Fields.Single(f => f.Kind == PersistentFieldKind.String).Offset;
        }

        var leaked = BitConverter.ToInt64(ReadBytes(path), (int)field);
        Poke(path, field, new byte[8]);
        return leaked;
    }

    /// <summary>
    /// The bytes of a pool file while the pool is open after some commits (what a crash of the opener leaves: logs
    /// awaiting recovery) written to <paramref name="name"/>, after <paramref name="damage"/> changed them (if given).
    /// </summary>
    public string CrashImage(string name, int books, Action<Library, byte[]>? damage = null)
    {
        var path = PathOf(name);
        var live = PathOf("live-" + name); // the pool lives in a domain the test holds, so its live bytes can be read while it is open
        var domain = PmemMapping.Map(live, PoolSize, MapFlags.Create | MapFlags.Exclusive).CreateDomain(DurabilityMode.PowerFailure);
        using var pool = PersistentPool.Create(domain, Layout, description: live);
        var library = Fill(pool, books);
        var bytes = domain.GetSpan(0, checked((int)domain.Length)).ToArray();
        damage?.Invoke(library, bytes);
        TestFiles.WriteAllBytes(path, bytes);
        return path;
    }

    public static Library Fill(PersistentPool pool, int books)
    {
        var library = pool.Root<Library>();
        library.Name = "Tools";
        for (var i = 0; i < books; i++)
        {
            using var tx = pool.BeginTransaction();
            var book = pool.New<Book>();
            book.Title = $"Book {i}";
            book.Pages = 100 + i;
            library.Books.Add(book);
            if (i == 0)
            {
                library.Featured = book;
            }

            tx.Commit();
        }

        return library;
    }

    /// <summary>
    /// A pool at <paramref name="image"/> (and its log) as a kill -9 leaves one that commits through its write-ahead log:
    /// a pool made at <paramref name="path"/> is copied with its log while still open.
    /// </summary>
    public static void CrashImageWithWriteAheadLog(string path, string image, int books)
    {
        using var pool = PersistentPool.Create(path, Layout, PoolSize, new PoolCreateOptions { WriteAheadLog = true });
        Fill(pool, books);
        // cp reads without a lock (the pool holds its file's): the page cache as a kill -9 would leave it.
        foreach (var (from, to) in new[] { (path, image), (PersistentPool.WriteAheadLogPath(path), PersistentPool.WriteAheadLogPath(image)) })
        {
            using var copy = System.Diagnostics.Process.Start("cp", [from, to]);
            copy.WaitForExit();
            Assert.Equal(0, copy.ExitCode);
        }
    }

    public static string Hash(string path) => WhenUnlocked(() => Convert.ToHexString(SHA256.HashData(TestFiles.ReadAllBytes(path))));

    /// <summary>The file's bytes, read once no forked tool process holds a closed pool's lock (see <see cref="WhenUnlocked"/>).</summary>
    public static byte[] ReadBytes(string path) => WhenUnlocked(() => TestFiles.ReadAllBytes(path));

    /// <summary>Copies a pool file (File.Copy takes a shared lock of the source), once no forked tool process holds its lock.</summary>
    public static void Copy(string source, string destination) => WhenUnlocked(() =>
    {
        TestFiles.Copy(source, destination, overwrite: true); // a failed attempt may have created it
        return 0;
    });

    /// <summary>Cuts the file to <paramref name="length"/> bytes, once no forked tool process holds its lock.</summary>
    public static void Truncate(string path, long length) => WhenUnlocked(() =>
    {
        using var file = new FileStream(path, FileMode.Open);
        file.SetLength(length);
        return 0;
    });

    /// <summary>Writes <paramref name="value"/> at <paramref name="offset"/> of the file (damage made by hand).</summary>
    public static void Poke(string path, long offset, ReadOnlySpan<byte> value)
    {
        var bytes = value.ToArray();
        WhenUnlocked(() =>
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            file.Position = offset;
            file.Write(bytes);
            return 0;
        });
    }

    /// <summary>
    /// Runs a file access again while the file is locked: a tool process another test class forks at that moment holds
    /// copies of this process's descriptors, and with them a closed pool's lock, until it execs.
    /// </summary>
    private static T WhenUnlocked<T>(Func<T> access)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return access();
            }
            catch (IOException) when (attempt < 50)
            {
                Thread.Sleep(20);
            }
        }
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
