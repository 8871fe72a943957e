// Which write-ahead log a pool replays: the one beside its file, whatever name it is opened by, and never another run's.
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// An outside tester opened one pool through two symbolic links: each name had its own <c>.wal</c> beside it, a
/// power failure while committing through one was then opened through the other, whose stale log (of an earlier,
/// cleanly closed run) read as empty, and the pool came back torn. The log now lives beside the file itself, and
/// each log records the run it was started for, so a log of another run is refused rather than replayed as empty.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class WriteAheadNamesTests : IDisposable
{
    private const int Accounts = Vault.Slots;
    private static readonly PoolOpenOptions Ahead = new() { WriteAheadLog = true };
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-wal-names-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private string CreateBank(string name)
    {
        var path = PathOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var pool = PersistentPool.Create(path, "wal", 8 << 20, new PoolCreateOptions { WriteAheadLog = true });
        Vault.FillRoot(pool, 1_000);
        return path;
    }

    private static long[] Balances(PersistentPool pool) => [.. Enumerable.Range(0, Accounts).Select(i => pool.Root<Vault>()[i]!.Balance)];

    private static void Transfers(PersistentPool pool, int count)
    {
        var vault = pool.Root<Vault>();
        for (var i = 0; i < count; i++)
        {
            using var tx = pool.BeginTransaction();
            vault[i % Accounts]!.Balance -= 7;
            vault[(i + 1) % Accounts]!.Balance += 7;
            tx.Commit();
        }
    }

    /// <summary>The pool file's bytes as the page cache holds them (the open pool holds the file's lock).</summary>
    private static byte[] Snapshot(PersistentPool pool) => pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();

    [Fact]
    public void Every_symbolic_link_to_a_pool_uses_the_log_beside_its_file_and_a_power_failure_recovers_through_another()
    {
        var real = CreateBank("sub/real.pool");
        var (first, second) = (PathOf("first.pool"), PathOf("second.pool"));
        File.CreateSymbolicLink(first, real);
        File.CreateSymbolicLink(second, real);
        Assert.Equal(real + ".wal", PersistentPool.WriteAheadLogPath(first));

        using (var pool = PersistentPool.Open(second, "wal", Ahead))
        {
            Transfers(pool, 5); // a clean run through the other name, as in the report
        }

        byte[] atOpen, log;
        long[] expected;
        using (var pool = PersistentPool.Open(first, "wal", Ahead))
        {
            atOpen = Snapshot(pool);
            Transfers(pool, 150);
            expected = Balances(pool);
            log = TestFiles.ReadAllBytes(real + ".wal"); // every record synced: its commit returned
        }

        Assert.False(File.Exists(first + ".wal"));
        Assert.False(File.Exists(second + ".wal"));

        // A power failure that lost every page of the pool file written since the open: the log holds the 150.
        TestFiles.WriteAllBytes(real, atOpen);
        TestFiles.WriteAllBytes(real + ".wal", log);
        using var recovered = PersistentPool.Open(second, "wal");
        Assert.Equal(150, recovered.RecoveredTransactions);
        Assert.Equal(expected, Balances(recovered));
    }

    [Fact]
    public void A_log_started_for_another_run_is_refused_untouched_and_the_run_s_own_log_then_recovers()
    {
        var path = CreateBank("bank.pool");
        byte[] atOpen, ownLog;
        long[] expected;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            atOpen = Snapshot(pool); // the header names this run's log
            Transfers(pool, 40);
            expected = Balances(pool);
            ownLog = TestFiles.ReadAllBytes(path + ".wal");
        }

        using (var later = PersistentPool.Open(path, "wal", Ahead))
        {
            Transfers(later, 3); // a later run: the log file is stamped for it now
        }

        var laterLog = TestFiles.ReadAllBytes(path + ".wal");
        var image = PathOf("image.pool");
        TestFiles.WriteAllBytes(image, atOpen);
        TestFiles.WriteAllBytes(image + ".wal", laterLog); // what a second name's log beside it would be (a hard link)

        var refused = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(image, "wal").Dispose());
        Assert.Contains("was started for another run of the pool", refused.Message);
        Assert.Equal(atOpen, TestFiles.ReadAllBytes(image));
        Assert.Equal(laterLog, TestFiles.ReadAllBytes(image + ".wal"));

        TestFiles.WriteAllBytes(image + ".wal", ownLog);
        using var recovered = PersistentPool.Open(image, "wal");
        Assert.Equal(expected, Balances(recovered));
    }

    [Fact]
    public void A_log_deleted_while_the_pool_is_open_fails_the_next_commit_and_the_close_leaves_the_pool_whole()
    {
        // An outside tester deleted <pool>.wal under a running program: every later commit returned as durable, and
        // after a kill the pool could not be opened at all (its header names a log that is gone).
        var path = CreateBank("bank.pool");
        long[] expected;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            Transfers(pool, 20);
            expected = Balances(pool);
            File.Delete(path + ".wal");

            var failed = Assert.Throws<Pmem.Memory.PmemIOException>(() => Transfers(pool, 1));
            Assert.Contains("was deleted while the pool was open", failed.Message);
            Assert.Throws<Pmem.Memory.PmemIOException>(() => Transfers(pool, 1)); // and every commit after it
            Assert.Equal(expected, Balances(pool)); // the failed commits were rolled back
        }

        using var reopened = PersistentPool.Open(path, "wal", Ahead);
        Assert.Equal(expected, Balances(reopened));
        Assert.True(File.Exists(path + ".wal")); // a new log
        Transfers(reopened, 1);
    }

    [Fact]
    public void A_pool_whose_name_is_near_the_longest_a_file_may_have_can_use_a_log()
    {
        // <name>.wal fits NAME_MAX (255 bytes) but <name>.wal.new, where the log was written first, did not.
        var path = CreateBank(new string('p', 246) + ".pool"); // 251 bytes
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            Transfers(pool, 3);
        }

        Assert.Equal([Path.GetFileName(path), Path.GetFileName(path) + ".wal"], _directory.GetFiles().Select(f => f.Name).Order());
    }
}
