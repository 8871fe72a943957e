// Program -- the `pmem` executable: the process's console in, the exit code out.
using Pmem.Tool;
using Pmem.Tool.Output;

return PmemCli.Run(args, ToolConsole.FromSystemConsole());
