using System.Buffers.Binary;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Log;

/// <summary>
/// Process-crash pools (format 3) seal their redo logs instead of checksumming them: the seal is stored last, so a
/// log with its seal is whole, and only pools that may hold sealed logs accept one. The images here are what a killed
/// process leaves: the mapping's bytes with the last commit's log still in its slot.
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

        var file = File.ReadAllBytes(_path);
        SetVersion(file, 2);
        File.WriteAllBytes(_path, file);

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

        return (pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray(), account.Offset);
    }

    private static long OpenAndReadBalance(byte[] image, long balanceOffset, out int recovered)
    {
        using var pool = PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName);
        recovered = pool.RecoveredTransactions;
        return pool.Domain.Read<long>(balanceOffset);
    }

    private static void WriteBalance(byte[] image, long offset, long value) =>
        BinaryPrimitives.WriteInt64LittleEndian(image.AsSpan((int)offset), value);

    /// <summary>Rewrites the format version, with the header checksum that covers it.</summary>
    private static void SetVersion(byte[] image, uint version)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(PoolLayout.VersionOffset), version);
        using var domain = MemoryDomain.FromImage(image.AsSpan(0, PoolLayout.HeaderSize));
        var checksum = PersistentPool.HeaderChecksum(domain, PoolLayout.Magic);
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan(PoolLayout.HeaderChecksumOffset), checksum);
    }

    /// <summary>The log with the highest sequence among every lane's slots.</summary>
    private static SlotLog NewestLog(byte[] image)
    {
        var lanes = new LaneSet(
            PoolLayout.LanesOffset,
            BinaryPrimitives.ReadInt32LittleEndian(image.AsSpan(PoolLayout.LaneCountOffset)),
            BinaryPrimitives.ReadInt32LittleEndian(image.AsSpan(PoolLayout.LaneSizeOffset)));
        SlotLog? newest = null;
        for (var lane = 0; lane < lanes.Count; lane++)
        {
            for (var slot = 0; slot < LaneSet.SlotsPerLane; slot++)
            {
                var offset = lanes.SlotOffset(lane, slot);
                var header = image.AsSpan((int)offset, RedoLog.HeaderSize).ToArray();
                var sequence = BinaryPrimitives.ReadUInt64LittleEndian(header);
                var stored = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(16));
                if (stored != 0 && (newest is null || sequence > newest.Sequence))
                {
                    var length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
                    newest = new SlotLog(offset, sequence, stored, header, image.AsSpan((int)offset + RedoLog.HeaderSize, length).ToArray());
                }
            }
        }

        return newest ?? throw new InvalidOperationException("no log in any slot");
    }

    private sealed record SlotLog(long SlotOffset, ulong Sequence, ulong Stored, byte[] Header, byte[] Data);
}
