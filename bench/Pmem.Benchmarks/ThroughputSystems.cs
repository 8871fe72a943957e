// ThroughputSystems -- the systems the throughput harness drives: our pool, SQLite WAL FULL, LMDB; one worker per thread.
using System.Buffers.Binary;
using LightningDB;
using Microsoft.Data.Sqlite;
using Pmem.Benchmarks.Objects;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>A system under test: makes one worker per thread, on that thread (so its data come from its own arena).</summary>
internal interface IThroughputSystem : IDisposable
{
    /// <summary>Called on worker thread <paramref name="thread"/>: its own accounts (nothing shared with other workers).</summary>
    IThroughputWorker NewWorker(int thread, bool allocate);

    /// <summary>A line after a round (e.g. syncs per transaction), or null.</summary>
    string? RoundNote(long transactions) => null;
}

/// <summary>One thread's side: runs one transfer transaction per call.</summary>
internal interface IThroughputWorker
{
    void Transaction();
}

/// <summary>Our pool: transfer between the thread's own accounts; with allocation, also a new object, a delete, a list append.</summary>
internal sealed class PoolSystem(PersistentPool pool) : IThroughputSystem
{
    private long _syncsAtRoundStart;
    private long _logSyncsAtRoundStart;

    public const int AccountsPerThread = 256;

    public string Domain => $"{pool.Domain.GetType().Name} ({pool.Domain.FlushPath})";

    public IThroughputWorker NewWorker(int thread, bool allocate)
    {
        var accounts = new Account[AccountsPerThread];
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < accounts.Length; i++)
            {
                accounts[i] = pool.New<Account>();
                accounts[i].Balance = 1_000_000;
            }

            tx.Commit();
        }

        return allocate ? new Allocating(pool, accounts) : new Transfers(pool, accounts);
    }

    public string? RoundNote(long transactions)
    {
        if (pool.Domain is not MsyncDomain msync)
        {
            return null;
        }

        var syncs = msync.SyncCalls - _syncsAtRoundStart;
        _syncsAtRoundStart = msync.SyncCalls;
        var logSyncs = (pool.WriteAheadLogFile?.SyncCalls ?? 0) - _logSyncsAtRoundStart;
        _logSyncsAtRoundStart += logSyncs;
        return transactions <= 0 ? null
            : pool.WriteAheadLogFile is null ? $"{(double)syncs / transactions:F2} msync/tx"
            : $"{(double)syncs / transactions:F3} msync/tx {(double)logSyncs / transactions:F2} fdatasync/tx";
    }

    public void Dispose() => pool.Dispose();

    private class Transfers(PersistentPool pool, Account[] accounts) : IThroughputWorker
    {
        private WorkerCounters _hot; // see WorkerCounters

        public virtual void Transaction()
        {
            var a = _hot.Cursor = (_hot.Cursor + 1) % accounts.Length;
            var from = accounts[a];
            var to = accounts[(a + 1) % accounts.Length];
            using var tx = pool.BeginTransaction();
            from.Balance -= 10;
            to.Balance += 10;
            tx.Commit();
        }

        protected void TransferIn(int a)
        {
            var from = accounts[a];
            var to = accounts[(a + 1) % accounts.Length];
            from.Balance -= 10;
            to.Balance += 10;
        }

        protected int Next() => _hot.Cursor = (_hot.Cursor + 1) % accounts.Length;
    }

    private sealed class Allocating : Transfers
    {
        private readonly PersistentPool _pool;
        private readonly ThreadLog _log;
        private WorkerCounters _counts;

        public Allocating(PersistentPool pool, Account[] accounts)
            : base(pool, accounts)
        {
            _pool = pool;
            using var tx = pool.BeginTransaction();
            _log = pool.New<ThreadLog>();
            tx.Commit();
        }

        public override void Transaction()
        {
            using var tx = _pool.BeginTransaction();
            TransferIn(Next());
            var made = _pool.New<Account>();
            made.Balance = _counts.Count;
            if (_counts.Previous is Account previous)
            {
                _pool.Delete(previous);
            }

            _counts.Previous = made;
            if ((++_counts.Count & 255) == 0)
            {
                _log.Items.Clear();
            }

            _log.Items.Add(_counts.Count);
            tx.Commit();
        }
    }
}

