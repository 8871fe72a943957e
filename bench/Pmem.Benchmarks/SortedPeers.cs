// SortedPeers -- SQLite and LMDB holding the sorted-dictionary benchmarks' 1 M keys: point get, insert and delete in their own transactions, 1,000-key range.
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LightningDB;
using Microsoft.Data.Sqlite;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>What the sorted benchmarks' setups share: each case makes only its own store (a 1 M prefill each), and one cleanup disposes whichever it made.</summary>
internal static class SortedPeers
{
    public static void Dispose(ref PersistentPool? pool, ref SqliteSorted? sqlite, ref LmdbSorted? lmdb)
    {
        pool?.Dispose();
        sqlite?.Dispose();
        lmdb?.Dispose();
        (pool, sqlite, lmdb) = (null, null, null);
    }
}

/// <summary>
/// SQLite (Microsoft.Data.Sqlite) beside the persistent sorted dictionary: a rowid table <c>map(k INTEGER PRIMARY KEY,
/// v INTEGER NOT NULL)</c> on /dev/shm, WAL, <c>synchronous=FULL</c>, filled with <see cref="SortedPrefill"/>'s keys in
/// its order and transactions; one connection and prepared commands reused by every operation (each write is its own
/// autocommit transaction).
/// </summary>
internal sealed class SqliteSorted : IDisposable
{
    private readonly string _path;
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _get, _insert, _delete, _range;
    private readonly SqliteParameter _getKey, _insertKey, _insertValue, _deleteKey, _rangeLower, _rangeCount;

    public SqliteSorted(string directory)
    {
        _path = BenchPools.NewPath(directory, "sorted-sqlite").Replace(".pool", ".db", StringComparison.Ordinal);
        _connection = new SqliteConnection($"Data Source={_path};Pooling=False");
        _connection.Open();
        _connection.ExecuteSql("PRAGMA journal_mode=WAL;");
        _connection.ExecuteSql("PRAGMA synchronous=FULL;");
        _connection.ExecuteSql("CREATE TABLE map(k INTEGER PRIMARY KEY, v INTEGER NOT NULL);");
        _insert = _connection.PrepareSql("INSERT INTO map(k, v) VALUES ($k, $v);");
        _insertKey = _insert.Parameters.Add("$k", SqliteType.Integer);
        _insertValue = _insert.Parameters.Add("$v", SqliteType.Integer);
        var keys = SortedPrefill.Keys();
        for (var k = 0; k < keys.Length; k += 1_000)
        {
            using var tx = _connection.BeginTransaction();
            _insert.Transaction = tx;
            for (var j = k; j < Math.Min(k + 1_000, keys.Length); j++)
            {
                Insert(keys[j], keys[j] * 3);
            }

            tx.Commit();
        }

        _insert.Transaction = null;
        _get = _connection.PrepareSql("SELECT v FROM map WHERE k = $k;");
        _getKey = _get.Parameters.Add("$k", SqliteType.Integer);
        _delete = _connection.PrepareSql("DELETE FROM map WHERE k = $k;");
        _deleteKey = _delete.Parameters.Add("$k", SqliteType.Integer);
        _range = _connection.PrepareSql("SELECT k, v FROM map WHERE k >= $a ORDER BY k LIMIT $n;");
        _rangeLower = _range.Parameters.Add("$a", SqliteType.Integer);
        _rangeCount = _range.Parameters.Add("$n", SqliteType.Integer);
        Console.WriteLine($"// sqlite: {keys.Length:N0} rows, WAL, synchronous=FULL, on {directory}");
    }

    /// <summary>The value of <paramref name="key"/> (0 if none).</summary>
    public long Get(long key)
    {
        _getKey.Value = key;
        return _get.ExecuteScalar() is long value ? value : 0;
    }

    public void Insert(long key, long value)
    {
        _insertKey.Value = key;
        _insertValue.Value = value;
        _insert.ExecuteNonQuery();
    }

    public void Delete(long key)
    {
        _deleteKey.Value = key;
        _delete.ExecuteNonQuery();
    }

    /// <summary>Reads <paramref name="count"/> rows from <paramref name="lower"/> up, every key and value (their sum).</summary>
    public long Range(long lower, int count)
    {
        _rangeLower.Value = lower;
        _rangeCount.Value = count;
        long sum = 0;
        using var reader = _range.ExecuteReader();
        while (reader.Read())
        {
            sum += reader.GetInt64(0) + reader.GetInt64(1);
        }

        return sum;
    }

    public void Dispose()
    {
        foreach (var command in new[] { _get, _insert, _delete, _range })
        {
            command.Dispose();
        }

        _connection.Dispose();
        SqliteFiles.DeleteDatabase(_path);
    }
}

