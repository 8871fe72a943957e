using System.Diagnostics;
using Bank;
using Pmem.Objects;
using Pmem.Pool;

// A bank whose accounts live in a pool file and survive crashes and restarts.
//   dotnet run --project samples/Bank [pool path]
// Run it twice: the second run continues from the first. Each run shows a transaction (and one that rolls back),
// a batch, lookups by indexed properties and by time, and recovery after a run that was killed mid-transfer.
const string Layout = "pmem-bank-sample";
const decimal OpeningBalance = 1_000m;
const long FirstNumber = 1001;
string[] owners = ["Ada", "Grace", "Barbara", "Edsger"];

if (args is ["--transfer-until-killed", var workerPath])
{
    return TransferUntilKilled(workerPath);
}

var path = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "pmem-bank.pool");
PersistentPool opened;
try
{
    opened = OpenOrCreate(path);
}
catch (PoolException error) // not a bank, damaged, another layout, or open elsewhere: say which and stop
{
    Console.Error.WriteLine($"Cannot open the bank: {error.Message}");
    return 2;
}

using (var pool = opened)
{
    foreach (var migration in pool.MigratedAtOpen)
    {
        Console.WriteLine($"Migrated a bank of an older model: {migration}");
    }

    var bank = pool.Root<BankRoot>();
    bank.Runs++;
    Console.WriteLine($"Run #{bank.Runs} on {path} ({pool.Durability}, flush path {pool.Inspect().FlushPath}); last opened {(bank.Runs == 1 ? "never" : bank.LastOpened.ToString("u"))}");
    bank.LastOpened = DateTimeOffset.Now;

    if (bank.Accounts.Count == 0)
    {
        OpenAccounts(pool, bank);
    }

    UpgradeOlderBank(pool, bank);
    PrintBalances(bank);

    // Indexed properties: the pool finds accounts by owner and by number, with no dictionary of ours to keep in step.
    var byOwner = pool.Index<Account, string>(nameof(Account.Owner));
    var byNumber = pool.Index<Account, long>(nameof(Account.Number));
    var (from, to) = (byOwner.Find(owners[(int)(bank.Runs % 4)]).Single(), byOwner.Find(owners[(int)((bank.Runs + 1) % 4)]).Single());
    byNumber.TryFind(FirstNumber, out var first);
    Console.WriteLine($"Indexes: {from.Owner} owns account {from.Number}, {to.Owner} account {to.Number}; account {FirstNumber} is {first?.Owner}'s");

    // A unique index refuses a second account with a number in use: the transaction that tried rolls back.
    try
    {
        using var tx = pool.BeginTransaction();
        var account = pool.New<Account>();
        account.Owner = "Alan";
        account.Number = from.Number;
        bank.Accounts.Add(account);
        tx.Commit();
    }
    catch (PersistentUniqueConstraintException)
    {
        Console.WriteLine($"Unique: a new account for Alan numbered {from.Number} was refused; Alan has {byOwner.Find("Alan").Count} accounts");
    }

    // A transaction: both legs of a transfer, and its journal entry, or nothing.
    TransferMoney(pool, bank, from, to, 125m);
    Console.WriteLine($"Transaction: moved 125.00 from {from.Owner} to {to.Owner} (transfer #{bank.TransferCount})");

    // A transaction that fails half-way rolls back: the debit already made inside it disappears.
    try
    {
        TransferMoney(pool, bank, to, from, 1_000_000m);
    }
    catch (InvalidOperationException e)
    {
        Console.WriteLine($"Transaction rolled back: {e.Message}; {to.Owner} still has {to.Balance:N2}");
    }

    // A batch: every write flushed as it is made, one drain for all of them at the end.
    using (pool.Batch())
    {
        foreach (var account in bank.Accounts)
        {
            account!.LastStatement = DateTime.UtcNow;
            account.StatementCount++;
        }
    }

    Console.WriteLine($"Batch: statements issued to {bank.Accounts.Count} accounts with one drain");
}

// Recovery: a worker process transfers money until it is killed with SIGKILL in the middle of whatever it was doing.
// Started as `dotnet Bank.dll` (not through the Bank executable), this process is dotnet, which needs the assembly first.
var self = Environment.ProcessPath!;
string[] workerArgs = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [Environment.GetCommandLineArgs()[0], "--transfer-until-killed", path] : ["--transfer-until-killed", path];
using (var worker = Process.Start(new ProcessStartInfo(self, workerArgs) { RedirectStandardOutput = true })!)
{
    if (worker.StandardOutput.ReadLine() != "working") // the pool is open and transfers are running
    {
        Console.Error.WriteLine("The transfer worker did not start.");
        return 1;
    }

    Thread.Sleep(300);
    worker.Kill(entireProcessTree: true);
    worker.WaitForExit();
}

using (var pool = PersistentPool.Open(path, Layout))
{
    var bank = pool.Root<BankRoot>();
    var total = bank.Accounts.Sum(a => a!.Balance);
    var report = pool.Check();
    Console.WriteLine($"Recovery: a worker was killed mid-transfer; reopening replayed {pool.RecoveredTransactions} logged commit(s). " +
        $"{bank.TransferCount} transfers journaled, total {total:N2} (expected {owners.Length * OpeningBalance:N2}), heap {(report.IsClean ? "consistent" : "BROKEN")}");
    PrintBalances(bank);
    PrintJournal(bank, 3);
    if (total != owners.Length * OpeningBalance || !report.IsConsistent)
    {
        return 1;
    }
}