/// <summary>SQLite, WAL, synchronous=FULL, one connection per thread, each thread updating its own rows.</summary>
internal sealed class SqliteSystem : IThroughputSystem
{
    private const int Rows = 256;
    private readonly string _path;
    private readonly List<SqliteConnection> _connections = [];

    public SqliteSystem(string directory, int threads)
    {
        _path = BenchPools.NewPath(directory, "tput-sqlite").Replace(".pool", ".db", StringComparison.Ordinal);
        using var connection = Open();
        connection.ExecuteSql("PRAGMA journal_mode=WAL;");
        connection.ExecuteSql("CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);");
        connection.ExecuteSql("CREATE TABLE log(id INTEGER PRIMARY KEY, thread INTEGER NOT NULL, value INTEGER NOT NULL);");
        connection.ExecuteSql("BEGIN;");
        for (var i = 0; i < Rows * threads; i++)
        {
            connection.ExecuteSql($"INSERT INTO accounts(id, balance) VALUES ({i}, 1000000);");
        }

        connection.ExecuteSql("COMMIT;");
    }

    public IThroughputWorker NewWorker(int thread, bool allocate)
    {
        var connection = Open();
        lock (_connections)
        {
            _connections.Add(connection);
        }

        return new Worker(connection, thread * Rows, thread, allocate);
    }

    public void Dispose()
    {
        foreach (var connection in _connections)
        {
            connection.Dispose();
        }

        SqliteConnection.ClearAllPools();
        SqliteFiles.DeleteDatabase(_path);
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection($"Data Source={_path};Pooling=False;Default Timeout=600");
        connection.Open();
        connection.ExecuteSql("PRAGMA synchronous=FULL;");
        connection.ExecuteSql("PRAGMA busy_timeout=600000;");
        return connection;
    }


    /// <summary>BEGIN IMMEDIATE (writers queue for WAL's one write lock instead of failing to upgrade), two updates, COMMIT.</summary>
    private sealed class Worker : IThroughputWorker
    {
        private readonly SqliteCommand _begin, _debit, _credit, _commit, _insert, _delete;
        private readonly SqliteParameter _debitId, _creditId, _insertId, _deleteId;
        private readonly int _first;
        private readonly bool _allocate;
        private readonly long _idBase;
        private WorkerCounters _hot;

        public Worker(SqliteConnection connection, int first, int thread, bool allocate)
        {
            _first = first;
            _allocate = allocate;
            _idBase = (thread + 1L) << 40;
            _begin = connection.PrepareSql("BEGIN IMMEDIATE;");
            _commit = connection.PrepareSql("COMMIT;");
            _debit = connection.PrepareSql("UPDATE accounts SET balance = balance - 10 WHERE id = $id;");
            _credit = connection.PrepareSql("UPDATE accounts SET balance = balance + 10 WHERE id = $id;");
            _insert = connection.PrepareSql($"INSERT INTO log(id, thread, value) VALUES ($id, {thread}, $id);");
            _delete = connection.PrepareSql("DELETE FROM log WHERE id = $id;");
            _debitId = _debit.Parameters.AddWithValue("$id", 0L);
            _creditId = _credit.Parameters.AddWithValue("$id", 0L);
            _insertId = _insert.Parameters.AddWithValue("$id", 0L);
            _deleteId = _delete.Parameters.AddWithValue("$id", 0L);
        }

