using Pmem.CrashChild;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

// Usage: Pmem.CrashChild <pool path> <PowerFailure|ProcessCrash> [--check]
//    or: Pmem.CrashChild <pool path> <PowerFailure|ProcessCrash> --threads N [--clear-every N] [--clear same|own|bare|random]
//        [--stop-after MS] [--wal] [--check]: the multi-threaded workload (ThreadedWorkload.cs); --wal commits through
//        a write-ahead log file beside the pool (PoolOpenOptions.WriteAheadLog)
//    or: Pmem.CrashChild <pool path> <PowerFailure|ProcessCrash> --shared N [--check]: threads sharing objects under
//        one lock (SharedWorkload.cs)
//    or: Pmem.CrashChild <pool path> <PowerFailure|ProcessCrash> --compact-setup|--compact|--compact-fingerprint:
//        compaction until killed (CompactionWorkload.cs)
//    or: Pmem.CrashChild <pool path> <PowerFailure|ProcessCrash> --migrate: opens a pool of version-1 people with
//        version 2 of the class, every object migrating (MigrationWorkload.cs)
//    or: Pmem.CrashChild --map-race <directory> <threads> <milliseconds>: threads mapping small files at once
//        (MappingRaceWorkload.cs)
//    or: Pmem.CrashChild --create-loop <pool path> <PowerFailure|ProcessCrash>: pools created and deleted under one name
//        until killed (CreateLoopWorkload.cs)
//    or: Pmem.CrashChild --dispose-race <directory> <PowerFailure|ProcessCrash> <rounds>: a pool disposed while
//        threads use it (DisposeRaceWorkload.cs)
//    or: Pmem.CrashChild --dispose-values <directory> <PowerFailure|ProcessCrash> <rounds>: a pool disposed while
//        threads read and write it; racing reads see only stored values, returned writes are durable (DisposeValuesWorkload.cs)
// Creates the pool with 8 accounts of 1,000 if it does not exist, prints "ready", then moves money between random
// accounts in transactions (and replaces a string outside them) until it is killed. With --check it opens the pool
// (running recovery), checks the invariants and prints "ok <transfers>" or the broken invariant (exit code 1).
if (args[0] == "--map-race")
{
    return MappingRaceWorkload.Run(args);
}

if (args[0] == "--create-loop")
{
    return CreateLoopWorkload.Run(args);
}

if (args[0] == "--dispose-race")
{
    return DisposeRaceWorkload.Run(args);
}

if (args[0] == "--dispose-values")
{
    return DisposeValuesWorkload.Run(args);
}

var path = args[0];
var mode = Enum.Parse<DurabilityMode>(args[1]);
if (args.Length > 2 && args[2].StartsWith("--compact", StringComparison.Ordinal))
{
    return CompactionWorkload.Run(path, mode, args[2]);
}

if (args.Length > 2 && args[2] == "--migrate")
{
    return MigrationWorkload.Run(path);
}

if (args.Contains("--threads"))
{
    return ThreadedWorkload.Run(path, mode, args);
}

if (args.Contains("--shared"))
{
    return SharedWorkload.Run(path, mode, args);
}

if (args.Length > 2 && args[2] == "--check")
{
    return Check(path);
}
using var pool = File.Exists(path)
    ? PersistentPool.Open(path, CrashBank.Layout)
    : PersistentPool.Create(path, CrashBank.Layout, 8 << 20, new PoolCreateOptions { Durability = mode });
var bank = pool.Root<CrashBank>();
if (bank.Accounts.Count == 0)
{
    using var tx = pool.BeginTransaction();
    for (var i = 0; i < CrashBank.AccountCount; i++)
    {
        var account = pool.New<CrashAccount>();
        account.Balance = CrashBank.InitialBalance;
        account.Owner = $"owner {i}";
        bank.Accounts.Add(account);
    }

    tx.Commit();
}

Console.WriteLine("ready");
Console.Out.Flush();
var random = new Random();
while (true)
{
    var (from, to) = (bank.Accounts[random.Next(CrashBank.AccountCount)]!, bank.Accounts[random.Next(CrashBank.AccountCount)]!);
    var amount = random.Next(1, 50);
    using (var tx = pool.BeginTransaction())
    {
        from.Balance -= amount;
        to.Balance += amount;
        bank.Transfers += 1; // counts across runs: a committed transfer is never lost
        tx.Commit();
    }

    bank.Note = $"after transfer {bank.Transfers}"; // a string replaced outside a transaction
}

static int Check(string path)
{
    using var pool = PersistentPool.Open(path, CrashBank.Layout);
    var report = pool.Check();
    var bank = pool.Root<CrashBank>();
    var sum = bank.Accounts.Sum(a => a!.Balance);
    var problems = new List<string>(report.Errors);
    if (report.Unreachable.Count > 0 || report.DetachedObjects > 0)
    {
        problems.Add($"{report.Unreachable.Count} unreachable blocks, {report.DetachedObjects} the root does not reach"); // every object hangs off the root
    }

    if (bank.Accounts.Count != CrashBank.AccountCount || sum != CrashBank.AccountCount * CrashBank.InitialBalance)
    {
        problems.Add($"{bank.Accounts.Count} accounts holding {sum}");
    }

    if (bank.Note is { } note && !note.StartsWith("after transfer ", StringComparison.Ordinal))
    {
        problems.Add($"torn note '{note}'");
    }

    Console.WriteLine(problems.Count == 0 ? $"ok {bank.Transfers} recovered={pool.RecoveredTransactions}" : "broken: " + string.Join("; ", problems));
    return problems.Count == 0 ? 0 : 1;
}

/// <summary>The root: the accounts and a transfer counter.</summary>
[PersistentObject]
public partial class CrashBank
{
    public const string Layout = "crash-child";
    public const int AccountCount = 8;
    public const long InitialBalance = 1000;

    public partial PersistentList<CrashAccount?> Accounts { get; }

    public partial long Transfers { get; set; }

    public partial string? Note { get; set; }
}

/// <summary>One account.</summary>
[PersistentObject]
public partial class CrashAccount
{
    public partial long Balance { get; set; }

    public partial string? Owner { get; set; }
}
