using System.Globalization;
using System.Text;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.CrashChild;

/// <summary>
/// The multi-threaded workload: <c>Pmem.CrashChild &lt;pool&gt; &lt;mode&gt; --threads N [--check]</c> (options: see
/// <see cref="Run"/>). <c>MultiThreadKillTests</c> runs it, kills it with SIGKILL and runs the check.
/// </summary>
/// <remarks>
/// Each of N threads owns 4 accounts and its own <see cref="WorkerState"/>, and loops on one transaction that moves
/// money between two of its accounts, allocates a <see cref="Transfer"/>, deletes the thread's previous one, bumps the
/// thread's commit counter and appends the transfer's id (thread * 10^12 + counter) to the thread's own id list; every
/// <see cref="ClearEvery"/> ids the list is cleared, at random in the same transaction (before the append), in a
/// transaction of its own, or with a bare <see cref="PersistentList{T}.Clear"/>. Threads share no object, only the
/// heap and the lanes.
/// Check mode opens the pool (recovery), runs <see cref="PersistentPool.Check"/> and the invariants, then runs more of
/// the workload on the recovered pool (a Clear of every list first) to surface latent heap damage, checks again,
/// reopens the pool and checks a third time. It prints "ok &lt;total commits&gt; commits=c0,c1,.. recovered=.." or
/// "broken: ..." (exit code 1).
/// With <c>--wal</c> the pool commits through a write-ahead log file (<see cref="PoolOpenOptions.WriteAheadLog"/>):
/// created and opened with the option by the workload, replayed by the check's plain opens.
/// </remarks>
internal static class ThreadedWorkload
{
    public const long IdBase = 1_000_000_000_000;
    public const int AccountsPerThread = 4;
    public const long InitialBalance = 1000;
    public const long PoolSize = 8 << 20;

    /// <summary>Transactions each thread runs in check mode after recovery.</summary>
    private const int CheckTransactionsPerThread = 600;

    /// <summary>Ids a list holds before it is cleared (<c>--clear-every N</c>; the same for the run and the check).</summary>
    private static int ClearEvery = 256;

    /// <summary>How a due Clear runs (<c>--clear same|own|bare|random</c>): -1 at random, else a fixed variant.</summary>
    private static int ClearVariant = -1;

    /// <summary>Commit through a write-ahead log file (<c>--wal</c>): the pool is created and opened with the option.</summary>
    private static bool WriteAheadLog;

    /// <summary>
    /// <c>args</c>: <c>&lt;pool&gt; &lt;mode&gt; --threads N [--clear-every N] [--clear same|own|bare|random]
    /// [--stop-after MS] [--wal] [--check]</c>. Pass the same --threads and --clear-every to the run and to its check. Without
    /// --check it prints "ready" once the threads run, and runs until killed (or, with --stop-after, stops the threads
    /// after MS milliseconds, closes the pool and prints "stopped": a control run without a crash).
    /// </summary>
    public static int Run(string path, DurabilityMode mode, string[] args)
    {
        string? Option(string name) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;
        var threads = int.Parse(Option("--threads") ?? "4", CultureInfo.InvariantCulture);
        ClearEvery = int.Parse(Option("--clear-every") ?? "256", CultureInfo.InvariantCulture);
        ClearVariant = Array.IndexOf(["same", "own", "bare", "random"], Option("--clear") ?? "random") switch
        {
            3 => -1,
            var v and >= 0 => v,
            _ => throw new ArgumentException($"--clear {Option("--clear")}: same, own, bare or random"),
        };
        WriteAheadLog = args.Contains("--wal");
        if (threads is < 1 or > 64 || ClearEvery < 1)
        {
            Console.WriteLine($"broken: bad arguments {string.Join(' ', args)}");
            return 2;
        }

        if (args.Contains("--check"))
        {
            return Check(path, threads);
        }

        var stopAfter = Option("--stop-after") is { } ms ? int.Parse(ms, CultureInfo.InvariantCulture) : -1;
        return Work(path, mode, threads, stopAfter);
    }

    // ---------------------------------------------------------------- running until killed

