// ExitCodes -- the tool's documented exit codes (docs/tool.md).
namespace Pmem.Tool;

/// <summary>Exit codes shared by every command.</summary>
internal static class ExitCodes
{
    /// <summary>Done, nothing wrong.</summary>
    public const int Ok = 0;

    /// <summary>The command ran and found problems (errors or unreachable blocks).</summary>
    public const int ProblemsFound = 1;

    /// <summary>The pool cannot be opened (missing, locked, not a pool, corrupted, unsupported version) or the command line is wrong.</summary>
    public const int CannotOpen = 2;

    /// <summary>An unexpected exception (a bug in the tool or the library): the exception goes to stderr.</summary>
    public const int InternalError = 3;

    /// <summary>
    /// Standard output was closed before the command finished (<c>pmem dump p | head</c>): 128 + SIGPIPE, what a shell
    /// reports for a program the signal ended, which .NET programs never receive (the runtime ignores it).
    /// </summary>
    public const int OutputClosed = 141;
}
