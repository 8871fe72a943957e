// ToolConsole -- where the tool writes, and whether it may use colour and show progress.
namespace Pmem.Tool.Output;

/// <summary>The tool's output streams and terminal abilities.</summary>
/// <param name="Out">Results (text or JSON).</param>
/// <param name="Error">Errors, warnings and progress.</param>
/// <param name="UseColor">Colour results: stdout is a terminal and <c>NO_COLOR</c> is unset or empty.</param>
/// <param name="ShowProgress">Show progress: stderr is a terminal.</param>
internal sealed record ToolConsole(TextWriter Out, TextWriter Error, bool UseColor, bool ShowProgress)
{
    /// <summary>
    /// The process's console, with colour and progress decided from the terminal and the environment. Results go
    /// through <see cref="StandardOutputStream"/>, so a closed stdout stops the tool (Console.Out would hide it).
    /// </summary>
    public static ToolConsole FromSystemConsole() => new(
        new StreamWriter(new StandardOutputStream(), OutputEncoding(), bufferSize: 4096) { AutoFlush = true },
        Console.Error,
        ShouldUseColor(outputIsTerminal: !Console.IsOutputRedirected, Environment.GetEnvironmentVariable("NO_COLOR")),
        ShowProgress: !Console.IsErrorRedirected);

    /// <summary>The console's encoding without a byte-order mark (a StreamWriter on a pipe would write one).</summary>
    private static System.Text.Encoding OutputEncoding() =>
        Console.OutputEncoding is { CodePage: 65001 } ? new System.Text.UTF8Encoding(false) : Console.OutputEncoding;

    /// <summary>The no-color.org rule: colour only on a terminal, and never when NO_COLOR is set to anything but empty.</summary>
    public static bool ShouldUseColor(bool outputIsTerminal, string? noColor) => outputIsTerminal && string.IsNullOrEmpty(noColor);

    /// <summary><paramref name="text"/> in green when colour is on.</summary>
    public string Good(string text) => Paint("32", text);

    /// <summary><paramref name="text"/> in red when colour is on.</summary>
    public string Bad(string text) => Paint("31", text);

    /// <summary><paramref name="text"/> in yellow when colour is on.</summary>
    public string Warn(string text) => Paint("33", text);

    /// <summary><paramref name="text"/> in bold when colour is on.</summary>
    public string Strong(string text) => Paint("1", text);

    private string Paint(string sgr, string text) => UseColor ? $"\e[{sgr}m{text}\e[0m" : text;
}