        public void Transaction()
        {
            var a = _hot.Cursor = (_hot.Cursor + 1) % Rows;
            _debitId.Value = (long)(_first + a);
            _creditId.Value = (long)(_first + (a + 1) % Rows);
            _begin.ExecuteNonQuery();
            _debit.ExecuteNonQuery();
            _credit.ExecuteNonQuery();
            if (_allocate)
            {
                // The same shape as ours: a row made, the previous one deleted (the list is the log table itself).
                _insertId.Value = _idBase + ++_hot.Count;
                _insert.ExecuteNonQuery();
                _deleteId.Value = _idBase + _hot.Count - 1;
                _delete.ExecuteNonQuery();
            }

            _commit.ExecuteNonQuery();
        }

    }
}

/// <summary>LMDB (LightningDB): one environment, a write transaction per transfer (LMDB has one writer at a time).</summary>
internal sealed class LmdbSystem : IThroughputSystem
{
    private const int Rows = 256;
    private readonly string _directory;
    private readonly LightningEnvironment _environment;
    private readonly LightningDatabase _database;

    public LmdbSystem(string directory, int threads)
    {
        _directory = BenchPools.NewPath(directory, "tput-lmdb").Replace(".pool", ".lmdb", StringComparison.Ordinal);
        Directory.CreateDirectory(_directory);
        _environment = new LightningEnvironment(_directory, new EnvironmentConfiguration { MapSize = 256L << 20, MaxDatabases = 1 });
        _environment.Open(); // default flags: durable commits (fdatasync of the data file and meta page)
        using var tx = _environment.BeginTransaction();
        _database = tx.OpenDatabase(configuration: new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        Span<byte> key = stackalloc byte[8], value = stackalloc byte[8];
        for (var i = 0; i < Rows * threads; i++)
        {
            BinaryPrimitives.WriteInt64BigEndian(key, i);
            BinaryPrimitives.WriteInt64LittleEndian(value, 1_000_000);
            tx.Put(_database, key, value);
        }

        tx.Commit();
    }

    public IThroughputWorker NewWorker(int thread, bool allocate) => new Worker(this, thread * Rows, thread, allocate);

    public void Dispose()
    {
        _database.Dispose();
        _environment.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private sealed class Worker(LmdbSystem system, int first, int thread, bool allocate) : IThroughputWorker
    {
        private readonly long _idBase = (thread + 1L) << 40;
        private WorkerCounters _hot;

        public void Transaction()
        {
            var a = _hot.Cursor = (_hot.Cursor + 1) % Rows;
            using var tx = system._environment.BeginTransaction();
            Add(tx, first + a, -10);
            Add(tx, first + (a + 1) % Rows, 10);
            if (allocate)
            {
                Span<byte> key = stackalloc byte[8];
                BinaryPrimitives.WriteInt64BigEndian(key, _idBase + ++_hot.Count);
                tx.Put(system._database, key, key);
                BinaryPrimitives.WriteInt64BigEndian(key, _idBase + _hot.Count - 1);
                tx.Delete(system._database, key);
            }

            tx.Commit();
        }

        private void Add(LightningTransaction tx, long id, long amount)
        {
            Span<byte> key = stackalloc byte[8], value = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(key, id);
            var (_, _, stored) = tx.Get(system._database, key);
            BinaryPrimitives.WriteInt64LittleEndian(value, BinaryPrimitives.ReadInt64LittleEndian(stored.AsSpan()) + amount);
            tx.Put(system._database, key, value);
        }
    }
}

/// <summary>
/// A worker's counters, written by every transaction, with a cache line of nothing on each side: workers are made on
/// their own threads, but a collection may compact two of them side by side, and a line two threads write would cost
/// every transaction of both (the pool's transfer at two threads ran at 1.1x instead of 1.7x of one thread).
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 3 * 64)]
internal struct WorkerCounters
{
    [System.Runtime.InteropServices.FieldOffset(64)]
    public int Cursor;

    [System.Runtime.InteropServices.FieldOffset(72)]
    public long Count;

    [System.Runtime.InteropServices.FieldOffset(80)]
    public object? Previous;
}
