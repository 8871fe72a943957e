using System.Diagnostics;
using Bank;
using Pmem.Pool;

// A bank whose accounts live in a pool file and survive crashes and restarts.
//   dotnet run --project samples/Bank [pool path]
// Run it twice: the second run continues from the first. Each run shows a transaction (and one that rolls back),
// a batch, and recovery after a run that was killed mid-transfer.
const string Layout = "pmem-bank-sample";
const decimal OpeningBalance = 1_000m;
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

    foreach (var account in bank.Accounts.Where(account => account!.Currency is null))
    {
        account!.Currency = "EUR"; // accounts of a version-1 bank had no currency
    }

    PrintBalances(bank);

    // A transaction: both legs of a transfer, and its journal entry, or nothing.
    var (from, to) = (bank.ByOwner[owners[(int)(bank.Runs % 4)]]!, bank.ByOwner[owners[(int)((bank.Runs + 1) % 4)]]!);
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
using (var worker = Process.Start(new ProcessStartInfo(Environment.ProcessPath!, ["--transfer-until-killed", path]) { RedirectStandardOutput = true })!)
{
    worker.StandardOutput.ReadLine(); // "working": the pool is open and transfers are running
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
        $"{bank.TransferCount} transfers journaled, total {total:N2} (expected {owners.Length * OpeningBalance:N2}), heap {(report.IsConsistent && report.Unreachable.Count == 0 ? "consistent" : "BROKEN")}");
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
        account.Owner = owner;
        account.Balance = OpeningBalance;
        account.Currency = "EUR";
        bank.Accounts.Add(account);
        bank.ByOwner[owner] = account;
    }

    tx.Commit();
    Console.WriteLine($"Opened {owners.Length} accounts of {OpeningBalance:N2} in one transaction");
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
    (entry.From, entry.To, entry.Amount, entry.At, entry.Previous) = (from, to, amount, DateTimeOffset.Now, bank.LastTransfer);
    bank.LastTransfer = entry;
    bank.TransferCount++;
    tx.Commit();
}

static void PrintBalances(BankRoot bank) =>
    Console.WriteLine("  " + string.Join("  ", bank.Accounts.Select(a => $"{a!.Owner}: {a.Balance,9:N2}")));

static void PrintJournal(BankRoot bank, int count)
{
    for (var t = bank.LastTransfer; t is not null && count-- > 0; t = t.Previous)
    {
        Console.WriteLine($"  {t.At:HH:mm:ss.fff}  {t.From!.Owner,-8} -> {t.To!.Owner,-8} {t.Amount,8:N2}");
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
        var from = bank.Accounts[random.Next(bank.Accounts.Count)]!;
        var to = bank.Accounts[random.Next(bank.Accounts.Count)]!;
        var amount = Math.Min(from.Balance, random.Next(1, 20));
        TransferMoney(pool, bank, from, to, amount);
        if (bank.TransferCount % 1000 == 0)
        {
            // Keep the journal short so the pool does not fill: drop all but the newest 100 entries.
            using var tx = pool.BeginTransaction();
            var keep = bank.LastTransfer;
            for (var i = 0; i < 99 && keep?.Previous is not null; i++)
            {
                keep = keep.Previous;
            }

            for (var old = keep?.Previous; old is not null;)
            {
                var previous = old.Previous;
                pool.Delete(old);
                old = previous;
            }

            if (keep is not null)
            {
                keep.Previous = null;
            }

            tx.Commit();
        }
    }
}
