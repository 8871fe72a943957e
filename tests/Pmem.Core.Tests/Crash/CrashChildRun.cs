using System.Diagnostics;

namespace Pmem.Tests.Crash;

/// <summary>Runs the crash child (<c>tests/Pmem.CrashChild</c>) to its end: for workloads whose failure could be a fault that would end this test run.</summary>
internal static class CrashChildRun
{
    /// <summary>Runs the child with <paramref name="arguments"/>; fails the test if it does not end within <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string Output, string Error) Run(TimeSpan timeout, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ProcessKillTests.ChildPath());
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var child = Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
        var error = child.StandardError.ReadToEndAsync();
        var output = child.StandardOutput.ReadToEnd();
        Assert.True(child.WaitForExit(timeout), "the child did not finish");
        return (child.ExitCode, output, error.Result);
    }
}