    /// <summary>Runs until killed, or with <c>--stop-after MS</c> stops the threads, closes the pool and exits (a control run).</summary>
    private static int Work(string path, DurabilityMode mode, int threads, int stopAfter)
    {
        var stop = false;
        var pool = File.Exists(path)
            ? PersistentPool.Open(path, ThreadedBank.Layout, WriteAheadLog ? new PoolOpenOptions { WriteAheadLog = true } : null)
            : PersistentPool.Create(path, ThreadedBank.Layout, PoolSize, new PoolCreateOptions { Durability = mode, WriteAheadLog = WriteAheadLog });
        var bank = Setup(pool, threads);
        var workers = new Thread[threads];
        for (var t = 0; t < threads; t++)
        {
            var thread = t;
            workers[t] = new Thread(() =>
            {
                try
                {
                    var worker = new Worker(pool, bank, thread, Random.Shared.Next());
                    while (!Volatile.Read(ref stop))
                    {
                        worker.Step();
                    }
                }
                catch (Exception e)
                {
                    // A latent corruption a recovery left behind: report it and die before the kill.
                    Console.WriteLine($"broken: worker {thread} failed while running: {e}");
                    Console.Out.Flush();
                    Environment.Exit(3);
                }
            })
            { IsBackground = true, Name = $"worker {t}" };
        }

        foreach (var worker in workers)
        {
            worker.Start();
        }

        Console.WriteLine("ready");
        Console.Out.Flush();
        if (stopAfter >= 0)
        {
            Thread.Sleep(stopAfter);
            Volatile.Write(ref stop, true);
        }

        foreach (var worker in workers)
        {
            worker.Join(); // returns only after a stop: without one the workers loop until the process is killed
        }

        pool.Dispose();
        Console.WriteLine("stopped");
        return 0;
    }

    /// <summary>Creates the accounts and the per-thread states (one transaction) on the first run.</summary>
    private static ThreadedBank Setup(PersistentPool pool, int threads)
    {
        var bank = pool.Root<ThreadedBank>();
        if (bank.Accounts.Count == 0)
        {
            using var tx = pool.BeginTransaction();
            bank.ThreadCount = threads;
            for (var i = 0; i < threads * AccountsPerThread; i++)
            {
                var account = pool.New<ThreadedAccount>();
                account.Balance = InitialBalance;
                account.Owner = $"thread {i / AccountsPerThread} account {i % AccountsPerThread}";
                bank.Accounts.Add(account);
            }

            for (var t = 0; t < threads; t++)
            {
                var state = pool.New<WorkerState>();
                state.Thread = t;
                _ = state.Ids.Count; // create the list now, not lazily on the worker thread
                bank.Workers.Add(state);
            }

            tx.Commit();
        }

        if (bank.ThreadCount != threads || bank.Workers.Count != threads || bank.Accounts.Count != threads * AccountsPerThread)
        {
            throw new InvalidOperationException(
                $"the pool was made for {bank.ThreadCount} threads ({bank.Workers.Count} states, {bank.Accounts.Count} accounts), not {threads}");
        }

        return bank;
    }

    /// <summary>One thread's loop body; the thread's own accounts, state and list only.</summary>
    private sealed class Worker
    {
        private readonly PersistentPool _pool;
        private readonly int _thread;
        private readonly Random _random;
        private readonly ThreadedAccount[] _accounts;
        private readonly WorkerState _state;

        public Worker(PersistentPool pool, ThreadedBank bank, int thread, int seed)
        {
            _pool = pool;
            _thread = thread;
            _random = new Random(seed);
            _accounts = new ThreadedAccount[AccountsPerThread];
            for (var i = 0; i < AccountsPerThread; i++)
            {
                _accounts[i] = bank.Accounts[thread * AccountsPerThread + i]!;
            }

            _state = bank.Workers[thread]!;
        }

        public long Commits => _state.Commits;

        /// <summary>Clears the list in a transaction of its own (the check mode starts with this).</summary>
        public void ClearOwnTransaction()
        {
            using var tx = _pool.BeginTransaction();
            _state.Ids.Clear();
            tx.Commit();
        }

        /// <summary>One transfer transaction, with the list's clear when it is due.</summary>
        public void Step()
        {
            var from = _random.Next(AccountsPerThread);
            var to = (from + 1 + _random.Next(AccountsPerThread - 1)) % AccountsPerThread;
            var amount = _random.Next(1, 50);
            var ids = _state.Ids;
            var clearDue = ids.Count >= ClearEvery;
            // 0: in this transaction (before the append), 1: a transaction of its own after it, 2: a bare Clear after it.
            // A list a kill left one past due (killed between an append and its clear; with a write-ahead log the next run
            // continues that pool as killed) is cleared in the transaction: a second such kill would leave two past.
            var clearVariant = !clearDue ? -1 : ids.Count > ClearEvery ? 0 : ClearVariant >= 0 ? ClearVariant : _random.Next(3);
            using (var tx = _pool.BeginTransaction())
            {
                _accounts[from].Balance -= amount;
                _accounts[to].Balance += amount;
                var counter = _state.Commits + 1;
                var transfer = _pool.New<Transfer>();
                transfer.Id = _thread * IdBase + counter;
                transfer.From = from;
                transfer.To = to;
                transfer.Amount = amount;
                if (_random.Next(4) == 0)
                {
                    transfer.Memo = $"thread {_thread} transfer {counter} of {amount}";
                }

                if (_state.Previous is { } previous)
                {
                    _pool.Delete(previous);
                }

                _state.Previous = transfer;
                _state.Commits = counter;
                if (clearVariant == 0)
                {
                    ids.Clear();
                    _state.Clears += 1;
                }

                ids.Add(transfer.Id);
                tx.Commit();
            }

            if (clearVariant == 1)
            {
                using var tx = _pool.BeginTransaction();
                ids.Clear();
                _state.Clears += 1;
                tx.Commit();
            }
            else if (clearVariant == 2)
            {
                ids.Clear(); // atomic on its own
                _state.Clears += 1;
            }
        }
    }

