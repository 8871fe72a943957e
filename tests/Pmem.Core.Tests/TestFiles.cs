// TestFiles -- whole-file reads, writes and copies for tests, waiting out a lock a forked child briefly holds.
namespace Pmem.Tests;

/// <summary>
/// <see cref="File.ReadAllBytes"/>, <see cref="File.WriteAllBytes(string, byte[])"/> and <see cref="File.Copy(string, string, bool)"/>
/// for pool files. .NET takes a <c>flock</c> for each of them, and a pool closed a moment ago can still be locked by a
/// child that another test is starting (between fork and exec the child holds copies of every descriptor, the pool's
/// locked one too): the library waits such a copy out (<c>FileLockHolders</c>), and so do these.
/// </summary>
internal static class TestFiles
{
    private const int EWOULDBLOCK = 11;

    public static byte[] ReadAllBytes(string path) => PastForkedLocks(() => File.ReadAllBytes(path));

    public static void WriteAllBytes(string path, byte[] bytes) => PastForkedLocks(() =>
    {
        File.WriteAllBytes(path, bytes);
        return true;
    });

    public static void Copy(string source, string destination, bool overwrite = false) => PastForkedLocks(() =>
    {
        File.Copy(source, destination, overwrite);
        return true;
    });

    /// <summary>A new directory for a test's pool files: in /dev/shm where there is one (memory, fast), else the temporary folder.</summary>
    public static string NewScratchDirectory(string prefix) => Directory.CreateDirectory(
        Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}")).FullName;

    /// <summary>Runs <paramref name="io"/>, again after a short sleep while a lock refuses it (about 2 s in all).</summary>
    private static T PastForkedLocks<T>(Func<T> io)
    {
        for (var wait = 1; ; wait *= 2)
        {
            try
            {
                return io();
            }
            catch (IOException e) when (e.HResult == EWOULDBLOCK && wait <= 1024)
            {
                Thread.Sleep(wait);
            }
        }
    }
}
