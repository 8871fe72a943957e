// FileSizeSignal -- SIGXFSZ ignored, so a write past the process's file-size limit fails with EFBIG instead of ending the process.
using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>
/// Under a file-size limit (<c>ulimit -f</c>, RLIMIT_FSIZE) Linux sends SIGXFSZ to a process that writes or extends a
/// file past it, and the signal's default action ends the process (exit 153) — mid-growth, mid-backup, leaving
/// temporary files. Ignored, the same call fails with EFBIG ("File too large"), which the library reports as an
/// exception naming the file. Set once, process-wide, before the library first creates, extends or writes a file
/// (documented in the README: a host that handles SIGXFSZ itself installs its handler after that).
/// </summary>
internal static partial class FileSizeSignal
{
    private const int SIGXFSZ = 25; // x86-64 and arm64 Linux alike
    private const nint SIG_IGN = 1;
    private static int _ignored;

    /// <summary>Ignores SIGXFSZ in this process (once; nothing elsewhere than Linux).</summary>
    public static void Ignore()
    {
        if (Volatile.Read(ref _ignored) == 0 && Interlocked.Exchange(ref _ignored, 1) == 0 && OperatingSystem.IsLinux())
        {
            SetHandler(SIGXFSZ, SIG_IGN);
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> is .NET's report of EFBIG from a file write: an ArgumentOutOfRangeException for the
    /// parameter "value" ("Specified file length was too large for the file system"), which a write past the
    /// file-size limit raises once the signal is ignored. Callers that write files treat it as the I/O failure it is.
    /// </summary>
    public static bool IsFileTooLarge(Exception e) => e is ArgumentOutOfRangeException { ParamName: "value" };

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint SetHandler(int signal, nint handler);
}