    // ---------------------------------------------------------------- check

    private static int Check(string path, int threads)
    {
        var problems = new List<string>();
        var phase = "open";
        long recovered = 0;
        long[] commits = [];
        int recoveredTransactions = 0;
        // The check opens without the write-ahead log option even after --wal: the workload's own open replays the
        // log with the option after every kill, so a plain open here (as a tool or a program unaware of the log would
        // make) covers the other way a log must be replayed, and each kill exercises both. The more work then commits
        // through the lane slots of a format-10 pool, and the reopen finds the log ended by the first open.
        try
        {
            using (var pool = PersistentPool.Open(path, ThreadedBank.Layout))
            {
                recoveredTransactions = pool.RecoveredTransactions;
                phase = "check after recovery";
                commits = Invariants(pool, threads, "after recovery", problems);
                recovered = commits.Sum();
                if (problems.Count == 0)
                {
                    phase = "more work after recovery";
                    MoreWork(pool, threads, problems);
                    if (problems.Count == 0)
                    {
                        phase = "check after more work";
                        commits = Invariants(pool, threads, "after more work", problems);
                    }
                }
            }

            if (problems.Count == 0)
            {
                phase = "reopen after more work";
                using var pool = PersistentPool.Open(path, ThreadedBank.Layout);
                phase = "check after reopen";
                commits = Invariants(pool, threads, "after reopen", problems);
            }
        }
        catch (Exception e)
        {
            problems.Add($"{phase}: {e}"); // the type, the message and the stack
        }

        if (problems.Count == 0)
        {
            Console.WriteLine($"ok {commits.Sum()} commits={string.Join(',', commits)} recovered={recovered} recoveredTransactions={recoveredTransactions}");
            return 0;
        }

        Console.WriteLine("broken: " + string.Join("; ", problems));
        return 1;
    }

    /// <summary>Runs the workload on every thread for a while, starting with a Clear of every list.</summary>
    private static void MoreWork(PersistentPool pool, int threads, List<string> problems)
    {
        var bank = pool.Root<ThreadedBank>();
        var failures = new string?[threads];
        var workers = new Thread[threads];
        for (var t = 0; t < threads; t++)
        {
            var thread = t;
            workers[t] = new Thread(() =>
            {
                var step = "start";
                try
                {
                    var worker = new Worker(pool, bank, thread, Random.Shared.Next());
                    step = "clear";
                    worker.ClearOwnTransaction();
                    for (var i = 0; i < CheckTransactionsPerThread; i++)
                    {
                        step = $"transaction {i} (commit {worker.Commits + 1})";
                        worker.Step();
                    }
                }
                catch (Exception e)
                {
                    failures[thread] = $"worker {thread} failed at {step}: {e}";
                }
            })
            { Name = $"check worker {t}" };
            workers[t].Start();
        }

        foreach (var worker in workers)
        {
            worker.Join();
        }

        problems.AddRange(failures.OfType<string>().Select(f => "more work after recovery: " + f));
    }

