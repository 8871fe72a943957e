// DurableFiles (temporary files) -- the hidden files a new file is written into before its rename, and their cleanup after a kill or a signal.
using System.Collections.Concurrent;
using System.Text;

namespace Pmem.Memory;

internal static partial class DurableFiles
{
    /// <summary>Bytes of the destination's name a temporary name keeps: with its dot, tag, guid and suffix it stays under NAME_MAX (255).</summary>
    private const int KeptNameBytes = 180;

    /// <summary>Temporary files this process is writing (made, not yet published or deleted): what a signal's handler deletes.</summary>
    private static readonly ConcurrentDictionary<string, byte> s_unfinished = new(StringComparer.Ordinal);

    /// <summary>
    /// A hidden, unique path in <paramref name="path"/>'s directory for the file that is written whole and then renamed
    /// over it: <c>.&lt;name&gt;.[&lt;purpose&gt;-]&lt;guid&gt;.tmp</c> (a long name shortened, so that any name a
    /// destination may have leaves room for it). Tracked until <see cref="Publish"/> renames it (see <see cref="DeleteUnfinished"/>).
    /// </summary>
    public static string TemporaryBeside(string path, string? purpose = null)
    {
        FileSizeSignal.Ignore(); // a copy past `ulimit -f` fails with EFBIG (and is deleted) instead of ending the process
        var temporary = TemporaryPrefix(path, purpose is null ? "" : purpose + "-") + $"{Guid.NewGuid():N}.tmp";
        Track(temporary);
        return temporary;
    }

    /// <summary>
    /// Deletes the temporary files of <paramref name="purpose"/> beside <paramref name="path"/> (<see cref="TemporaryBeside"/>)
    /// that a killed writer left, each only if its lock can be taken: a writer at work holds its file's lock (a pool's).
    /// </summary>
    public static void DeleteAbandonedBeside(string path, string purpose)
    {
        var prefix = TemporaryPrefix(path, purpose + "-");
        var directory = Path.GetDirectoryName(prefix)!;
        if (!Directory.Exists(directory))
        {
            return; // the writer reports the missing directory
        }

        foreach (var file in Directory.EnumerateFiles(directory, Path.GetFileName(prefix) + "*.tmp"))
        {
            try
            {
                using var held = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.None); // flock: refused while its writer lives
                File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // in use, or not ours to delete: left as it is
            }
        }
    }

    /// <summary>
    /// Deletes a file a failed operation was writing. Never throws: a file that cannot be deleted (its directory gone or
    /// read-only, so it was never made either) must not hide the failure that matters.
    /// </summary>
    public static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the caller's exception is the one to report
        }
    }

    /// <summary>Marks <paramref name="path"/> as a file this process is writing and must not leave behind if it is stopped.</summary>
    public static void Track(string path) => s_unfinished.TryAdd(path, 0);

    /// <summary>Marks <paramref name="path"/> as published or deleted.</summary>
    public static void Finished(string path) => s_unfinished.TryRemove(path, out _);

    /// <summary>
    /// Deletes every tracked file this process is still writing: for a tool's SIGINT/SIGTERM handler, so that an
    /// interrupted backup, export, import or repair leaves no hidden copy of a pool behind. Never throws.
    /// </summary>
    public static void DeleteUnfinished()
    {
        foreach (var path in s_unfinished.Keys)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone already, or not ours to delete
            }

            Finished(path);
        }
    }

    /// <summary>The full path of a temporary name up to its guid: the directory, a dot, the name (shortened), a dot, the tag.</summary>
    private static string TemporaryPrefix(string path, string tag)
    {
        var full = Path.GetFullPath(path);
        var name = Path.GetFileName(full);
        if (Encoding.UTF8.GetByteCount(name) > KeptNameBytes)
        {
            var length = name.Length;
            while (Encoding.UTF8.GetByteCount(name.AsSpan(0, length)) > KeptNameBytes || char.IsHighSurrogate(name[length - 1]))
            {
                length--;
            }

            name = name[..length];
        }

        return Path.Combine(Path.GetDirectoryName(full)!, $".{name}.{tag}");
    }
}
