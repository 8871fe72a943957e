// WriteAheadLimitTests -- a transaction larger than one write-ahead log record is refused cleanly, and commits without the log.
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// With a write-ahead log a commit is one record of the log file, at most a quarter of it (16 MiB); an outside tester's
/// 180,000-object transaction passed it and met a message about "a log slot". The refusal names the log, rolls the
/// transaction back and leaves the pool as it was; the same transaction commits in the pool without the log.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class WriteAheadLimitTests : IDisposable
{
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-wal-limit");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void A_transaction_over_one_log_record_is_refused_and_commits_without_the_log()
    {
        var path = Path.Combine(_directory, "limit.pool");
        var huge = new string('w', 9_000_000); // 18 MB of published content, which the record carries
        using (var pool = PersistentPool.Create(path, "limit", 64 << 20, new PoolCreateOptions { WriteAheadLog = true }))
        {
            pool.Root<Account>().Owner = "before";
            var refused = Assert.Throws<TransactionTooLargeException>(() =>
            {
                using var tx = pool.BeginTransaction();
                pool.Root<Account>().Owner = huge;
                pool.Root<Account>().Balance = 1;
                tx.Commit();
            });
            Assert.Contains(path, refused.Message);
            Assert.Contains("one record of the write-ahead log holds at most", refused.Message);

            Assert.Equal("before", pool.Root<Account>().Owner);
            Assert.Equal(0, pool.Root<Account>().Balance);
            Assert.True(pool.Check().IsClean);
            pool.Root<Account>().Balance = 2; // the next commit goes through the log as before
        }

        using (var pool = PersistentPool.Open(path, "limit"))
        {
            Assert.Equal(2, pool.Root<Account>().Balance);
            using var tx = pool.BeginTransaction();
            pool.Root<Account>().Owner = huge;
            tx.Commit();
        }

        using var reopened = PersistentPool.Open(path, "limit");
        Assert.Equal(huge, reopened.Root<Account>().Owner);
        Assert.True(reopened.Check().IsClean);
    }
}