    /// <summary>Checks the heap and the invariants; returns each thread's commit counter.</summary>
    private static long[] Invariants(PersistentPool pool, int threads, string when, List<string> problems)
    {
        var report = pool.Check();
        foreach (var error in report.Errors)
        {
            problems.Add($"{when}: check: {error}");
        }

        if (report.Unreachable.Count > 0)
        {
            problems.Add($"{when}: {report.Unreachable.Count} unreachable blocks at {string.Join(", ", report.Unreachable.Take(8))}");
        }

        if (report.DetachedObjects > 0)
        {
            problems.Add($"{when}: blocks the root does not reach (every object hangs off it): {string.Join(", ", report.Detached.Select(pair => $"{pair.Value} {pair.Key}"))}");
        }

        var bank = pool.Root<ThreadedBank>();
        if (bank.ThreadCount != threads || bank.Workers.Count != threads || bank.Accounts.Count != threads * AccountsPerThread)
        {
            problems.Add($"{when}: {bank.ThreadCount} threads, {bank.Workers.Count} states, {bank.Accounts.Count} accounts (expected {threads})");
            return [];
        }

        var total = 0L;
        for (var i = 0; i < bank.Accounts.Count; i++)
        {
            total += bank.Accounts[i]!.Balance;
        }

        if (total != threads * AccountsPerThread * InitialBalance)
        {
            problems.Add($"{when}: the accounts hold {total}, not {threads * AccountsPerThread * InitialBalance}");
        }

        var commits = new long[threads];
        var listOffsets = new Dictionary<long, int>();
        for (var t = 0; t < threads; t++)
        {
            var state = bank.Workers[t]!;
            commits[t] = state.Commits;
            var own = 0L;
            for (var i = 0; i < AccountsPerThread; i++)
            {
                own += bank.Accounts[t * AccountsPerThread + i]!.Balance;
            }

            if (own != AccountsPerThread * InitialBalance)
            {
                problems.Add($"{when}: thread {t}'s accounts hold {own}, not {AccountsPerThread * InitialBalance}");
            }

            if (state.Thread != t)
            {
                problems.Add($"{when}: state {t} says it is thread {state.Thread}");
            }

            var previous = state.Previous;
            if (state.Commits == 0 ? previous is not null : previous?.Id != t * IdBase + state.Commits)
            {
                problems.Add($"{when}: thread {t} has {state.Commits} commits but its last transfer has id {previous?.Id.ToString() ?? "null"}");
            }

            var list = state.Ids;
            if (listOffsets.TryGetValue(list.Offset, out var other))
            {
                problems.Add($"{when}: threads {other} and {t} share the list at offset {list.Offset}");
            }

            listOffsets[list.Offset] = t;
            var ids = list.ToArray();
            var foreign = ids.Where(id => id / IdBase != t).ToArray();
            if (foreign.Length > 0)
            {
                problems.Add($"{when}: thread {t}'s list (offset {list.Offset}, {ids.Length} ids) holds {foreign.Length} ids of other threads, e.g. {Describe(foreign)}");
            }

            if (ids.Length > ClearEvery + 1) // a clear after the commit may be lost with the kill
            {
                problems.Add($"{when}: thread {t}'s list holds {ids.Length} ids, more than {ClearEvery + 1}");
            }

            for (var i = 1; i < ids.Length; i++)
            {
                if (ids[i] != ids[i - 1] + 1)
                {
                    problems.Add($"{when}: thread {t}'s ids are not consecutive at {i}: {ids[i - 1]}, {ids[i]}");
                    break;
                }
            }

            if (ids.Length > 0 && ids[^1] != t * IdBase + state.Commits)
            {
                problems.Add($"{when}: thread {t}'s last id is {ids[^1]} but it has {state.Commits} commits");
            }
        }

        return commits;
    }

    private static string Describe(long[] ids)
    {
        var text = new StringBuilder();
        foreach (var id in ids.Take(4))
        {
            text.Append(text.Length == 0 ? "" : ", ").Append($"{id} (thread {id / IdBase}, #{id % IdBase})");
        }

        return text.ToString();
    }
}

/// <summary>The multi-threaded workload's root: the accounts (4 per thread) and one state per thread.</summary>
[PersistentObject]
public partial class ThreadedBank
{
    public const string Layout = "crash-child-threads";

    public partial long ThreadCount { get; set; }

    public partial PersistentList<ThreadedAccount?> Accounts { get; }

    public partial PersistentList<WorkerState?> Workers { get; }
}

/// <summary>One account, owned by one thread.</summary>
[PersistentObject]
public partial class ThreadedAccount
{
    public partial long Balance { get; set; }

    public partial string? Owner { get; set; }
}

/// <summary>A thread's own state: its commit counter, its last transfer and its id list.</summary>
[PersistentObject]
public partial class WorkerState
{
    public partial long Thread { get; set; }

    public partial long Commits { get; set; }

    public partial long Clears { get; set; }

    public partial Transfer? Previous { get; set; }

    public partial PersistentList<long> Ids { get; }
}

/// <summary>A transfer; each thread keeps only its latest one (the one before is deleted in the same transaction).</summary>
[PersistentObject]
public partial class Transfer
{
    public partial long Id { get; set; }

    public partial long From { get; set; }

    public partial long To { get; set; }

    public partial long Amount { get; set; }

    public partial string? Memo { get; set; }
}
