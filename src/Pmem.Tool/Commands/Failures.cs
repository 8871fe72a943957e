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
            WriteJson(console, new ErrorJson(path, new ErrorDetailJson(e.GetType().Name, message)), ToolJsonContext.Output.ErrorJson);
        }

        return ExitCodes.CannotOpen;
    }

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
