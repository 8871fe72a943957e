// ParentWatch -- a child whose test process died ends too, instead of looping until the machine is rebooted.
namespace Pmem.CrashChild;

/// <summary>
/// The workloads run until their test kills them; a test runner killed first (a campaign stopped by hand, a CI
/// timeout) left them orphaned, one writing pools in a loop for hours. A background thread polls the parent process
/// id (Linux's <c>/proc/self/stat</c>) and ends this process when it changes.
/// </summary>
internal static class ParentWatch
{
    public static void Start()
    {
        if (ParentId() is not { } parent)
        {
            return; // not Linux: nothing to poll
        }

        var thread = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(500);
                if (ParentId() != parent)
                {
                    Environment.Exit(3);
                }
            }
        }) { IsBackground = true, Name = "parent watch" };
        thread.Start();
    }

    // Field 4 of /proc/self/stat, after the command name in parentheses (which may hold spaces).
    private static int? ParentId()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
