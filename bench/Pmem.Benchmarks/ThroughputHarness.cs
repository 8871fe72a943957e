// ThroughputHarness -- total transactions per second with T threads on disjoint data, each place in its own process.
using System.Diagnostics;
using System.Globalization;
using Pmem.Memory;

namespace Pmem.Benchmarks;

/// <summary>
/// T threads each run transfer transactions (read two balances, write two) between their own accounts, nothing shared;
/// the figure is the total transactions per second. BenchmarkDotNet measures one operation at a time, so this is a
/// plain harness: every round runs each T for a few seconds after a warm-up at the largest T and at T=1 (at least
/// 2 s each), and the table shows the median and range of the rounds.
/// </summary>
/// <remarks>
/// Each (place, round, build) runs in a child process with its own environment (<c>PMEM_IS_PMEM_FORCE=1</c> only for
/// the pmem place), so an A/B comparison alternates builds round by round in the same minutes:
/// <c>--throughput --builds A=/tmp/a/Pmem.Benchmarks,B=/tmp/b/Pmem.Benchmarks</c>. Worker threads live for the whole
/// child (lanes are biased to their first thread; new threads every round would revoke every bias).
/// </remarks>
internal static class ThroughputHarness
{
    private static readonly string[] AllPlaces = ["shm-pf", "shm-pc", "disk-pf", "disk-wal", "disk-sqlite", "disk-lmdb"];

