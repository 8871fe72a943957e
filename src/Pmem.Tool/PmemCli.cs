// PmemCli -- the `pmem` command tree (System.CommandLine) and the entry point tests call in-process.
using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;
using Pmem.Tool.Commands;
using Pmem.Tool.Output;

namespace Pmem.Tool;

/// <summary>The <c>pmem</c> command line: parses, dispatches, returns the exit code (see <see cref="ExitCodes"/>).</summary>
internal static class PmemCli
{
    /// <summary>Runs the tool with plain output (no colour, no progress): what tests call.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) =>
        Run(args, new ToolConsole(output, error, UseColor: false, ShowProgress: false));

    /// <summary>Runs the tool on <paramref name="console"/>.</summary>
    public static int Run(string[] args, ToolConsole console)
    {
        var root = Build(console);
        var parse = root.Parse(args);
        try
        {
            if (parse.Action is ParseErrorAction)
            {
                return CommandLineErrors.Report(console, root, parse, args);
            }

            return parse.Invoke(new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (OutputClosedException)
        {
            return ExitCodes.OutputClosed; // the reader has what it wanted (| head); nothing to say, as after SIGPIPE
        }
        catch (Exception e)
        {
            // Commands report every expected failure themselves; what gets here is a bug, and must not read as exit 1.
            console.Error.WriteLine($"pmem: internal error: {e}");
            return ExitCodes.InternalError;
        }
    }

    /// <summary>Builds the command tree, its actions writing to <paramref name="console"/>.</summary>
    internal static Command Build(ToolConsole console)
    {
        var json = new Option<bool>("--json") { Description = "Write the result as JSON to stdout (for scripts)." };
        var tempDir = new Option<string?>("--temp-dir")
        {
            Description = "Directory for temporary files (default: the system temporary directory): the private copy a repair dry run works on, and the JSON of dump --json until it is whole.",
            HelpName = "dir",
        }.NotEmpty();

        var infoPool = PoolArgument("The pool file to describe (only read).");
        var info = new Command("info", "Show a pool's header, sizes, objects per type, stored types and logs awaiting recovery. Never writes the file: it opens a private copy.")
        {
            infoPool, json, tempDir,
        };
        info.SetAction(parse => InfoCommand.Run(console, parse.GetValue(infoPool)!, parse.GetValue(json), parse.GetValue(tempDir)));

        var checkPool = PoolArgument("The pool file to check (only read).");
        var repair = new Option<bool>("--repair")
        {
            Description = "Say what a repair would do (a dry run on a private copy: the file is not written): free unreachable blocks, null dangling references, drop or recount damaged collections. Objects the root does not reach are kept (All<T>() finds them). Exit 0 nothing to do, 1 actions listed.",
        };
        var freeDetached = new Option<bool>("--free-detached")
        {
            Description = "With --repair: also free the objects the root does not reach, with what they hold, as leaks. Only for a program that finds its objects from the root, never by All<T>() or an index.",
        };
        var apply = new Option<bool>("--apply") { Description = "With --repair: copy the pool to a backup beside it first, then repair it. Exit 0 when it then checks clean." };
        var backupPath = new Option<string?>("--backup")
        {
            Description = "With --repair --apply: the backup file (default: <pool>.before-repair-<UTC yyyyMMddHHmmss>). It must not exist.",
            HelpName = "file",
        }.NotEmpty();
        var check = new Command("check", "Check a pool's object graph: references resolve, strings fit, each owned block has one owner, every block is found (from the root, or as an object All<T>() finds). Exit 0 clean, 1 problems found, 2 cannot open. Never writes the file, unless --repair --apply.")
        {
            checkPool, json, tempDir, repair, apply, backupPath, freeDetached,
        };
        check.Validators.Add(result =>
        {
            if (!result.GetValue(repair) && (result.GetValue(apply) || result.GetValue(backupPath) is not null || result.GetValue(freeDetached)))
            {
                result.AddError("--apply, --backup and --free-detached go with --repair.");
            }
            else if (result.GetValue(backupPath) is not null && !result.GetValue(apply))
            {
                // A dry run makes no backup: taking the option silently would let a script believe one was made.
                result.AddError("--backup goes with --repair --apply (a dry run makes no backup).");
            }
        });
        check.SetAction(parse => parse.GetValue(repair)
            ? RepairCommand.Run(console, parse.GetValue(checkPool)!, parse.GetValue(apply), parse.GetValue(backupPath), parse.GetValue(freeDetached), parse.GetValue(json), parse.GetValue(tempDir))
            : CheckCommand.Run(console, parse.GetValue(checkPool)!, parse.GetValue(json), parse.GetValue(tempDir)));

        var compactPool = PoolArgument("The pool file to compact; no process may have it open.");
        var compact = new Command("compact", "Defragment a pool and shrink its file: every block moves to a dense new layout (every reference rewritten) in a new file beside the pool, which is synced and renamed over it; a crash leaves the old pool or the new one. Reports the sizes before and after.")
        {
            compactPool, json,
        };
        compact.SetAction(parse => CompactCommand.Run(console, parse.GetValue(compactPool)!, parse.GetValue(json)));

        var backupPool = PoolArgument("The pool file to copy; no process may have it open.");
        var backupDestination = new Argument<string>("dest") { Description = "The new file (or a directory to copy into)." }.NotEmpty();
        var force = new Option<bool>("--force", "-f") { Description = "Replace the destination if it exists." };
        var backup = new Command("backup", "Copy a pool that no process has open to a new file, then check the copy as 'pmem check' does. Exit 0 only when the copy checks clean.")
        {
            backupPool, backupDestination, force, json, tempDir,
        };
        backup.SetAction(parse => BackupCommand.Run(console, parse.GetValue(backupPool)!, parse.GetValue(backupDestination)!, parse.GetValue(force), parse.GetValue(json), parse.GetValue(tempDir)));

        var dumpPool = PoolArgument("The pool file to show (only read).");
        var dumpType = new Option<string?>("--type") { Description = "Start from every object of this durable type name (as 'pmem info' lists them) instead of the root.", HelpName = "name" };
        var maxItems = new Option<int>("--max-items") { Description = "Items shown per collection in text (the rest are counted; --json lists all).", DefaultValueFactory = _ => 100, HelpName = "n" };
        var dump = new Command("dump", "Show the object graph from the root (or every object of a type) using the pool's stored schema: each object once with an id, later occurrences as '→ #id'. Never writes the file.")
        {
            dumpPool, dumpType, maxItems, json, tempDir,
        };
        dump.SetAction(parse => DumpCommand.Run(console, parse.GetValue(dumpPool)!, parse.GetValue(dumpType), parse.GetValue(json), parse.GetValue(maxItems), parse.GetValue(tempDir)));

        var exportPool = PoolArgument("The pool file to export (only read).");
        var exportFile = new Argument<string>("file.json") { Description = "The JSON file to write (format pmem-export/1, docs/tool.md)." }.NotEmpty();
        var exportForce = new Option<bool>("--force", "-f") { Description = "Replace the file if it exists." };
        var export = new Command("export", "Write every object of a pool, with its schema, root and layout name, to a JSON file that 'pmem import' turns back into a pool. Never writes the pool.")
        {
            exportPool, exportFile, exportForce, json, tempDir,
        };
        export.SetAction(parse => ExportCommand.Run(console, parse.GetValue(exportPool)!, parse.GetValue(exportFile)!, parse.GetValue(exportForce), parse.GetValue(json), parse.GetValue(tempDir)));

        var importFile = new Argument<string>("file.json") { Description = "A file written by 'pmem export'." }.NotEmpty();
        var importPool = new Argument<string>("pool") { Description = "The new pool file; must not exist." }.NotEmpty();
        var importSize = new Option<string?>("--size") { Description = "The new pool's size (bytes, or with K, M or G); default: the exported pool's size. It grows by itself up to four times that.", HelpName = "bytes" };
        var import = new Command("import", "Create a new pool from a 'pmem export' file: same layout, types, objects and root; it opens with the program's classes. A failed import leaves nothing behind.")
        {
            importFile, importPool, importSize, json,
        };
        import.SetAction(parse => ImportCommand.Run(console, parse.GetValue(importFile)!, parse.GetValue(importPool)!, parse.GetValue(importSize), parse.GetValue(json)));

        var lockPool = PoolArgument("The pool whose stored schema to lock (only read).");
        var lockFile = new Option<string?>("--output", "-o") { Description = "Write the lock file here (usually pmem.schema.json beside the project) instead of to stdout.", HelpName = "file" }.NotEmpty();
        var lockForce = new Option<bool>("--force", "-f") { Description = "Replace the file if it exists." };
        var schemaLock = new Command("schema-lock", "Write the schema lock file (pmem.schema.json, an AdditionalFiles item) recording every type the pool stores: name, version and properties. Later builds then warn (PMEM024) of class changes these pools cannot migrate by themselves. Never writes the pool.")
        {
            lockPool, lockFile, lockForce, json, tempDir,
        };
        schemaLock.SetAction(parse => SchemaLockCommand.Run(console, parse.GetValue(lockPool)!, parse.GetValue(lockFile), parse.GetValue(lockForce), parse.GetValue(json), parse.GetValue(tempDir)));

        // A named command rather than RootCommand, whose name is the executable's ("Pmem.Tool", or the test host's).
        return new Command("pmem", "Inspect, check, repair, back up, compact, dump, export and import Pmem.Objects pool files, and lock their schema. Exit codes: 0 ok, 1 problems found, 2 cannot open or bad input, 3 internal error, 141 stdout closed early.")
        {
            new HelpOption(), new VersionOption { Action = new PrintVersion(console) }, info, check, backup, compact, dump, export, import, schemaLock,
        };
    }

    /// <summary>The tool's own version (the default action prints the entry assembly's: the test host's, in tests).</summary>
    private sealed class PrintVersion(ToolConsole console) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var version = typeof(PmemCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            console.Out.WriteLine(version);
            return ExitCodes.Ok;
        }
    }

    private static Argument<string> PoolArgument(string description) => new Argument<string>("pool") { Description = description }.NotEmpty();
}
