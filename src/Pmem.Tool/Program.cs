// Program -- the `pmem` executable: the process's console in, the exit code out.
using System.Runtime.InteropServices;
using Pmem.Memory;
using Pmem.Tool;
using Pmem.Tool.Output;

// Ctrl-C or a kill (SIGTERM) mid-command leaves none of the hidden files it was writing (a backup's, an export's, an
// import's, a repair's copy): the process then ends as the signal says (exit 130 or 143).
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => DurableFiles.DeleteUnfinished());
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => DurableFiles.DeleteUnfinished());

// Past `ulimit -f`, writes fail with "File too large" (exit 2, the file named) instead of the signal ending the tool.
FileSizeSignal.Ignore();
return PmemCli.Run(args, ToolConsole.FromSystemConsole());
