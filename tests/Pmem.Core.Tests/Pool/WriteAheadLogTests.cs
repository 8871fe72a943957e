using System.IO.Hashing;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// Pools committing through a write-ahead log file: whole after a clean close without the log, and after a power
/// failure that lost any of the pool file's pages written since the last checkpoint, complete from the log alone.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class WriteAheadLogTests : IDisposable
{
    private const int Accounts = Vault.Slots;
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-wal-pool-");

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory.FullName, name);

    public void Dispose() => _directory.Delete(recursive: true);

    private static readonly PoolOpenOptions Ahead = new() { WriteAheadLog = true };

    /// <summary>A pool whose root vault holds <see cref="Accounts"/> accounts of balance 1,000 each.</summary>
    private string CreateBank(string name = "test.pool")
    {
        var path = PoolPath(name);
        using var pool = PersistentPool.Create(path, "wal", 8 << 20, new PoolCreateOptions { WriteAheadLog = true });
        Vault.FillRoot(pool, 1_000);
        return path;
    }

    private static void Transfer(PersistentPool pool, int from, int to, long amount)
    {
        var vault = pool.Root<Vault>();
        using var tx = pool.BeginTransaction();
        vault[from]!.Balance -= amount;
        vault[to]!.Balance += amount;
        tx.Commit();
    }

    private static long[] Balances(PersistentPool pool) => [.. Enumerable.Range(0, Accounts).Select(i => pool.Root<Vault>()[i]!.Balance)];

    /// <summary>Balances after each of <paramref name="count"/> pseudo-random transfers from the initial ones.</summary>
    private static List<long[]> RunTransfers(PersistentPool pool, int count, int seed)
    {
        var random = new Random(seed);
        var states = new List<long[]> { Balances(pool) };
        for (var i = 0; i < count; i++)
        {
            Transfer(pool, random.Next(Accounts), random.Next(Accounts), random.Next(1, 50));
            states.Add(Balances(pool));
        }

        return states;
    }

    /// <summary>The pool file's bytes as the page cache holds them (read through the mapping: the pool holds the file's lock).</summary>
    private static byte[] Snapshot(PersistentPool pool) => pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();

    private static byte[] Snapshot(string path)
    {
        using var file = File.Open(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        return bytes;
    }

    [Fact]
    public void A_checkpoint_writes_R_and_the_replay_position_in_one_sector()
    {
        // A power failure keeps both or neither only while they share a 512-byte sector: recovery refuses a position
        // beside an older R (a record before it above R) as damage.
        Assert.Equal(PoolLayout.RetiredThroughOffset / 512, PoolLayout.WriteAheadStartOffset / 512);
        Assert.Equal(0, PoolLayout.RetiredThroughOffset % 8);
        Assert.Equal(0, PoolLayout.WriteAheadStartOffset % 8);
    }

    [Fact]
    public void Commits_through_the_log_survive_a_clean_close_and_the_pool_file_is_whole_without_the_log()
    {
        var path = CreateBank();
        List<long[]> states;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            Assert.True(File.Exists(PersistentPool.WriteAheadLogPath(path)));
            states = RunTransfers(pool, 300, seed: 1);
            using var tx = pool.BeginTransaction();
            pool.Root<Vault>()[0]!.Owner = "through the log"; // published content: synced before its record
            tx.Commit();
        }

        File.Delete(PersistentPool.WriteAheadLogPath(path));
        using var reopened = PersistentPool.Open(path, "wal");
        Assert.Equal(states[^1], Balances(reopened));
        Assert.Equal("through the log", reopened.Root<Vault>()[0]!.Owner);
        Assert.Equal(PoolLayout.FormatVersion, reopened.FormatVersion); // new pools may name a log already (a format-9 pool moves to 10: MidSizeRunTests)
    }

    /// <summary>
    /// The power failure a write-ahead log is for: the pool file as the open left it (or with any of its pages written
    /// since, as the kernel may write them back at any time), and the log as synced. Every commit must be there, and a
    /// read-only open must see the same without changing either file.
    /// </summary>
    [Fact]
    public void A_power_failure_that_lost_any_pages_since_the_open_is_completed_from_the_log()
    {
        var path = CreateBank();
        byte[] atOpen, final, log;
        List<long[]> states;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            atOpen = Snapshot(pool);
            states = RunTransfers(pool, 400, seed: 2);
            log = Snapshot(PersistentPool.WriteAheadLogPath(path)); // every record is synced: its commit returned
            final = Snapshot(pool);
        }

        var random = new Random(3);
        for (var image = 0; image < 12; image++)
        {
            var bytes = (byte[])atOpen.Clone();
            var share = image / 11.0; // from no page written back to every page
            for (var page = 0; page < bytes.Length / 4096; page++)
            {
                if (random.NextDouble() < share)
                {
                    final.AsSpan(page * 4096, 4096).CopyTo(bytes.AsSpan(page * 4096));
                }
            }

            var imagePath = PoolPath($"image{image}.pool");
            TestFiles.WriteAllBytes(imagePath, bytes);
            TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
            var before = XxHash3.HashToUInt64(bytes);
            using (var readOnly = PersistentPool.OpenReadOnly(imagePath, "wal"))
            {
                Assert.Equal(states[^1], Balances(readOnly));
            }

            Assert.Equal(before, XxHash3.HashToUInt64(TestFiles.ReadAllBytes(imagePath)));
            using var recovered = PersistentPool.Open(imagePath, "wal");
            Assert.Equal(states[^1], Balances(recovered));
            Assert.Equal(400, recovered.RecoveredTransactions);
        }
    }

    /// <summary>The log after 50 transfers and the pool file at the open, with record <paramref name="damaged"/>'s payload flipped (none past the last).</summary>
    private (string Image, List<long[]> States) LogWithDamagedRecord(int damaged)
    {
        var path = CreateBank();
        byte[] atOpen, log;
        List<long[]> states;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            atOpen = Snapshot(pool);
            states = RunTransfers(pool, 50, seed: 4);
            log = Snapshot(PersistentPool.WriteAheadLogPath(path));
        }

        var position = WriteAheadFile.HeaderSize;
        for (var record = 0; record < Math.Min(damaged, states.Count - 1); record++)
        {
            position += (int)WriteAheadFile.RecordSize(BitConverter.ToInt32(log, position + 16));
        }

        if (damaged < states.Count - 1)
        {
            log[position + WriteAheadFile.FrameSize + 70] ^= 0x10;
        }

        var imagePath = PoolPath($"damaged-{damaged}.pool");
        TestFiles.WriteAllBytes(imagePath, atOpen);
        TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
        return (imagePath, states);
    }

    [Fact]
    public void A_bulk_transaction_logs_adjacent_new_objects_in_few_entries_and_replays_them_whole()
    {
        const int Made = 100;
        var path = CreateBank();
        byte[] atOpen, log;
        long recordBytes;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            atOpen = Snapshot(pool);
            var tail = pool.WriteAheadLogFile!.Tail;
            using (var tx = pool.BeginTransaction())
            {
                Account? previous = null;
                for (var i = 0; i < Made; i++)
                {
                    var account = pool.New<Account>(); // batches prepared inside the transaction: headers logged
                    (account.Balance, account.Next) = (i, previous);
                    previous = account;
                }

                pool.Root<Vault>()[0]!.Next = previous;
                tx.Commit();
            }

            // A 64-byte object's content and its header, each logged as its own entry, took 104 bytes of the record.
            recordBytes = pool.WriteAheadLogFile.Tail - tail;
            log = Snapshot(PersistentPool.WriteAheadLogPath(path));
        }

        Assert.InRange(recordBytes, Made * 64, Made * 72);
        var imagePath = PoolPath("bulk-image.pool");
        TestFiles.WriteAllBytes(imagePath, atOpen); // every page the transaction wrote lost: the record alone has them
        TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
        using var recovered = PersistentPool.Open(imagePath, "wal");
        Assert.Equal(1, recovered.RecoveredTransactions);
        var balances = new List<long>();
        for (var account = recovered.Root<Vault>()[0]!.Next; account is not null; account = account.Next)
        {
            balances.Add(account.Balance);
        }

        Assert.Equal(Enumerable.Range(0, Made).Reverse().Select(i => (long)i), balances);
        Assert.True(recovered.Check().IsClean);
    }

    [Fact]
    public void Transactions_making_more_than_a_record_holds_sync_it_in_place_and_commit()
    {
        // A 1 MiB log: one record holds 256 KiB, of which up to 128 KiB may be new content. A dictionary's table grown
        // past that, a list's storage and a long string each threw TransactionTooLargeException before: the commit
        // syncs such content in the pool file first, and its record carries only headers and writes.
        var path = PoolPath("large.pool");
        var options = new PoolOpenOptions { WriteAheadLog = true, WriteAheadLogCapacity = 1 << 20 };
        PersistentPool.Create(path, "wal", 32 << 20).Dispose();
        var random = new Random(7);
        var owner = new string([.. Enumerable.Range(0, 200_000).Select(_ => (char)random.Next('a', 'z' + 1))]);
        using (var pool = PersistentPool.Open(path, "wal", options))
        {
            var registry = pool.Root<Registry>();
            var log = pool.WriteAheadLogFile!;
            Assert.True(log.MaxPayload < 300_000);
            for (var k = 0; k < 40_000; k += 1_000)
            {
                using var tx = pool.BeginTransaction();
                for (var j = k; j < k + 1_000; j++)
                {
                    registry.Counters.Add(j, 3L * j);
                    registry.Numbers.Add(j);
                }

                tx.Commit();
            }

            var (tail, syncs) = (log.Tail, (pool.Domain as MsyncDomain)?.SyncCalls);
            using (var tx = pool.BeginTransaction())
            {
                var account = pool.New<Account>();
                (account.Owner, account.Balance) = (owner, 5);
                registry.Accounts.Add(account);
                tx.Commit();
            }

            Assert.InRange(log.Tail - tail, 1, log.MaxPayload / 2 + 4_096); // 400 KB of characters not in it
            Assert.True(syncs is null || ((MsyncDomain)pool.Domain).SyncCalls > syncs, "the string was not synced before its record");
        }

        using var reopened = PersistentPool.Open(path, "wal", options);
        var counters = reopened.Root<Registry>().Counters;
        Assert.Equal(40_000, counters.Count);
        Assert.All(Enumerable.Range(0, 40_000), k => Assert.Equal(3L * k, counters[k]));
        Assert.Equal(Enumerable.Range(0, 40_000).Select(k => (long)k), reopened.Root<Registry>().Numbers);
        Assert.Equal(owner, reopened.Root<Registry>().Accounts[0]!.Owner);
        Assert.True(reopened.Check().IsClean);
    }

    [Fact]
    public void A_torn_record_ends_the_replay_with_the_commit_before_it()
    {
        // Record 45 of 50 torn: a crash can leave the four after it (committers that waited for it, on other lanes),
        // none of them acknowledged, and no page holding their applies: the pool is as after transfer 44.
        var (image, states) = LogWithDamagedRecord(45);
        using var recovered = PersistentPool.Open(image, "wal");
        Assert.Equal(states[45], Balances(recovered));
    }

    [Fact]
    public void A_damaged_record_with_more_whole_records_after_it_than_a_crash_leaves_is_refused_untouched()
    {
        // Record 20 of 50 damaged: the log holds commits 30 past the last one replayed, more than the eight lanes' committers could have left
        // waiting behind a torn one, so it was durable once: stopping there would drop committed transfers.
        var (image, _) = LogWithDamagedRecord(20);
        var before = (TestFiles.ReadAllBytes(image), TestFiles.ReadAllBytes(PersistentPool.WriteAheadLogPath(image)));
        var refused = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(image, "wal"));
        Assert.Contains("30 past the last one replayed", refused.Message);
        Assert.Throws<PoolCorruptedException>(() => PersistentPool.OpenReadOnly(image, "wal"));
        Assert.Equal(before.Item1, TestFiles.ReadAllBytes(image));
        Assert.Equal(before.Item2, TestFiles.ReadAllBytes(PersistentPool.WriteAheadLogPath(image)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(30)]
    [InlineData(50)]
    public void An_R_raised_into_the_log_s_records_is_refused_untouched_instead_of_skipping_them(int raisedBy)
    {
        // Commits R + 1 … R + 50 lie in the log from the header's position on: an R raised by damage would skip the
        // first ones (all of them at +50) as if a checkpoint had applied them (found by the wrapped-log fuzzer).
        var (image, _) = LogWithDamagedRecord(int.MaxValue);
        var pool = TestFiles.ReadAllBytes(image);
        var retired = BitConverter.ToInt64(pool, PoolLayout.RetiredThroughOffset);
        BitConverter.TryWriteBytes(pool.AsSpan(PoolLayout.RetiredThroughOffset), retired + raisedBy);
        TestFiles.WriteAllBytes(image, pool);
        var log = TestFiles.ReadAllBytes(PersistentPool.WriteAheadLogPath(image));

        var refused = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(image, "wal"));
        Assert.Contains($"is commit {retired + 1}, but the header's retirement watermark R is {retired + raisedBy}", refused.Message);
        Assert.Throws<PoolCorruptedException>(() => PersistentPool.OpenReadOnly(image, "wal"));
        Assert.Equal(pool, TestFiles.ReadAllBytes(image));
        Assert.Equal(log, TestFiles.ReadAllBytes(PersistentPool.WriteAheadLogPath(image)));
    }

    [Fact]
    public void A_crash_after_recovery_raised_R_but_before_it_ended_the_log_reopens_with_every_commit()
    {
        // Recovery makes R cover the replayed commits, then ends the log; a crash between the two leaves the log active.
        // R moves with the position, as at a checkpoint, so the next replay starts past the records R covers.
        var (image, states) = LogWithDamagedRecord(int.MaxValue);
        var life = BitConverter.ToUInt64(TestFiles.ReadAllBytes(image), PoolLayout.WriteAheadLifeOffset);
        using (var recovered = PersistentPool.Open(image, "wal"))
        {
            Assert.Equal(50, recovered.RecoveredTransactions);
        }

        var pool = TestFiles.ReadAllBytes(image);
        Assert.Equal(0UL, BitConverter.ToUInt64(pool, PoolLayout.WriteAheadLifeOffset)); // ended: put it back
        BitConverter.TryWriteBytes(pool.AsSpan(PoolLayout.WriteAheadLifeOffset), life);
        TestFiles.WriteAllBytes(image, pool);

        using var reopened = PersistentPool.Open(image, "wal");
        Assert.Equal(states[^1], Balances(reopened));
        Assert.Equal(0, reopened.RecoveredTransactions);
    }

    [Fact]
    public void A_write_outside_a_transaction_after_commits_is_never_undone_by_the_replay()
    {
        var path = CreateBank();
        byte[] log, final;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            Transfer(pool, 0, 1, 10);                  // account 0: 990, in the log
            pool.Root<Vault>()[0]!.Balance = 5;       // outside the log: a checkpoint first
            Transfer(pool, 2, 3, 10);
            log = Snapshot(PersistentPool.WriteAheadLogPath(path));
            final = Snapshot(pool);
        }

        var imagePath = PoolPath("after-set.pool");
        TestFiles.WriteAllBytes(imagePath, final);
        TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
        using var recovered = PersistentPool.Open(imagePath, "wal");
        Assert.Equal([5, 1_010, 990, 1_010], Balances(recovered)[..4]);
    }

    [Fact]
    public void A_crash_just_after_a_checkpoint_whose_record_wraps_past_the_log_s_end_recovers()
    {
        // The checkpointed commit's record starts in the log file's last bytes and its frame goes on at the file's
        // start: recovery's check of R against the log's newest commit must still find it.
        var path = PoolPath();
        using (var created = PersistentPool.Create(path, "wal", 8 << 20))
        {
            Vault.FillRoot(created, 1_000); // no log yet: the open below makes a small one, which wraps every few dozen commits
        }

        byte[] log, final;
        long[] expected;
        using (var pool = PersistentPool.Open(path, "wal", new PoolOpenOptions { WriteAheadLog = true, WriteAheadLogCapacity = 8 << 10 }))
        {
            var file = pool.WriteAheadLogFile!;
            var random = new Random(5);
            for (var commit = 0; ; commit++)
            {
                Assert.True(commit < 20_000, "no record started in the log's last bytes");
                var at = file.Tail % file.Capacity;
                if (commit % 3 == 0)
                {
                    Transfer(pool, random.Next(Accounts), random.Next(Accounts), random.Next(1, 50));
                }
                else
                {
                    using var tx = pool.BeginTransaction(); // a record of another size, so every position comes round
                    pool.Root<Vault>()[random.Next(Accounts)]!.Balance += 1;
                    tx.Commit();
                }

                if (at > file.Capacity - WriteAheadFile.FrameSize)
                {
                    break; // this commit's frame wraps
                }
            }

            pool.Root<Vault>()[0]!.Balance = 7; // outside the log: a checkpoint first, so R is that commit
            expected = Balances(pool);
            log = Snapshot(PersistentPool.WriteAheadLogPath(path));
            final = Snapshot(pool);
        }

        var imagePath = PoolPath("wrapped.pool");
        TestFiles.WriteAllBytes(imagePath, final);
        TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
        using (var readOnly = PersistentPool.OpenReadOnly(imagePath, "wal"))
        {
            Assert.Equal(expected, Balances(readOnly));
        }

        using var recovered = PersistentPool.Open(imagePath, "wal");
        Assert.Equal(expected, Balances(recovered));
    }

    [Fact]
    public void Threads_committing_at_once_all_survive_a_power_failure()
    {
        const int Threads = 4;
        const int PerThread = 150;
        var path = CreateBank();
        byte[] atOpen, log;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            atOpen = Snapshot(pool);
            var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                for (var i = 0; i < PerThread; i++)
                {
                    Transfer(pool, 2 * t, 2 * t + 1, 1); // each thread its own pair: nothing shared
                }
            })).ToList();
            threads.ForEach(thread => thread.Start());
            threads.ForEach(thread => thread.Join());
            log = Snapshot(PersistentPool.WriteAheadLogPath(path));
        }

        var imagePath = PoolPath("threads.pool");
        TestFiles.WriteAllBytes(imagePath, atOpen);
        TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
        using var recovered = PersistentPool.Open(imagePath, "wal");
        var expected = Enumerable.Range(0, Accounts).Select(i => i % 2 == 0 ? 1_000L - PerThread : 1_000L + PerThread);
        Assert.Equal(expected, Balances(recovered));
    }

    [Fact]
    public void A_pool_whose_log_is_missing_is_refused_naming_the_log_and_left_untouched()
    {
        var path = CreateBank();
        byte[] image;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            Transfer(pool, 0, 1, 10);
            image = Snapshot(pool);
        }

        var imagePath = PoolPath("lost-log.pool");
        TestFiles.WriteAllBytes(imagePath, image);
        var refused = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(imagePath, "wal"));
        Assert.Contains(PersistentPool.WriteAheadLogPath(imagePath), refused.Message);
        Assert.Equal(image, TestFiles.ReadAllBytes(imagePath));
        Assert.False(File.Exists(PersistentPool.WriteAheadLogPath(imagePath)));
    }

    [Fact]
    public void A_log_asked_of_a_format_8_pool_is_refused_before_anything_is_written()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, "wal", 8 << 20))
        {
            pool.Root<Account>().Balance = 7;
        }

        TestFiles.WriteAllBytes(path, OlderFormat.AsVersion(TestFiles.ReadAllBytes(path), 8));
        var before = TestFiles.ReadAllBytes(path);
        var refused = Assert.Throws<NotSupportedException>(() => PersistentPool.Open(path, "wal", Ahead));
        Assert.Contains("format 8", refused.Message);
        Assert.Equal(before, TestFiles.ReadAllBytes(path));
        Assert.False(File.Exists(PersistentPool.WriteAheadLogPath(path)));
        using var plain = PersistentPool.Open(path, "wal");
        Assert.Equal(7, plain.Root<Account>().Balance);
    }

    [Fact]
    public void A_pool_that_grows_while_committing_through_the_log_recovers_every_object()
    {
        var path = PoolPath();
        byte[] image, log;
        int count;
        using (var pool = PersistentPool.Create(path, "wal", 8 << 20, new PoolCreateOptions { WriteAheadLog = true, MaxSize = 64 << 20 }))
        {
            var accounts = pool.Root<Registry>().Accounts;
            var grownAt = -1;
            for (count = 0; grownAt < 0 || count < grownAt + 20; count++) // 20 more commits after it grew: in the log
            {
                grownAt = grownAt < 0 && pool.Size > 8 << 20 ? count : grownAt;
                using var tx = pool.BeginTransaction();
                var account = pool.New<Account>();
                account.Owner = new string('o', 200) + count; // strings fill the heap faster: it must grow
                account.Balance = count;
                accounts.Add(account);
                tx.Commit();
            }

            image = Snapshot(pool); // the page cache as a kill leaves it, grown
            log = Snapshot(PersistentPool.WriteAheadLogPath(path));
        }

        var imagePath = PoolPath("grown.pool");
        TestFiles.WriteAllBytes(imagePath, image);
        TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(imagePath), log);
        using var recovered = PersistentPool.Open(imagePath, "wal");
        var restored = recovered.Root<Registry>().Accounts;
        Assert.Equal(count, restored.Count);
        Assert.True(recovered.RecoveredTransactions >= 20, $"{recovered.RecoveredTransactions} replayed");
        Assert.Equal(new string('o', 200) + (count - 1), restored[count - 1]!.Owner);
        var report = recovered.Check();
        Assert.Empty(report.Errors);
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void A_backup_taken_while_the_log_is_active_opens_without_it()
    {
        var path = CreateBank();
        var copy = PoolPath("backup.pool");
        List<long[]> states;
        using (var pool = PersistentPool.Open(path, "wal", Ahead))
        {
            states = RunTransfers(pool, 40, seed: 5);
            pool.Backup(copy);
            Transfer(pool, 0, 1, 1);
        }

        Assert.False(File.Exists(PersistentPool.WriteAheadLogPath(copy)));
        using var restored = PersistentPool.Open(copy, "wal");
        Assert.Equal(states[^1], Balances(restored));
    }
}