    public static void Run(string[] args)
    {
        var child = Array.IndexOf(args, "--throughput-child");
        if (child >= 0)
        {
            RunChild(args[child + 1], args[child + 2] == "alloc", ParseThreads(args[child + 3]), Seconds(args[child + 4]));
            return;
        }

        var threads = ParseThreads(Option(args, "--threads") ?? "1,2,4,8");
        var rounds = int.Parse(Option(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        var seconds = Option(args, "--seconds") ?? "2";
        var places = (Option(args, "--places") ?? string.Join(',', AllPlaces)).Split(',');
        if (!LmdbSorted.IsAvailable && places.Any(place => place.EndsWith("-lmdb", StringComparison.Ordinal)))
        {
            // LightningDB's finalizer ends the process when its environment never opened: skip LMDB rather than crash.
            Console.WriteLine($"NOTE {LmdbSorted.Status}");
            places = [.. places.Where(place => !place.EndsWith("-lmdb", StringComparison.Ordinal))];
        }

        var workloads = (Option(args, "--workloads") ?? "transfer,alloc").Split(',');
        var builds = (Option(args, "--builds") ?? "this=" + Environment.ProcessPath)
            .Split(',').Select(b => b.Split('=', 2)).Select(b => (Name: b[0], Exe: b[1])).ToArray();

        Console.WriteLine($"# throughput: {Environment.ProcessorCount} cpus, {rounds} rounds x {seconds} s per T, loadavg at start {LoadAverage()}");
        foreach (var workload in workloads)
        {
            foreach (var place in places)
            {
                var results = builds.ToDictionary(b => b.Name, _ => new Dictionary<int, List<double>>());
                var cpuPerTransaction = builds.ToDictionary(b => b.Name, _ => new Dictionary<int, List<double>>());
                var notes = new List<string>();
                for (var round = 0; round < rounds; round++)
                {
                    foreach (var (name, exe) in builds)
                    {
                        var load = LoadAverage();
                        foreach (var line in RunProcess(exe, place, workload, threads, seconds))
                        {
                            var parts = line.Split(' ');
                            if (parts[0] == "RESULT")
                            {
                                var t = int.Parse(parts[1], CultureInfo.InvariantCulture);
                                var perSecond = double.Parse(parts[2], CultureInfo.InvariantCulture);
                                var cpuNanoseconds = double.Parse(parts[3], CultureInfo.InvariantCulture);
                                (results[name].TryGetValue(t, out var list) ? list : results[name][t] = []).Add(perSecond);
                                (cpuPerTransaction[name].TryGetValue(t, out var cpuList) ? cpuList : cpuPerTransaction[name][t] = []).Add(cpuNanoseconds);
                                Console.Error.WriteLine($"  {workload} {place} {name} round {round + 1} T={t}: {Format(perSecond)} tx/s, {cpuNanoseconds:F0} ns CPU/tx (load {load}) {string.Join(' ', parts.Skip(4))}");
                            }
                            else if (parts[0] == "NOTE")
                            {
                                notes.Add($"{name}: {line[5..]}");
                            }
                        }
                    }
                }

                PrintTable(workload, place, threads, results, notes);
                PrintCpuTable(threads, cpuPerTransaction);
            }
        }

        Console.WriteLine($"# loadavg at end {LoadAverage()}");
    }

    private static void PrintTable(string workload, string place, int[] threads, Dictionary<string, Dictionary<int, List<double>>> results, List<string> notes)
    {
        Console.WriteLine();
        Console.WriteLine($"## {workload}, {place}");
        Console.WriteLine($"| build | {string.Join(" | ", threads.Select(t => $"T={t}"))} |");
        Console.WriteLine($"|---|{string.Concat(threads.Select(_ => "---:|"))}");
        foreach (var (name, byThreads) in results)
        {
            var baseline = byThreads.TryGetValue(threads[0], out var first) ? Median(first) : double.NaN;
            var cells = threads.Select(t => byThreads.TryGetValue(t, out var v)
                ? $"{Format(Median(v))} ({Format(v.Min())}–{Format(v.Max())}) {Median(v) / baseline:F2}×"
                : "–");
            Console.WriteLine($"| {name} | {string.Join(" | ", cells)} |");
        }

        if (results.Count == 2)
        {
            var (a, b) = (results.First().Value, results.Last().Value);
            var ratios = threads.Select(t => a.TryGetValue(t, out var x) && b.TryGetValue(t, out var y) ? $"{Median(y) / Median(x):F2}" : "–");
            Console.WriteLine($"| {results.Last().Key}/{results.First().Key} | {string.Join(" | ", ratios)} |");
        }

        foreach (var note in notes.Distinct())
        {
            Console.WriteLine($"- {note}");
        }
    }

    /// <summary>
    /// Process CPU time per transaction (median of rounds): on a machine shared with other jobs, threads that get no core
    /// lower the throughput but not this; contention for cache lines or locks raises it.
    /// </summary>
    private static void PrintCpuTable(int[] threads, Dictionary<string, Dictionary<int, List<double>>> cpu)
    {
        Console.WriteLine();
        Console.WriteLine($"| CPU ns per tx | {string.Join(" | ", threads.Select(t => $"T={t}"))} |");
        Console.WriteLine($"|---|{string.Concat(threads.Select(_ => "---:|"))}");
        foreach (var (name, byThreads) in cpu)
        {
            Console.WriteLine($"| {name} | {string.Join(" | ", threads.Select(t => byThreads.TryGetValue(t, out var v) ? $"{Median(v):F0} ({v.Min():F0}–{v.Max():F0})" : "–"))} |");
        }
    }

    private static IEnumerable<string> RunProcess(string exe, string place, string workload, int[] threads, string seconds)
    {
        var start = new ProcessStartInfo(exe, ["--throughput-child", place, workload, string.Join(',', threads), seconds])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("PMEM_IS_PMEM_FORCE");
        if (place == "shm-pf")
        {
            start.Environment["PMEM_IS_PMEM_FORCE"] = "1";
        }

        using var process = Process.Start(start)!;
        var lines = new List<string>();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{exe} {place} {workload} exited with {process.ExitCode}");
        }

        return lines;
    }

    /// <summary>One place, one round of every T (after a discarded warm-up), in this process.</summary>
    private static void RunChild(string place, bool allocate, int[] threads, TimeSpan seconds)
    {
        var max = threads.Max();
        using var system = MakeSystem(place, max);
        using var workers = new ThroughputWorkers(system, max, allocate);
        // JIT tiers, arenas' runs, lane biases. The allocating workload needed 2-3 s on the loaded machine before its
        // cost per transaction settled (its first 1 s round cost 9x a later one), so the warm-up is not short.
        var warmup = TimeSpan.FromSeconds(Math.Max(2, seconds.TotalSeconds));
        workers.RunRound(max, warmup);
        workers.RunRound(1, warmup);
        system.RoundNote(1);
        foreach (var t in threads)
        {
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var (allocatedBefore, collectionsBefore) = (GC.GetTotalAllocatedBytes(), GC.CollectionCount(0));
            var (transactions, elapsed) = workers.RunRound(t, seconds);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var managed = FormattableString.Invariant($"{(double)(GC.GetTotalAllocatedBytes() - allocatedBefore) / Math.Max(1, transactions):F0}B/tx,{GC.CollectionCount(0) - collectionsBefore}gc0");
            var note = system.RoundNote(transactions) is { } systemNote ? $"{systemNote} {managed}" : managed;
            Console.WriteLine(FormattableString.Invariant($"RESULT {t} {transactions / elapsed.TotalSeconds:F0} {cpu.TotalNanoseconds / Math.Max(1, transactions):F0} {note}"));
        }

        Console.WriteLine($"NOTE {place}: {Describe(system)}");
    }

    private static IThroughputSystem MakeSystem(string place, int threads)
    {
        var shm = BenchPools.ShmDirectory;
        var disk = BenchPools.DiskDirectory;
        return place switch
        {
            "shm-pf" => new PoolSystem(Quiet(() => BenchPools.CreateAnonymous(shm, "tput", 64L << 20))),
            "shm-pc" => new PoolSystem(Quiet(() => BenchPools.CreateAnonymous(shm, "tput", 64L << 20, DurabilityMode.ProcessCrash))),
            "disk-pf" => new PoolSystem(Quiet(() => BenchPools.CreateAnonymous(disk, "tput", 64L << 20))),
            "disk-wal" => new PoolSystem(Quiet(() => BenchPools.CreateAnonymous(disk, "tput", 64L << 20, writeAheadLog: true))),
            "shm-wal" => new PoolSystem(Quiet(() => BenchPools.CreateAnonymous(shm, "tput", 64L << 20, writeAheadLog: true))),
            "disk-sqlite" => new SqliteSystem(disk, threads),
            "shm-sqlite" => new SqliteSystem(shm, threads),
            "disk-lmdb" => new LmdbSystem(disk, threads),
            "shm-lmdb" => new LmdbSystem(shm, threads),
            _ => throw new ArgumentException($"unknown place {place}; known: {string.Join(", ", AllPlaces)}, shm-wal, shm-sqlite, shm-lmdb"),
        };
    }

    private static string Describe(IThroughputSystem system) => system switch
    {
        PoolSystem pool => $"{pool.Domain}, engine {LibPmem.ActiveFlushPath}",
        _ => system.GetType().Name,
    };

    /// <summary>Creates a pool with BenchPools' setup line kept off stdout (the parent reads stdout).</summary>
    private static T Quiet<T>(Func<T> make)
    {
        var output = Console.Out;
        Console.SetOut(Console.Error);
        try
        {
            return make();
        }
        finally
        {
            Console.SetOut(output);
        }
    }

    private static string? Option(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static int[] ParseThreads(string list) => list.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();

    private static TimeSpan Seconds(string s) => TimeSpan.FromSeconds(double.Parse(s, CultureInfo.InvariantCulture));

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Format(double perSecond) => perSecond >= 1e6
        ? (perSecond / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M"
        : perSecond.ToString("N0", CultureInfo.InvariantCulture);

    private static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}

/// <summary>Long-lived worker threads: a round starts the first T of them, lets them run, stops them and counts.</summary>
internal sealed class ThroughputWorkers : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _start;
    private readonly long[] _counts;
    private readonly CountdownEvent _done = new(0);
    private volatile bool _stop;
    private volatile bool _exit;

    public ThroughputWorkers(IThroughputSystem system, int count, bool allocate)
    {
        _threads = new Thread[count];
        _start = new SemaphoreSlim[count];
        _counts = new long[count * 8]; // one line each
        using var ready = new CountdownEvent(count);
        for (var i = 0; i < count; i++)
        {
            var index = i;
            _start[i] = new SemaphoreSlim(0);
            _threads[i] = new Thread(() =>
            {
                var worker = system.NewWorker(index, allocate);
                ready.Signal();
                Loop(index, worker);
            }) { IsBackground = true, Name = $"tput-{i}" };
            _threads[i].Start();
        }

        ready.Wait();
    }

    public (long Transactions, TimeSpan Elapsed) RunRound(int threads, TimeSpan duration)
    {
        _stop = false;
        _done.Reset(threads);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < threads; i++)
        {
            _start[i].Release();
        }

        Thread.Sleep(duration);
        _stop = true;
        _done.Wait();
        var elapsed = clock.Elapsed;
        long total = 0;
        for (var i = 0; i < threads; i++)
        {
            total += _counts[i * 8];
        }

        return (total, elapsed);
    }

    public void Dispose()
    {
        _exit = true;
        foreach (var start in _start)
        {
            start.Release();
        }

        foreach (var thread in _threads)
        {
            thread.Join();
        }
    }

    private void Loop(int index, IThroughputWorker worker)
    {
        while (true)
        {
            _start[index].Wait();
            if (_exit)
            {
                return;
            }

            long count = 0;
            while (!_stop)
            {
                worker.Transaction();
                count++;
            }

            _counts[index * 8] = count;
            _done.Signal();
        }
    }
}
