// Failures -- how a command reports that it cannot open its input (exit code 2), as text or as JSON.
using System.Text.Json;
using Pmem.Pool;
using Pmem.Tool.Output;

namespace Pmem.Tool.Commands;

/// <summary>Reports failures to open or read a pool, the same way for every command.</summary>
internal static class Failures
{
    /// <summary>True for the failures that mean "cannot open": I/O (every pool error is one) and permissions.</summary>
    public static bool IsOpenFailure(Exception e) => e is IOException or UnauthorizedAccessException;

    /// <summary>
    /// Writes "pmem &lt;command&gt;: &lt;path&gt;: &lt;message&gt;" to stderr (plus a hint, if any), and with
    /// <paramref name="json"/> the <see cref="ErrorJson"/> to stdout; returns <see cref="ExitCodes.CannotOpen"/>.
    /// </summary>
    public static int Report(ToolConsole console, string command, string path, Exception e, bool json, string? hint = null, string failure = "cannot open")
    {
        var message = Describe(e, path);
        if (hint is not null)
        {
            message += "; " + hint;
        }

        console.Error.WriteLine($"pmem {command}: {console.Bad(failure)} {path}: {message}");
        if (json)
        {
            WriteError(console, path, e.GetType().Name, message);
        }

        return ExitCodes.CannotOpen;
    }

    /// <summary>
    /// Refuses a bad option value (<c>--size bad</c>): "pmem &lt;command&gt;: &lt;message&gt;" on stderr and, with
    /// <paramref name="json"/>, the <see cref="ErrorJson"/> of kind <see cref="CommandLineErrors.Kind"/> naming
    /// <paramref name="path"/>, the file the command was given; returns <see cref="ExitCodes.CannotOpen"/>.
    /// </summary>
    public static int ReportInput(ToolConsole console, string command, string path, string message, bool json)
    {
        console.Error.WriteLine($"pmem {command}: {message}");
        if (json)
        {
            WriteError(console, path, CommandLineErrors.Kind, message);
        }

        return ExitCodes.CannotOpen;
    }

    /// <summary>Writes the <see cref="ErrorJson"/> document to stdout: every failure with --json prints this one shape.</summary>
    public static void WriteError(ToolConsole console, string? path, string kind, string message) =>
        WriteJson(console, new ErrorJson(path, new ErrorDetailJson(kind, message)), ToolJsonContext.Output.ErrorJson);

    /// <summary>
    /// True for the failures of reading a pool's objects or an export: those of <see cref="IsOpenFailure"/>, an unknown
    /// type name, and a reference to an object of the wrong type.
    /// </summary>
    public static bool IsReadFailure(Exception e) => IsOpenFailure(e) || e is ArgumentException or Pmem.Objects.PersistentTypeMismatchException;

    /// <summary>The exception's message without the path prefix pool errors carry ("path: message").</summary>
    public static string Describe(Exception e, string path)
    {
        var message = e.Message;
        var prefix = (e is PoolException pool ? pool.PoolPath : path) + ": ";
        return message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : message;
    }

    /// <summary>Writes <paramref name="value"/> as indented JSON and a newline to stdout.</summary>
    public static void WriteJson<T>(ToolConsole console, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        console.Out.WriteLine(JsonSerializer.Serialize(value, type));
    }
}
