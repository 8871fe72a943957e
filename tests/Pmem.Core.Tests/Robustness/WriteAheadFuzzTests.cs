// The write-ahead log fuzzer: a crashed pool's log or header words damaged anywhere — a prefix replayed, or refused untouched.
using System.IO.Hashing;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Robustness;

/// <summary>
/// A pool that committed <see cref="Transfers"/> transfers through its write-ahead log and then lost power with none of
/// its pages written back: the log holds every commit. Each case damages the log (bits, zeroed or overwritten ranges,
/// a truncation, a record's life or position) or the pool header's words that point into it (the replay position,
/// the retirement watermark R), then opens the pool read-only and writable. Either open must give the same outcome:
/// the balances after some prefix of the transfers that loses at most what a crash could have left unacknowledged (the
/// records of committers waiting behind a torn one, one per other lane), and all of them when the damage lies where no
/// record is; or <see cref="PoolCorruptedException"/> with both files byte for byte as they were.
/// </summary>
/// <remarks>
/// <c>PMEM_WAL_FUZZ_CASE=n</c> runs case n alone; ten times more cases with <c>PMEM_CRASH_CAMPAIGN=long</c>.
/// </remarks>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class WriteAheadFuzzTests : IDisposable
{
    private const int Accounts = Vault.Slots;
    private const int Transfers = 60;
    private const int Lanes = 8; // the pool's default lane count: a crash leaves at most Lanes - 1 records past a torn one
    private const int Cases = 300;
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-wal-fuzz-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    private sealed record Crashed(byte[] Pool, byte[] Log, long[] RecordStarts, long UsedEnd, List<long[]> States);

    /// <summary>The pool file as the open left it and the log after the transfers, every record synced.</summary>
    private Crashed Crash()
    {
        var path = PathOf("seed.pool");
        using (var pool = PersistentPool.Create(path, "wal", 8 << 20))
        {
            Vault.FillRoot(pool, 1_000);
        }

        byte[] atOpen, log;
        var states = new List<long[]>();
        using (var pool = PersistentPool.Open(path, "wal", new PoolOpenOptions { WriteAheadLog = true, WriteAheadLogCapacity = 256 << 10 }))
        {
            atOpen = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray();
            var random = new Random(7);
            states.Add(Balances(pool));
            for (var i = 0; i < Transfers; i++)
            {
                var vault = pool.Root<Vault>();
                using var tx = pool.BeginTransaction();
                var amount = random.Next(1, 50);
                vault[random.Next(Accounts)]!.Balance -= amount;
                vault[random.Next(Accounts)]!.Balance += amount;
                tx.Commit();
                states.Add(Balances(pool));
            }

            using var file = File.Open(PersistentPool.WriteAheadLogPath(path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            log = new byte[file.Length];
            file.ReadExactly(log);
        }

        var starts = new long[Transfers];
        long position = WriteAheadFile.HeaderSize;
        for (var record = 0; record < Transfers; record++)
        {
            starts[record] = position;
            position += WriteAheadFile.RecordSize(BitConverter.ToInt32(log, (int)position + 16));
        }

        return new Crashed(atOpen, log, starts, position, states);
    }

    private static long[] Balances(PersistentPool pool) => [.. Enumerable.Range(0, Accounts).Select(i => pool.Root<Vault>()[i]!.Balance)];

    [Fact]
    public void A_damaged_log_replays_a_prefix_that_a_crash_could_leave_or_is_refused_with_both_files_unchanged()
    {
        var crashed = Crash();
        var isLong = string.Equals(Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable), "long", StringComparison.OrdinalIgnoreCase);
        var only = Environment.GetEnvironmentVariable("PMEM_WAL_FUZZ_CASE");
        var failures = new List<string>();
        int opened = 0, refused = 0, whole = 0;
        for (var n = 0; n < Cases * (isLong ? 10 : 1); n++)
        {
            if (only is not null && only != n.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                continue;
            }

            var (pool, log, damage, firstDamaged) = Damage(crashed, new Random(n));
            var path = PathOf($"case-{n}.pool");
            TestFiles.WriteAllBytes(path, pool);
            TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(path), log);
            var outcome = Run(path, pool, log, crashed.States);
            switch (outcome)
            {
                case { Problem: { } problem }:
                    failures.Add($"case {n} ({damage}): {problem}");
                    break;
                case { Prefix: { } prefix }:
                    opened++;
                    whole += prefix == Transfers ? 1 : 0;
                    // A damaged record with Lanes or more whole records after it was durable once: refusing is the only
                    // outcome that loses nothing silently. Damage where no record lies must lose nothing.
                    var lowest = firstDamaged is { } record ? Math.Max(record, Transfers - Lanes) : Transfers;
                    if (prefix < lowest)
                    {
                        failures.Add($"case {n} ({damage}): opened with the first {prefix} of {Transfers} transfers, " +
                            $"where a crash could have lost only those after the first {lowest}");
                    }

                    break;
                default:
                    refused++;
                    break;
            }

            File.Delete(path);
            File.Delete(PersistentPool.WriteAheadLogPath(path));
        }

        Console.WriteLine($"[fuzz] write-ahead log: {opened + refused + failures.Count} damaged crashes, {opened} opened ({whole} with every transfer), {refused} refused");
        Pmem.Tests.Crash.TestSummary.Add(Pmem.Tests.Crash.TestSummary.DamagedPools, opened + refused + failures.Count);
        Assert.True(failures.Count == 0, $"{failures.Count} failures:\n{string.Join('\n', failures.Take(20))}");
    }

    private readonly record struct Outcome(int? Prefix, string? Problem);

    /// <summary>Opens read-only, then writable: the same prefix from both, or a refusal from both with the files unchanged.</summary>
    private static Outcome Run(string path, byte[] pool, byte[] log, List<long[]> states)
    {
        var logPath = PersistentPool.WriteAheadLogPath(path);
        var (poolHash, logHash) = (XxHash3.HashToUInt64(pool), XxHash3.HashToUInt64(log));
        int? readOnly;
        try
        {
            using var reader = PersistentPool.OpenReadOnly(path, "wal");
            readOnly = PrefixOf(Balances(reader), states);
        }
        catch (PoolCorruptedException)
        {
            readOnly = null;
        }
        catch (Exception e)
        {
            return new Outcome(null, $"read-only open threw {e.GetType().Name}: {e.Message}");
        }

        if (XxHash3.HashToUInt64(TestFiles.ReadAllBytes(path)) != poolHash || XxHash3.HashToUInt64(TestFiles.ReadAllBytes(logPath)) != logHash)
        {
            return new Outcome(null, "a read-only open changed a file");
        }

        int? writable;
        try
        {
            using var opened = PersistentPool.Open(path, "wal");
            writable = PrefixOf(Balances(opened), states);
            if (opened.Check() is { IsConsistent: false } report)
            {
                return new Outcome(null, $"opened, but Check finds {string.Join("; ", report.Errors.Take(3))}");
            }
        }
        catch (PoolCorruptedException)
        {
            if (XxHash3.HashToUInt64(TestFiles.ReadAllBytes(path)) != poolHash || XxHash3.HashToUInt64(TestFiles.ReadAllBytes(logPath)) != logHash)
            {
                return new Outcome(null, "a refused open changed a file");
            }

            writable = null;
        }
        catch (Exception e)
        {
            return new Outcome(null, $"open threw {e.GetType().Name}: {e.Message}");
        }

        return readOnly != writable
            ? new Outcome(null, $"read-only open gave {Describe(readOnly)}, writable open {Describe(writable)}")
            : writable == -1 ? new Outcome(null, "opened with balances no prefix of the transfers has") : new Outcome(writable, null);
    }

    private static int PrefixOf(long[] balances, List<long[]> states) => states.FindLastIndex(s => s.AsSpan().SequenceEqual(balances));

    private static string Describe(int? prefix) => prefix is { } p ? p < 0 ? "balances of no prefix" : $"the first {p} transfers" : "a refusal";

    /// <summary>One damage to the crashed pair; returns the damaged copies, what was done, and the first record it touched (null: none).</summary>
    private static (byte[] Pool, byte[] Log, string Damage, int? FirstDamaged) Damage(Crashed crashed, Random random)
    {
        var pool = (byte[])crashed.Pool.Clone();
        var log = (byte[])crashed.Log.Clone();
        int? RecordAt(long offset)
        {
            if (offset < WriteAheadFile.HeaderSize || offset >= crashed.UsedEnd)
            {
                return null;
            }

            var index = Array.BinarySearch(crashed.RecordStarts, offset);
            return index >= 0 ? index : ~index - 1;
        }

        switch (random.Next(8))
        {
            case 0:
            {
                var offset = random.NextInt64(WriteAheadFile.HeaderSize, crashed.UsedEnd);
                log[offset] ^= (byte)(1 << random.Next(8));
                return (pool, log, $"bit flipped at {offset} of the log", RecordAt(offset));
            }

            case 1:
            {
                var offset = random.NextInt64(WriteAheadFile.HeaderSize, crashed.UsedEnd);
                var length = (int)Math.Min(random.Next(1, 600), crashed.UsedEnd - offset);
                Array.Clear(log, (int)offset, length);
                return (pool, log, $"{length} bytes zeroed at {offset} of the log", RecordAt(offset));
            }

            case 2:
            {
                var offset = random.NextInt64(0, WriteAheadFile.HeaderSize) & ~7L;
                log[offset + random.Next(8)] ^= (byte)(1 << random.Next(8));
                return (pool, log, $"bit flipped in the log's header word at {offset}", null);
            }

            case 3:
            {
                var offset = random.NextInt64(crashed.UsedEnd, log.Length - 8);
                log[offset] ^= (byte)(1 << random.Next(8));
                return (pool, log, $"bit flipped at {offset}, past the records", null);
            }

            case 4:
            {
                var length = random.NextInt64(0, log.Length);
                return (pool, log[..(int)length], $"log truncated to {length} bytes", RecordAt(length));
            }

            case 5:
            {
                var record = random.Next(Transfers);
                var frameWord = random.Next(2) * 8; // the record's life id or its position
                log[crashed.RecordStarts[record] + frameWord + random.Next(8)] ^= (byte)(1 << random.Next(8));
                return (pool, log, $"record {record}'s {(frameWord == 0 ? "life id" : "position")} changed", record);
            }

            case 6:
            {
                // The header's replay position: anywhere in the records, past them, or far off.
                var start = random.Next(3) switch
                {
                    0 => crashed.RecordStarts[random.Next(Transfers)] - WriteAheadFile.HeaderSize,
                    1 => crashed.UsedEnd - WriteAheadFile.HeaderSize + 8 * random.Next(1, 1000),
                    _ => BitConverter.ToInt64(pool, PoolLayout.WriteAheadStartOffset) ^ (1L << random.Next(63)),
                };
                BitConverter.TryWriteBytes(pool.AsSpan(PoolLayout.WriteAheadStartOffset), start);
                return (pool, log, $"the header's log position set to {start}", 0);
            }

            default:
            {
                var retired = BitConverter.ToInt64(pool, PoolLayout.RetiredThroughOffset) ^ (1L << random.Next(40));
                BitConverter.TryWriteBytes(pool.AsSpan(PoolLayout.RetiredThroughOffset), retired);
                return (pool, log, $"the header's R set to {retired}", 0);
            }
        }
    }
}
