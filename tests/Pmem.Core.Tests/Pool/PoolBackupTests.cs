using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>pool.Backup: a consistent copy of an open pool while other threads commit, write, allocate and free.</summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class PoolBackupTests : IDisposable
{
    private const int Threads = 4;
    private const int AccountsPerThread = 4;
    private const long StartBalance = 1_000;

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-backup-");

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory.FullName, name);

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_backup_of_a_private_pool_is_private()
    {
        // An outside tester's case: a 0600 pool's backup came out 0644, readable by every user.
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "backup", 8 << 20);
        pool.Root<Registry>().Names["secret"] = "kept";
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var result = pool.Backup(PoolPath("copy.pool"));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(result.Destination));
    }

    [Fact]
    public void A_backup_of_a_quiet_pool_opens_with_the_same_objects()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "backup", 8 << 20);
        var registry = pool.Root<Registry>();
        for (var i = 0; i < 50; i++)
        {
            var account = pool.New<Account>();
            (account.Owner, account.Balance, account.Amount) = ($"owner {i}", i, i + 0.5m);
            registry.Accounts.Add(account);
            registry.Names[$"k{i}"] = $"v{i}";
        }

        var result = pool.Backup(PoolPath("copy.pool"));
        Assert.Equal(PoolPath("copy.pool"), result.Destination);
        Assert.Equal(new FileInfo(path).Length, result.Bytes);
        Assert.Equal(0, result.RecopiedBytes); // nothing changed between the passes

        using var copy = PersistentPool.Open(result.Destination, "backup");
        var accounts = copy.Root<Registry>().Accounts;
        Assert.Equal(50, accounts.Count);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => ($"owner {i}", (long)i, i + 0.5m)), accounts.Select(a => (a!.Owner!, a.Balance, a.Amount)));
        Assert.Equal("v49", copy.Root<Registry>().Names["k49"]);
        var report = copy.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void A_backup_taken_while_the_pool_grows_is_whole()
    {
        // An outside tester's case: the first pass read the pool's length twice, and growth in between threw
        // IndexOutOfRangeException. Four writers grow the pool by 800 KB strings while backups follow each other.
        for (var round = 0; round < 4; round++)
        {
            var path = PoolPath($"growing{round}.pool");
            using var pool = PersistentPool.Create(path, "backup", 8 << 20, new PoolCreateOptions { MaxSize = 1L << 30 });
            var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            {
                for (var i = 0; i < 25; i++)
                {
                    using var tx = pool.BeginTransaction();
                    pool.New<Account>().Owner = new string('x', 400_000 + i);
                    tx.Commit();
                }
            })).ToArray();
            var copy = PoolPath("copy.pool");
            while (!writers.All(w => w.IsCompleted))
            {
                pool.Backup(copy, overwrite: true);
            }

            Task.WaitAll(writers);
            using var opened = PersistentPool.Open(copy, "backup");
            var report = opened.Check();
            Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        }
    }

    [Fact]
    public void A_backup_never_replaces_a_pool_another_opener_has_open()
    {
        using var pool = PersistentPool.Create(PoolPath(), "backup", 8 << 20);
        var other = PoolPath("other.pool");
        using (var open = PersistentPool.Create(other, "backup", 8 << 20))
        {
            open.Root<Registry>().Names["keep"] = "me";
            var error = Assert.Throws<IOException>(() => pool.Backup(other, overwrite: true));
            Assert.Contains("the destination is open by", error.Message);
            Assert.Throws<IOException>(() => pool.Backup(pool.Path + ".wal", overwrite: true));
        }

        using var reopened = PersistentPool.Open(other, "backup");
        Assert.Equal("me", reopened.Root<Registry>().Names["keep"]);
        Assert.Empty(Directory.GetFiles(_directory.FullName, ".*.tmp"));
    }

    [Fact]
    public void A_backup_deletes_what_killed_backups_to_its_destination_left_but_not_a_live_one()
    {
        using var pool = PersistentPool.Create(PoolPath(), "backup", 8 << 20);
        var abandoned = PoolPath(".copy.pool.backup-0123456789abcdef0123456789abcdef.tmp");
        var live = PoolPath(".copy.pool.backup-fedcba9876543210fedcba9876543210.tmp");
        var other = PoolPath(".other.pool.backup-0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(abandoned, new byte[4096]);
        File.WriteAllBytes(other, new byte[4096]);
        using (new FileStream(live, FileMode.CreateNew, FileAccess.Write, FileShare.None)) // its backup still at work
        {
            pool.Backup(PoolPath("copy.pool"));
            Assert.False(File.Exists(abandoned));
            Assert.True(File.Exists(live));
            Assert.True(File.Exists(other)); // another destination's
        }
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Backups_taken_while_threads_write_are_consistent(DurabilityMode mode)
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "backup", 16 << 20, new PoolCreateOptions { Durability = mode, MaxSize = 64 << 20 });
        var registry = pool.Root<Registry>();
        using (var tx = pool.BeginTransaction())
        {
            for (var t = 0; t < Threads; t++)
            {
                for (var a = 0; a < AccountsPerThread; a++)
                {
                    var account = pool.New<Account>();
                    account.Balance = StartBalance;
                    account.Counter = t;
                    registry.Accounts.Add(account);
                }

                registry.ById[t] = pool.New<Account>();           // its first counter
                registry.ById[Threads + t] = pool.New<Account>(); // its second counter and its latest transfer
            }

            tx.Commit();
        }

        var accounts = registry.Accounts.Select(a => a!).ToArray();
        using var stop = new CancellationTokenSource();
        var failures = new List<Exception>();
        var writers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                Write(pool, t, accounts, registry.ById[t]!, registry.ById[Threads + t]!, stop.Token);
            }
            catch (Exception e)
            {
                lock (failures)
                {
                    failures.Add(e);
                }
            }
        })).ToArray();
        foreach (var writer in writers)
        {
            writer.Start();
        }

        var recopied = 0L;
        try
        {
            for (var b = 0; b < 10; b++)
            {
                Thread.Sleep(30);
                var result = pool.Backup(PoolPath($"copy{b}.pool"));
                recopied += result.RecopiedBytes;
                VerifyCopy(result.Destination);
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var writer in writers)
            {
                writer.Join();
            }
        }

        Assert.Empty(failures);
        Assert.True(recopied > 0, "writers should have changed something between the passes");
    }

    /// <summary>
    /// Each thread moves money among its own accounts in transactions, creates an object and deletes the one before,
    /// and writes two counters outside any transaction, the second never ahead of the first (a copy with the second
    /// newer than the first is one no crash could leave), some in batches.
    /// </summary>
    private static void Write(PersistentPool pool, int thread, Account[] accounts, Account first, Account second, CancellationToken stop)
    {
        var random = new Random(thread);
        var mine = accounts.Where(a => a.Counter == thread).ToArray();
        for (long step = 1; !stop.IsCancellationRequested; step++)
        {
            var (from, to) = (mine[random.Next(mine.Length)], mine[random.Next(mine.Length)]);
            using (var tx = pool.BeginTransaction())
            {
                var amount = random.Next(1, 50);
                from.Balance -= amount;
                to.Balance += amount;
                var transfer = pool.New<Account>();
                transfer.Owner = $"transfer {step}";
                if (second.Next is { } old)
                {
                    pool.Delete(old);
                }

                second.Next = transfer;
                tx.Commit();
            }

            first.Balance = step;  // durable on return
            second.Balance = step; // never ahead of the first
            if (step % 16 == 0)
            {
                using var batch = pool.Batch();
                first.Counter = (int)step;
                second.Counter = (int)step;
            }
        }
    }

    private static void VerifyCopy(string path)
    {
        using var copy = PersistentPool.Open(path, "backup");
        var report = copy.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
        var registry = copy.Root<Registry>();
        Assert.Equal(Threads * AccountsPerThread * StartBalance, registry.Accounts.Sum(a => a!.Balance));
        for (var t = 0; t < Threads; t++)
        {
            var (first, second) = (registry.ById[t]!, registry.ById[Threads + t]!);
            Assert.True(second.Balance <= first.Balance, $"thread {t}: the second counter {second.Balance} is ahead of the first {first.Balance}");
            Assert.True(second.Next is null || second.Next.Owner!.StartsWith("transfer ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Bad_destinations_are_refused_and_nothing_is_left_behind()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "backup", 8 << 20);
        Assert.Throws<IOException>(() => pool.Backup(path));
        var existing = PoolPath("existing.pool");
        File.WriteAllText(existing, "precious");
        Assert.Throws<IOException>(() => pool.Backup(existing));
        Assert.Equal("precious", File.ReadAllText(existing));
        var missing = Path.Combine(_directory.FullName, "missing", "copy.pool");
        var notThere = Assert.Throws<DirectoryNotFoundException>(() => pool.Backup(missing));
        Assert.Equal($"{missing}: the destination's directory does not exist.", notThere.Message); // not the hidden temporary file's name

        pool.Backup(existing, overwrite: true);
        var into = Directory.CreateDirectory(PoolPath("into")).FullName;
        Assert.Equal(Path.Combine(into, "test.pool"), pool.Backup(into).Destination);
        Assert.Equal(["existing.pool", "test.pool"], _directory.GetFiles().Select(f => f.Name).Order());
        using var copy = PersistentPool.OpenReadOnly(existing, "backup");
        Assert.True(copy.Check().IsConsistent);
    }

    [Fact]
    public void A_read_only_pool_can_be_backed_up()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, "backup", 8 << 20))
        {
            pool.Root<Account>().Owner = "read only";
        }

        using var readOnly = PersistentPool.OpenReadOnly(path, "backup");
        var result = readOnly.Backup(PoolPath("copy.pool"));
        using var copy = PersistentPool.Open(result.Destination, "backup");
        Assert.Equal("read only", copy.Root<Account>().Owner);
    }
}
