// CommandLineErrors -- the command line's own errors (unknown options, empty paths): one line each, and JSON with --json.
using System.CommandLine;
using System.CommandLine.Parsing;
using Pmem.Tool.Commands;
using Pmem.Tool.Output;

namespace Pmem.Tool;

/// <summary>Validates path arguments and reports parse errors, as text on stderr and, with <c>--json</c>, as the error document.</summary>
internal static class CommandLineErrors
{
    /// <summary>The <c>kind</c> of the error document for a command line the tool refuses.</summary>
    public const string Kind = "CommandLineError";

    /// <summary>
    /// Refuses an empty value of a path argument (<c>pmem info "$UNSET"</c>): .NET would throw on it deep inside a
    /// command, which the tool would report as an internal error.
    /// </summary>
    public static Argument<string> NotEmpty(this Argument<string> argument)
    {
        argument.Validators.Add(result => RejectEmpty(result, $"<{argument.Name}>"));
        return argument;
    }

    /// <inheritdoc cref="NotEmpty(Argument{string})"/>
    public static Option<string?> NotEmpty(this Option<string?> option)
    {
        option.Validators.Add(result => RejectEmpty(result, option.Name));
        return option;
    }

    /// <summary>
    /// Writes each error as "pmem &lt;command&gt;: message" to stderr, a usage hint unless every error is an empty path
    /// (which needs none), and with <c>--json</c> among <paramref name="args"/> the error document to stdout; returns
    /// <see cref="ExitCodes.CannotOpen"/>.
    /// </summary>
    public static int Report(ToolConsole console, Command root, ParseResult parse, IReadOnlyList<string> args)
    {
        var command = parse.CommandResult.Command;
        var name = command == root ? "pmem" : $"pmem {command.Name}";
        foreach (var error in parse.Errors)
        {
            console.Error.WriteLine($"{name}: {error.Message}");
        }

        if (!parse.Errors.All(IsEmptyPath))
        {
            console.Error.WriteLine($"Run '{name} --help' for usage.");
        }

        // The parse failed, so --json was not parsed either: a script that asked for JSON by the token gets it.
        if (args.Contains("--json"))
        {
            var path = parse.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).FirstOrDefault()?.Value;
            Failures.WriteError(console, path, Kind, string.Join("; ", parse.Errors.Select(e => e.Message)));
        }

        return ExitCodes.CannotOpen;
    }

    private static void RejectEmpty(SymbolResult result, string name)
    {
        if (result.Tokens.Any(t => t.Value.Length == 0))
        {
            result.AddError($"the path for {name} is empty");
        }
    }

    private static bool IsEmptyPath(ParseError error) =>
        error.SymbolResult is ArgumentResult or OptionResult && error.SymbolResult.Tokens.Any(t => t.Value.Length == 0);
}
