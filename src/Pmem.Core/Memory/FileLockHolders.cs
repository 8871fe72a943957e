// FileLockHolders -- which processes hold a flock on a file, as Linux tells in /proc/locks, for "the pool is in use" errors.
using System.Globalization;
using System.Text;

namespace Pmem.Memory;

/// <summary>A process holding a lock on a file: its id, its command line (when readable) and whether it writes.</summary>
/// <param name="ProcessId">The holder's process id (0 when the kernel does not say, e.g. another PID namespace).</param>
/// <param name="CommandLine">The holder's command line from <c>/proc/&lt;pid&gt;/cmdline</c>, or null when unreadable.</param>
/// <param name="Exclusive">True for an exclusive (writer's) lock, false for a shared (reader's) one.</param>
public sealed record FileLockHolder(int ProcessId, string? CommandLine, bool Exclusive)
{
    /// <inheritdoc />
    public override string ToString()
    {
        var who = ProcessId == 0 ? "a process in another PID namespace"
            : ProcessId == Environment.ProcessId ? $"this process ({ProcessId})"
            : CommandLine is null ? $"process {ProcessId}" : $"process {ProcessId} ({CommandLine})";
        return Exclusive ? $"{who}, for writing" : $"{who}, read-only";
    }
}

/// <summary>Finds the holders of <c>flock</c> locks on a file through <c>/proc/locks</c> (Linux; empty elsewhere).</summary>
internal static class FileLockHolders
{
    private const int CommandLineLimit = 200;

    // The files this process holds a lock on, by device and inode: a lock of this process on any other file is a
    // released one that a child forked meanwhile still holds until it execs (its copy of the descriptor closes then).
    // A count per file: read-only mappings in one process may share a file's lock.
    private static readonly Dictionary<(uint Major, uint Minor, ulong Inode), int> s_heldHere = [];

    /// <summary>Records a lock this process took on the file open as <paramref name="fd"/>; returns its identity for <see cref="Released"/>.</summary>
    public static (uint, uint, ulong)? Held(int fd)
    {
        if (!OperatingSystem.IsLinux() || LibC.FileStatus(fd, out var info) != 0)
        {
            return null;
        }

        lock (s_heldHere)
        {
            var file = (info.DevMajor, info.DevMinor, info.Inode);
            s_heldHere[file] = s_heldHere.GetValueOrDefault(file) + 1;
        }

        return (info.DevMajor, info.DevMinor, info.Inode);
    }

    /// <summary>Forgets a lock recorded by <see cref="Held"/> once its descriptor is closed.</summary>
    public static void Released((uint, uint, ulong) file)
    {
        lock (s_heldHere)
        {
            if (s_heldHere.TryGetValue(file, out var count) && count > 1)
            {
                s_heldHere[file] = count - 1;
            }
            else
            {
                s_heldHere.Remove(file);
            }
        }
    }

    /// <summary>
    /// Whether a lock that refused the file open as <paramref name="fd"/> can only be a released lock of this process
    /// still held by a child it forked (between fork and exec, the child holds every descriptor): worth a short wait,
    /// where a lock another opener holds is not. Also true when nobody holds it any more (it was released since).
    /// </summary>
    public static bool MayBeForkedCopy(int fd) =>
        OperatingSystem.IsLinux() && LibC.FileStatus(fd, out var info) == 0 && MayBeForkedCopy(info);

    /// <summary><see cref="MayBeForkedCopy(int)"/> for the file at <paramref name="path"/> (one that could not be opened).</summary>
    public static bool MayBeForkedCopy(string path) =>
        OperatingSystem.IsLinux() && LibC.FileStatus(path, out var info) == 0 && MayBeForkedCopy(info);