Console.WriteLine("Run the sample again: it continues from here.");
return 0;

PersistentPool OpenOrCreate(string path)
{
    if (File.Exists(path))
    {
        try
        {
            return PersistentPool.Open(path, Layout, new PoolOpenOptions { MaxSize = 256 << 20 });
        }
        catch (PersistentSchemaException error) when (error.IsStoredSchemaUnknown)
        {
            // A bank from a release before schema records, whose accounts changed since: its old layout is unknown, so
            // it cannot be migrated. Keep its file untouched beside the new one. (Banks with schema records migrate.)
            var kept = $"{path}.{DateTime.UtcNow:yyyyMMddHHmmss}";
            File.Move(path, kept);
            Console.WriteLine($"{path} was written before pools recorded their schema and its classes changed since; kept as {kept}.");
        }
    }

    Console.WriteLine($"Creating a new bank in {path}");
    return PersistentPool.Create(path, Layout, 16 << 20, new PoolCreateOptions { MaxSize = 256 << 20 });
}

void OpenAccounts(PersistentPool pool, BankRoot bank)
{
    using var tx = pool.BeginTransaction();
    foreach (var owner in owners)
    {
        var account = pool.New<Account>();
        account.Id = Guid.NewGuid();
        account.Number = FirstNumber + bank.Accounts.Count;
        account.Owner = owner;
        account.Balance = OpeningBalance;
        account.Currency = "EUR";
        bank.Accounts.Add(account);
    }

    tx.Commit();
    Console.WriteLine($"Opened {owners.Length} accounts of {OpeningBalance:N2} in one transaction");
}

// Banks of older models: version 1 had no currencies; version 2 had no account numbers, and linked its journal through
// Transfer.Previous (the migration at open removed that link; its transfers are journaled by time here).
void UpgradeOlderBank(PersistentPool pool, BankRoot bank)
{
    for (var i = 0; i < bank.Accounts.Count; i++)
    {
        var account = bank.Accounts[i]!;
        account.Currency ??= "EUR";
        if (account.Number == 0)
        {
            account.Number = FirstNumber + i;
        }
    }

    if (bank.TransfersByTime.Count == 0 && bank.TransferCount > 0)
    {
        using var tx = pool.BeginTransaction();
        foreach (var transfer in pool.All<Transfer>())
        {
            Journal(bank, transfer);
        }

        tx.Commit();
        Console.WriteLine($"Journaled the {bank.TransfersByTime.Count} transfers of an older bank by time");
    }
}

static void TransferMoney(PersistentPool pool, BankRoot bank, Account from, Account to, decimal amount)
{
    using var tx = pool.BeginTransaction();
    from.Balance -= amount;
    from.Version++;
    if (from.Balance < 0)
    {
        throw new InvalidOperationException($"{from.Owner} cannot pay {amount:N2}");
    }

    to.Balance += amount;
    to.Version++;
    var entry = pool.New<Transfer>();
    (entry.From, entry.To, entry.Amount, entry.At) = (from, to, amount, DateTimeOffset.Now);
    Journal(bank, entry);
    bank.TransferCount++;
    tx.Commit();
}

// Journals a transfer under its time in UTC (a tick later if another transfer has that time).
static void Journal(BankRoot bank, Transfer transfer)
{
    var at = transfer.At.UtcDateTime;
    while (bank.TransfersByTime.ContainsKey(at))
    {
        at = at.AddTicks(1);
    }

    bank.TransfersByTime.Add(at, transfer);
}

static void PrintBalances(BankRoot bank) =>
    Console.WriteLine("  " + string.Join("  ", bank.Accounts.Select(a => $"{a!.Owner}: {a.Balance,9:N2}")));

// A range query on the journal: today's transfers (UTC), newest first.
static void PrintJournal(BankRoot bank, int count)
{
    var today = DateTime.UtcNow.Date;
    var todays = bank.TransfersByTime.Range(today, today.AddDays(1), descending: true).ToList();
    Console.WriteLine($"Journal: {todays.Count} of the {bank.TransfersByTime.Count} transfers kept were made today (UTC); the latest {count}:");
    foreach (var (_, t) in todays.Take(count))
    {
        Console.WriteLine($"  {t!.At:HH:mm:ss.fff}  {t.From!.Owner,-8} -> {t.To!.Owner,-8} {t.Amount,8:N2}");
    }
}

int TransferUntilKilled(string path)
{
    using var pool = PersistentPool.Open(path, Layout, new PoolOpenOptions { MaxSize = 256 << 20 });
    var bank = pool.Root<BankRoot>();
    var random = new Random();
    Console.WriteLine("working");
    while (true)
    {
        var payer = random.Next(bank.Accounts.Count);
        var from = bank.Accounts[payer]!;
        var to = bank.Accounts[(payer + random.Next(1, bank.Accounts.Count)) % bank.Accounts.Count]!; // never the payer
        var amount = Math.Min(from.Balance, random.Next(1, 20));
        TransferMoney(pool, bank, from, to, amount);
        if (bank.TransferCount % 1000 == 0)
        {
            // Keep the journal short so the pool does not fill: drop all but the newest 100 entries.
            using var tx = pool.BeginTransaction();
            foreach (var (at, old) in bank.TransfersByTime.Take(bank.TransfersByTime.Count - 100).ToList())
            {
                bank.TransfersByTime.Remove(at);
                pool.Delete(old!);
            }

            tx.Commit();
        }
    }
}
