// WriteAheadLimitTests -- a transaction larger than one write-ahead log record is refused cleanly, and commits without the log.
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// With a write-ahead log a commit is one record of the log file, at most a quarter of it (16 MiB by default); an outside
/// tester's 180,000-object transaction passed it and met a message about "a log slot". New content past a record's
/// first MiB is synced in place rather than carried, so what still fills a record is writes to existing data. The
/// refusal names the log, rolls the transaction back and leaves the pool as it was; the same transaction commits in
/// the pool without the log.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class WriteAheadLimitTests : IDisposable
{
    private const int Accounts = 12_000;
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-wal-limit");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_transaction_over_one_log_record_is_refused_and_commits_without_the_log()
    {
        // A 1 MiB log, whose records hold 256 KiB: 12,000 changed balances of existing accounts log 24 bytes each.
        var path = Path.Combine(_directory, "limit.pool");
        PersistentPool.Create(path, "limit", 64 << 20).Dispose();
        using (var pool = PersistentPool.Open(path, "limit", new PoolOpenOptions { WriteAheadLog = true, WriteAheadLogCapacity = 1 << 20 }))
        {
            var accounts = pool.Root<Registry>().Accounts;
            for (var made = 0; made < Accounts; made += 1_000)
            {
                using var tx = pool.BeginTransaction();
                for (var i = 0; i < 1_000; i++)
                {
                    accounts.Add(pool.New<Account>());
                }

                tx.Commit();
            }

            var refused = Assert.Throws<TransactionTooLargeException>(() =>
            {
                using var tx = pool.BeginTransaction();
                accounts[0]!.Owner = new string('s', 300_000); // past what the record carries, so synced in place: not refused for it
                SetBalances(pool, 1);
                tx.Commit();
            });
            Assert.Contains(path, refused.Message);
            Assert.Contains("one record of the write-ahead log holds at most", refused.Message);

            Assert.All(accounts, account => Assert.Equal(0, account!.Balance));
            Assert.Null(accounts[0]!.Owner);
            Assert.True(pool.Check().IsClean);
            accounts[0]!.Balance = 2; // the next commit goes through the log as before
        }

        using (var pool = PersistentPool.Open(path, "limit"))
        {
            Assert.Equal(2, pool.Root<Registry>().Accounts[0]!.Balance);
            SetBalances(pool, 3);
        }

        using var reopened = PersistentPool.Open(path, "limit");
        Assert.All(reopened.Root<Registry>().Accounts, account => Assert.Equal(3, account!.Balance));
        Assert.True(reopened.Check().IsClean);
    }

    [Fact]
    public void A_string_larger_than_a_record_commits_through_the_log()
    {
        // 18 MB of characters, past the default record's 16 MiB: synced in the pool file, not carried (refused before).
        var path = Path.Combine(_directory, "huge.pool");
        var huge = new string('w', 9_000_000);
        using (var pool = PersistentPool.Create(path, "limit", 64 << 20, new PoolCreateOptions { WriteAheadLog = true }))
        {
            using var tx = pool.BeginTransaction();
            pool.Root<Account>().Owner = huge;
            pool.Root<Account>().Balance = 1;
            tx.Commit();
        }

        using var reopened = PersistentPool.Open(path, "limit", new PoolOpenOptions { WriteAheadLog = true });
        Assert.Equal(huge, reopened.Root<Account>().Owner);
        Assert.Equal(1, reopened.Root<Account>().Balance);
        Assert.True(reopened.Check().IsClean);
    }

    private static void SetBalances(PersistentPool pool, long balance)
    {
        using var tx = pool.BeginTransaction();
        foreach (var account in pool.Root<Registry>().Accounts)
        {
            account!.Balance = balance;
        }

        tx.Commit();
    }
}
