// StandardOutputStream -- stdout as a stream that says when its reader has gone (EPIPE), which Console.Out hides.
using System.Runtime.InteropServices;

namespace Pmem.Tool.Output;

/// <summary>
/// File descriptor 1, written with <c>write(2)</c>. <see cref="Console.Out"/> treats EPIPE as success, so
/// <c>pmem dump big.pool | head -1</c> would run to the end of the pool writing into nothing; this stream throws
/// <see cref="OutputClosedException"/> instead, and the tool stops. It writes at the descriptor's own offset (no
/// <c>pwrite</c>, unlike a <see cref="FileStream"/> on the handle), so <c>&gt;&gt;</c> and a shell's shared offset
/// (<c>{ pmem info p; echo; } &gt; f</c>) work as with any program.
/// </summary>
internal sealed partial class StandardOutputStream : WriteOnlyStream
{
    private const int StdoutFd = 1;
    private const int EINTR = 4;
    private const int EAGAIN = 11;
    private const int EPIPE = 32;

    /// <exception cref="OutputClosedException">The reading end is closed (EPIPE).</exception>
    /// <exception cref="IOException">Any other write error.</exception>
    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            var done = 0;
            while (done < buffer.Length)
            {
                var written = WriteFd(StdoutFd, start + done, (nint)(buffer.Length - done));
                if (written >= 0)
                {
                    done += (int)written;
                    continue;
                }

                var error = Marshal.GetLastPInvokeError();
                if (error == EINTR)
                {
                    continue;
                }

                if (error == EAGAIN)
                {
                    Thread.Sleep(1); // a non-blocking descriptor the shell handed over: wait for room
                    continue;
                }

                throw error == EPIPE
                    ? new OutputClosedException()
                    : new IOException($"cannot write to standard output: {Marshal.GetPInvokeErrorMessage(error)}", error);
            }
        }
    }

    public override void Flush()
    {
    }

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint WriteFd(int fd, byte* buffer, nint count);
}

/// <summary>
/// Standard output's reader has gone (<c>| head</c> had its line): the command stops and the tool exits with
/// <see cref="ExitCodes.OutputClosed"/>, silently, as a program killed by SIGPIPE would. Not an
/// <see cref="IOException"/>, so the commands' "cannot open" handlers let it through.
/// </summary>
internal sealed class OutputClosedException() : Exception("standard output was closed");
