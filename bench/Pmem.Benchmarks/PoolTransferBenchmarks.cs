using BenchmarkDotNet.Attributes;
using Microsoft.Data.Sqlite;
using Pmem.Benchmarks.Objects;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>The bank transfer both sides run: debit one account, credit another, all or nothing.</summary>
internal static class PoolTransfer
{
    public const int Accounts = 1024;

    public static Account[] MakeAccounts(PersistentPool pool)
    {
        var accounts = new Account[Accounts];
        for (var k = 0; k < Accounts; k += 256)
        {
            using var tx = pool.BeginTransaction();
            for (var i = k; i < k + 256; i++)
            {
                accounts[i] = pool.New<Account>();
                accounts[i].Balance = 1_000_000;
            }

            tx.Commit();
        }

        return accounts;
    }

    public static void Transfer(PersistentPool pool, Account[] accounts, ref int cursor)
    {
        var a = cursor = (cursor + 1) & (Accounts - 1);
        var from = accounts[a];
        var to = accounts[(a + 1) & (Accounts - 1)];
        using var tx = pool.BeginTransaction();
        from.Balance -= 10;
        to.Balance += 10;
        tx.Commit();
    }
}

/// <summary>
/// SQLite (Microsoft.Data.Sqlite) doing the same transfer: <c>PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL</c>,
/// <c>BEGIN; UPDATE … -amount WHERE id=a; UPDATE … +amount WHERE id=b; COMMIT</c> with prepared commands.
/// </summary>
internal sealed class SqliteBank : IDisposable
{
    private readonly string _path;
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _begin;
    private readonly SqliteCommand _debit;
    private readonly SqliteCommand _credit;
    private readonly SqliteCommand _commit;
    private readonly SqliteParameter _debitId;
    private readonly SqliteParameter _creditId;
    private int _cursor;

    public SqliteBank(string directory)
    {
        _path = BenchPools.NewPath(directory, "sqlite").Replace(".pool", ".db", StringComparison.Ordinal);
        _connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        _connection.Open();
        _connection.ExecuteSql("PRAGMA journal_mode=WAL;");
        _connection.ExecuteSql("PRAGMA synchronous=FULL;");
        _connection.ExecuteSql("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);");
        _connection.ExecuteSql("BEGIN;");
        for (var i = 0; i < PoolTransfer.Accounts; i++)
        {
            _connection.ExecuteSql($"INSERT INTO accounts(id, balance) VALUES ({i}, 1000000);");
        }

        _connection.ExecuteSql("COMMIT;");
        _begin = _connection.PrepareSql("BEGIN;");
        _commit = _connection.PrepareSql("COMMIT;");
        _debit = _connection.PrepareSql("UPDATE accounts SET balance = balance - $amount WHERE id = $id;");
        _credit = _connection.PrepareSql("UPDATE accounts SET balance = balance + $amount WHERE id = $id;");
        _debit.Parameters.AddWithValue("$amount", 10L);
        _credit.Parameters.AddWithValue("$amount", 10L);
        _debitId = _debit.Parameters.AddWithValue("$id", 0L);
        _creditId = _credit.Parameters.AddWithValue("$id", 0L);
        _debit.Prepare();
        _credit.Prepare();
        using var mode = new SqliteCommand("PRAGMA journal_mode;", _connection);
        Console.WriteLine($"// sqlite on {directory}: journal_mode={mode.ExecuteScalar()}");
    }

    public void Transfer()
    {
        var a = _cursor = (_cursor + 1) & (PoolTransfer.Accounts - 1);
        _debitId.Value = (long)a;
        _creditId.Value = (long)((a + 1) & (PoolTransfer.Accounts - 1));
        _begin.ExecuteNonQuery();
        _debit.ExecuteNonQuery();
        _credit.ExecuteNonQuery();
        _commit.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _connection.Dispose();
        SqliteConnection.ClearAllPools();
        SqliteFiles.DeleteDatabase(_path);
    }
}

/// <summary>
/// Transfer transaction on /dev/shm: SQLite (WAL, synchronous=FULL) against ours in a power-failure pool, which is
/// treated as pmem only when the process runs with PMEM_IS_PMEM_FORCE=1 (the setup prints the domain).
/// </summary>
public class PoolTransferShmBenchmarks
{
    private SqliteBank _sqlite = null!;
    private PersistentPool _pool = null!;
    private Account[] _accounts = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        if (!BenchPools.PmemForced)
        {
            Console.WriteLine("// WARNING: PMEM_IS_PMEM_FORCE=1 is not set: the /dev/shm pool is synced with msync, not flushed");
        }

        _sqlite = new SqliteBank(BenchPools.ShmDirectory);
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "transfer", 16L << 20);
        _accounts = PoolTransfer.MakeAccounts(_pool);
    }

    [Benchmark(Baseline = true)]
    public void Sqlite_WAL_FULL_transfer() => _sqlite.Transfer();

    [Benchmark]
    public void Ours_transfer() => PoolTransfer.Transfer(_pool, _accounts, ref _cursor);

    [GlobalCleanup]
    public void Cleanup()
    {
        _sqlite.Dispose();
        _pool.Dispose();
    }
}

/// <summary>
/// Transfer transaction on an ordinary disk file (PMEM_BENCH_DISK_DIR, default /tmp): SQLite (WAL,
/// synchronous=FULL) against ours, whose pool is then an msync domain. Run this one WITHOUT PMEM_IS_PMEM_FORCE,
/// or the engine would treat the disk file as pmem (hence the name without "Pool": <c>--filter '*Pool*'</c> with
/// the force set leaves it out). Prints msync calls per transfer at the end.
/// </summary>
public class DiskTransferBenchmarks
{
    private SqliteBank _sqlite = null!;
    private PersistentPool _pool = null!;
    private Account[] _accounts = null!;
    private int _cursor;
    private long _transfers;
    private long _syncsAtStart;

    [GlobalSetup]
    public void Setup()
    {
        var directory = BenchPools.DiskDirectory;
        _sqlite = new SqliteBank(directory);
        _pool = BenchPools.CreateAnonymous(directory, "transfer-disk", 16L << 20);
        _accounts = PoolTransfer.MakeAccounts(_pool);
        if (_pool.Domain is not MsyncDomain msync)
        {
            Console.WriteLine($"// WARNING: the disk pool is not an msync domain ({_pool.Domain.GetType().Name}); unset PMEM_IS_PMEM_FORCE for this benchmark");
            return;
        }

        _syncsAtStart = msync.SyncCalls;
    }

    [Benchmark(Baseline = true)]
    public void Sqlite_WAL_FULL_transfer_disk() => _sqlite.Transfer();

    [Benchmark]
    public void Ours_transfer_disk()
    {
        PoolTransfer.Transfer(_pool, _accounts, ref _cursor);
        _transfers++;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_pool.Domain is MsyncDomain msync && _transfers > 0)
        {
            var syncs = msync.SyncCalls - _syncsAtStart;
            Console.WriteLine($"// ours on disk: {syncs} msync calls for {_transfers} transfers = {(double)syncs / _transfers:F2} per transfer");
        }

        _sqlite.Dispose();
        _pool.Dispose();
    }
}
