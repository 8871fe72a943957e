// SqliteFiles -- what every SQLite peer in the benchmarks does alike: run a statement, prepare one, delete a database's files.
using Microsoft.Data.Sqlite;

namespace Pmem.Benchmarks;

/// <summary>Small helpers the SQLite peers share (<c>PoolTransferBenchmarks</c>, <c>SortedPeers</c>, <c>ThroughputSystems</c>).</summary>
internal static class SqliteFiles
{
    /// <summary>Runs one statement that returns no rows.</summary>
    public static void ExecuteSql(this SqliteConnection connection, string sql)
    {
        using var command = new SqliteCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    /// <summary>A prepared command, reused by the caller for every operation.</summary>
    public static SqliteCommand PrepareSql(this SqliteConnection connection, string sql)
    {
        var command = new SqliteCommand(sql, connection);
        command.Prepare();
        return command;
    }

    /// <summary>Deletes a database file with its WAL and shared-memory files (after its connections are closed).</summary>
    public static void DeleteDatabase(string path)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(path + suffix);
        }
    }
}