    /// <summary>
    /// Runs <paramref name="tryLock"/> until it takes its lock, again after a short sleep while
    /// <paramref name="mayBeForkedCopy"/> says the refusing lock can only be a forked child's copy (about 2 s at most).
    /// </summary>
    /// <returns>True when the lock was taken; false when another opener holds it, or the copy outlived the wait.</returns>
    public static bool TryLockPastForkedCopies(Func<bool> tryLock, Func<bool> mayBeForkedCopy)
    {
        for (var wait = 1; ; wait *= 2)
        {
            if (tryLock())
            {
                return true;
            }

            if (wait > 1024 || !mayBeForkedCopy())
            {
                return false;
            }

            Thread.Sleep(wait);
        }
    }

    /// <summary>
    /// Opens <paramref name="path"/> as a <see cref="FileStream"/> under the <c>flock</c> .NET takes for it (shared
    /// unless <paramref name="share"/> is <see cref="FileShare.None"/>), waiting briefly like
    /// <see cref="TryLockPastForkedCopies"/> while a forked child's copy of a lock this process released refuses it.
    /// </summary>
    /// <returns>The file, or null when another opener's lock (an open pool's) refuses it.</returns>
    public static FileStream? Open(string path, FileAccess access, FileShare share, FileOptions options)
    {
        const int EWOULDBLOCK = 11;
        FileStream? opened = null;
        bool TryOpen()
        {
            try
            {
                opened = new FileStream(path, FileMode.Open, access, share, bufferSize: 0, options);
                return true;
            }
            catch (IOException e) when (e.HResult == EWOULDBLOCK)
            {
                return false;
            }
        }

        return TryLockPastForkedCopies(TryOpen, () => MayBeForkedCopy(path)) ? opened : null;
    }

    private static bool MayBeForkedCopy(LibC.FileInfo info)
    {
        lock (s_heldHere)
        {
            if (s_heldHere.ContainsKey((info.DevMajor, info.DevMinor, info.Inode)))
            {
                return false;
            }
        }

        try
        {
            // No holder at all: the lock went away since it refused (the child exec'd), so trying again is right too.
            foreach (var line in File.ReadLines("/proc/locks"))
            {
                if (Parse(line, info) is { } holder && holder.ProcessId != Environment.ProcessId)
                {
                    return false;
                }
            }

            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The processes holding a flock on <paramref name="path"/>; empty when none or when the OS does not say.</summary>
    public static IReadOnlyList<FileLockHolder> Of(string path)
    {
        try
        {
            if (!OperatingSystem.IsLinux() || LibC.FileStatus(path, out var info) != 0)
            {
                return [];
            }

            var holders = new List<FileLockHolder>();
            foreach (var line in File.ReadLines("/proc/locks"))
            {
                if (Parse(line, info) is { } holder && !holders.Contains(holder))
                {
                    holders.Add(holder);
                }
            }

            return holders;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // the report is a courtesy: an unreadable /proc leaves the plain message
        }
    }

    /// <summary>One line of /proc/locks, e.g. <c>1: FLOCK  ADVISORY  WRITE 4242 fe:00:11732894 0 EOF</c>, if it locks the file.</summary>
    private static FileLockHolder? Parse(string line, LibC.FileInfo file)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 6 || fields[1] != "FLOCK")
        {
            return null;
        }

        var id = fields[5].Split(':');
        if (id.Length != 3
            || !uint.TryParse(id[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var major)
            || !uint.TryParse(id[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var minor)
            || !ulong.TryParse(id[2], NumberStyles.None, CultureInfo.InvariantCulture, out var inode)
            || major != file.DevMajor || minor != file.DevMinor || inode != file.Inode
            || !int.TryParse(fields[4], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var pid))
        {
            return null;
        }

        return new FileLockHolder(Math.Max(pid, 0), pid > 0 ? CommandLineOf(pid) : null, fields[3] == "WRITE");
    }

    private static string? CommandLineOf(int pid)
    {
        try
        {
            var raw = File.ReadAllBytes($"/proc/{pid}/cmdline");
            var text = Encoding.UTF8.GetString(raw).TrimEnd('\0').Replace('\0', ' ');
            return text.Length == 0 ? null : text.Length <= CommandLineLimit ? text : text[..CommandLineLimit] + "…";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
