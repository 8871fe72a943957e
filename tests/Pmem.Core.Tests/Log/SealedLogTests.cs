using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Log;

/// <summary>
/// Process-crash pools (format 3) seal their redo logs instead of checksumming them: the seal is stored last, so a
/// log with its seal is whole, and only pools that may hold sealed logs accept one. From format 7 they also clear
/// each log once applied. The images here are what a process killed between its apply and that clear leaves: the
/// mapping's bytes with the last commit's log still in its slot.
/// </summary>
public sealed class SealedLogTests : IDisposable
{
    private const string LayoutName = "sealed";
    private const long OldBalance = 100;
    private const long NewBalance = 7;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"pmem-sealed-{Guid.NewGuid():N}.pool");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void A_process_crash_pool_seals_its_logs_and_recovery_replays_a_sealed_log()
    {
        var (image, balanceOffset) = CommitOnFile(DurabilityMode.ProcessCrash);
        var log = NewestLog(image);
        Assert.Equal(RedoLog.Seal(log.Sequence), log.Stored); // sealed, not checksummed
        Assert.NotEqual(RedoLog.Checksum(log.Header, log.Data), log.Stored);

        WriteBalance(image, balanceOffset, OldBalance); // as if the process died before its apply reached the account
        Assert.Equal(NewBalance, OpenAndReadBalance(image, balanceOffset, out var recovered));
        Assert.True(recovered >= 1);
    }

    [Fact]
    public void A_log_whose_seal_was_never_stored_did_not_commit()
    {
        var (image, balanceOffset) = CommitOnFile(DurabilityMode.ProcessCrash);
        var log = NewestLog(image);
        WriteBalance(image, balanceOffset, OldBalance);
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan((int)log.SlotOffset + 16), 0); // killed before the seal

        Assert.Equal(OldBalance, OpenAndReadBalance(image, balanceOffset, out _));
    }

    [Fact]
    public void A_seal_counts_only_in_a_pool_that_may_hold_sealed_logs()
    {
        var (image, balanceOffset) = CommitOnFile(DurabilityMode.ProcessCrash);
        WriteBalance(image, balanceOffset, OldBalance);
        SetVersion(image, 2); // a version-2 pool never seals, so a seal there is no checksum: a torn log

        Assert.Equal(OldBalance, OpenAndReadBalance(image, balanceOffset, out _));
    }

    [Fact]
    public void A_power_failure_pool_checksums_its_logs()
    {
        var (image, _) = CommitOnFile(DurabilityMode.PowerFailure);
        var log = NewestLog(image);
        Assert.Equal(RedoLog.Checksum(log.Header, log.Data), log.Stored);
    }

    [Fact]
    public void A_version_2_pool_opens_keeps_its_version_and_checksums_its_logs()
    {
        using (PersistentPool.Create(_path, LayoutName, 8 << 20, new PoolCreateOptions { Durability = DurabilityMode.ProcessCrash }))
        {
        }

        var file = TestFiles.ReadAllBytes(_path);
        SetVersion(file, 2);
        TestFiles.WriteAllBytes(_path, file);

        using var pool = PersistentPool.Open(_path, LayoutName);
        Assert.Equal(2u, pool.FormatVersion);
        var account = pool.New<Account>();
        using (var tx = pool.BeginTransaction())
        {
            account.Balance = NewBalance;
            tx.Commit();
        }

        var image = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();
        var log = NewestLog(image);
        Assert.Equal(RedoLog.Checksum(log.Header, log.Data), log.Stored);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(PoolLayout.VersionOffset)));
    }

    [Fact]
    public void A_process_crash_pool_clears_each_log_once_applied()
    {
        using var pool = PersistentPool.Create(_path, LayoutName, 8 << 20, new PoolCreateOptions { Durability = DurabilityMode.ProcessCrash });
        var account = pool.New<Account>();
        for (var i = 0; i < 10; i++)
        {
            using var tx = pool.BeginTransaction();
            account.Balance = i;
            tx.Commit();
        }

        Assert.Null(FindNewestLog(pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray()));
        Assert.Equal(9, account.Balance);
    }

    [Fact]
    public void A_version_6_process_crash_pool_with_logs_moves_to_version_7_clears_them_and_keeps_its_data()
    {
        // A version-6 pool's logs stay whole after their apply: written here by a pipeline on a memory domain, which
        // never clears them, and then put in a file as version 6.
        byte[] image;
        long balanceOffset;
        using (var domain = MemoryDomain.Create(8 << 20))
        {
            using var pool = PersistentPool.Create(domain, LayoutName, new PoolCreateOptions { Durability = DurabilityMode.ProcessCrash });
            var account = pool.Root<Account>();
            for (var i = 1; i <= 5; i++)
            {
                using var tx = pool.BeginTransaction();
                account.Balance = i * 10;
                tx.Commit();
            }

            balanceOffset = account.Offset;
            image = domain.GetSpan(0, (int)domain.Length).ToArray();
        }

        SetVersion(image, 6);
        Assert.NotNull(FindNewestLog(image));
        TestFiles.WriteAllBytes(_path, image);

        using (var pool = PersistentPool.Open(_path, LayoutName))
        {
            Assert.Equal(PoolLayout.UpgradeVersion, pool.FormatVersion);
            Assert.Null(FindNewestLog(pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray()));
            Assert.Equal(50, pool.Domain.Read<long>(balanceOffset));
            using var tx = pool.BeginTransaction();
            pool.Root<Account>().Balance = 60;
            tx.Commit();
        }

        Assert.Equal(60, OpenAndReadBalance(TestFiles.ReadAllBytes(_path), balanceOffset, out var recovered));
        Assert.Equal(0, recovered);
    }

    [Fact]
    public void Commits_on_two_threads_get_different_numbers_and_a_kill_before_either_clear_replays_both()
    {
        using var pool = PersistentPool.Create(_path, LayoutName, 8 << 20, new PoolCreateOptions { Durability = DurabilityMode.ProcessCrash });
        var accounts = new[] { pool.New<Account>(), pool.New<Account>() };
        ThreadStart Work(int i) => () =>
        {
            for (var n = 1; n <= 100; n++)
            {
                using var tx = pool.BeginTransaction();
                accounts[i].Balance = n * (i + 1);
                tx.Commit();
            }
        };

        var first = new Thread(Work(0));
        var threads = new[] { first, ClearedLogs.OnAnotherLane(pool, first, Work(1)) };

        foreach (var thread in threads)
        {
            thread.Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        var image = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();
        var logs = ResealLastLogs(image); // the two threads' lanes, and the lane of the commits that made the accounts
        Assert.True(logs.Count >= 2);
        Assert.Equal(logs.Count, logs.Select(log => log.Sequence).Distinct().Count());
        foreach (var account in accounts)
        {
            WriteBalance(image, account.Offset, -1); // as if both applies were lost
        }

        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName);
        Assert.Equal(logs.Count, reopened.RecoveredTransactions);
        Assert.Equal(100, reopened.Domain.Read<long>(accounts[0].Offset));
        Assert.Equal(200, reopened.Domain.Read<long>(accounts[1].Offset));
    }

    /// <summary>Commits one transaction on a pool file and returns the file's bytes as the process leaves them.</summary>
    private (byte[] Image, long BalanceOffset) CommitOnFile(DurabilityMode mode)
    {
        using var pool = PersistentPool.Create(_path, LayoutName, 8 << 20, new PoolCreateOptions { Durability = mode });
        Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
        var account = pool.New<Account>();
        account.Balance = OldBalance;
        using (var tx = pool.BeginTransaction())
        {
            account.Balance = NewBalance;
            tx.Commit();
        }

        var image = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();
        if (mode == DurabilityMode.ProcessCrash)
        {
            ResealLastLogs(image); // killed between the apply and the clear
        }

        return (image, account.Offset);
    }

    private static long OpenAndReadBalance(byte[] image, long balanceOffset, out int recovered)
    {
        using var pool = PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName);
        recovered = pool.RecoveredTransactions;
        return pool.Domain.Read<long>(balanceOffset);
    }

    private static void WriteBalance(byte[] image, long offset, long value) =>
        BinaryPrimitives.WriteInt64LittleEndian(image.AsSpan((int)offset), value);

    /// <summary>Rewrites the format version, with the header checksum that covers it and the logs where its lanes keep them.</summary>
    private static void SetVersion(byte[] image, uint version) => OlderFormat.AsVersion(image, version);

    /// <summary>Each lane's last log resealed (see <see cref="ClearedLogs"/>), read back.</summary>
    private static List<SlotLog> ResealLastLogs(byte[] image) =>
        [.. ClearedLogs.ResealLast(image).Select(log => ReadSlot(image, log.SlotOffset)!)];

    /// <summary>The log with the highest sequence among every lane's slots.</summary>
    private static SlotLog NewestLog(byte[] image) => FindNewestLog(image) ?? throw new InvalidOperationException("no log in any slot");

    /// <summary>The log with the highest sequence among every lane's slots whose checksum word is set (null: none).</summary>
    private static SlotLog? FindNewestLog(byte[] image)
    {
        var lanes = LanesOf(image);
        SlotLog? newest = null;
        for (var lane = 0; lane < lanes.Count; lane++)
        {
            for (var slot = 0; slot < lanes.SlotsPerLane; slot++)
            {
                if (ReadSlot(image, lanes.SlotOffset(lane, slot)) is { } log && (newest is null || log.Sequence > newest.Sequence))
                {
                    newest = log;
                }
            }
        }

        return newest;
    }

    private static SlotLog? ReadSlot(byte[] image, long offset)
    {
        var header = image.AsSpan((int)offset, RedoLog.HeaderSize).ToArray();
        var stored = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(RedoLog.ChecksumOffset));
        var length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(RedoLog.EntryBytesOffset));
        return stored == 0 ? null : new SlotLog(offset, BinaryPrimitives.ReadUInt64LittleEndian(header), stored, header, image.AsSpan((int)offset + RedoLog.HeaderSize, length).ToArray());
    }

    private static LaneSet LanesOf(byte[] image) => ClearedLogs.LanesOf(image);

    private sealed record SlotLog(long SlotOffset, ulong Sequence, ulong Stored, byte[] Header, byte[] Data);
}