/// <summary>
/// LMDB (LightningDB) beside the persistent sorted dictionary: one environment on /dev/shm (default flags: durable
/// commits), 8-byte big-endian keys (so byte order is numeric order) and little-endian values, filled with
/// <see cref="SortedPrefill"/>'s keys in its order and transactions. Reads renew one read-only transaction per
/// operation (LMDB's cheap way to read the latest commit); each write is its own write transaction.
/// </summary>
internal sealed class LmdbSorted : IDisposable
{
    private readonly string _directory;
    private readonly LightningEnvironment _environment;
    private readonly LightningDatabase _database;
    private readonly LightningTransaction _read;

    /// <summary>The benchmark category Program.cs filters out when <see cref="IsAvailable"/> is false.</summary>
    public const string Category = "Lmdb";

    /// <summary>Whether liblmdb loads here (the project copies the system's; LightningDB's own needs a newer glibc).</summary>
    /// <remarks>
    /// Probed the way LightningDB's P/Invokes load it, not by opening an environment: a LightningEnvironment whose
    /// constructor fails for want of the library throws again from its finalizer, which ends the process.
    /// </remarks>
    public static bool IsAvailable { get; } =
        NativeLibrary.TryLoad("lmdb", typeof(LightningEnvironment).Assembly, null, out var library) && NativeLibrary.TryGetExport(library, "mdb_env_create", out _);

    /// <summary>Why the LMDB benchmarks run or are skipped.</summary>
    public static string Status => IsAvailable ? "liblmdb loaded" : "liblmdb not loadable (apt-get install liblmdb0, then rebuild): LMDB benchmarks skipped";

    public LmdbSorted(string directory)
    {
        _directory = BenchPools.NewPath(directory, "sorted-lmdb").Replace(".pool", ".lmdb", StringComparison.Ordinal);
        Directory.CreateDirectory(_directory);
        _environment = new LightningEnvironment(_directory, new EnvironmentConfiguration { MapSize = 1L << 30, MaxDatabases = 1 });
        _environment.Open();
        using (var tx = _environment.BeginTransaction())
        {
            _database = tx.OpenDatabase(configuration: new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
            tx.Commit();
        }

        var keys = SortedPrefill.Keys();
        Span<byte> key = stackalloc byte[8], value = stackalloc byte[8];
        for (var k = 0; k < keys.Length; k += 1_000)
        {
            using var tx = _environment.BeginTransaction();
            for (var j = k; j < Math.Min(k + 1_000, keys.Length); j++)
            {
                BinaryPrimitives.WriteInt64BigEndian(key, keys[j]);
                BinaryPrimitives.WriteInt64LittleEndian(value, keys[j] * 3);
                tx.Put(_database, key, value);
            }

            tx.Commit();
        }

        _read = _environment.BeginTransaction(TransactionBeginFlags.ReadOnly);
        _read.Reset();
        Console.WriteLine($"// lmdb: {keys.Length:N0} keys on {directory}");
    }

    /// <summary>The value of <paramref name="key"/> (0 if none).</summary>
    public long Get(long key)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, key);
        _read.Renew();
        var (code, _, value) = _read.Get(_database, bytes);
        var found = code == MDBResultCode.Success ? BinaryPrimitives.ReadInt64LittleEndian(value.AsSpan()) : 0;
        _read.Reset();
        return found;
    }

    public void Put(long key, long value)
    {
        Span<byte> keyBytes = stackalloc byte[8], valueBytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(keyBytes, key);
        BinaryPrimitives.WriteInt64LittleEndian(valueBytes, value);
        using var tx = _environment.BeginTransaction();
        tx.Put(_database, keyBytes, valueBytes);
        tx.Commit();
    }

    public void Delete(long key)
    {
        Span<byte> keyBytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(keyBytes, key);
        using var tx = _environment.BeginTransaction();
        tx.Delete(_database, keyBytes);
        tx.Commit();
    }

    /// <summary>Reads <paramref name="count"/> entries from <paramref name="lower"/> up with a cursor, every key and value (their sum).</summary>
    public long Range(long lower, int count)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, lower);
        long sum = 0;
        _read.Renew();
        using (var cursor = _read.CreateCursor(_database))
        {
            if (cursor.SetRange(bytes) == MDBResultCode.Success)
            {
                var (code, key, value) = cursor.GetCurrent();
                for (var read = 0; code == MDBResultCode.Success && read < count; read++)
                {
                    sum += BinaryPrimitives.ReadInt64BigEndian(key.AsSpan()) + BinaryPrimitives.ReadInt64LittleEndian(value.AsSpan());
                    (code, key, value) = read + 1 < count ? cursor.Next() : (MDBResultCode.NotFound, default, default);
                }
            }
        }

        _read.Reset();
        return sum;
    }

    public void Dispose()
    {
        _read.Dispose();
        _database.Dispose();
        _environment.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
