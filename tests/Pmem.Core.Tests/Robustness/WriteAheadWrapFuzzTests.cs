// WriteAheadWrapFuzzTests -- a crashed pool whose write-ahead log wrapped past checkpoints, damaged anywhere: a prefix replayed, or refused untouched.
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using Pmem.Log;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Robustness;

/// <summary>
/// A pool that committed transfers through a small write-ahead log, which wrapped past the file's end many times while
/// checkpoints ran every 15–30 commits, then lost power: the pool file holds what the last checkpoint synced (and, at
/// random, pages written back since), the log every record, one live record's frame running past the file's end and
/// on at its start — among the last <see cref="Lanes"/> records in one crash, with more after it in the other. Each
/// case damages the live records (that one, its wrapped tail, any), the stale ones, the log's header or length, or the
/// pool header's replay position or R, then opens the pool read-only and writable. Either open must give the same
/// outcome: the balances after the checkpointed transfers and exactly the records it says it replayed, losing at most
/// what a crash could have left unacknowledged and nothing when no live record is damaged; or
/// <see cref="PoolCorruptedException"/> with both files byte for byte as they were.
/// </summary>
/// <remarks>
/// <c>PMEM_WAL_WRAP_FUZZ_CASE=n</c> runs case n alone; ten times more cases with <c>PMEM_CRASH_CAMPAIGN=long</c>.
/// </remarks>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class WriteAheadWrapFuzzTests : IDisposable
{
    private const int Accounts = Vault.Slots;
    private const long Capacity = 8 << 10; // 4 KiB is the least; with 144–288-byte records this checkpoints every 15–30
    private const int Lanes = 8; // the pool's default lane count: a crash leaves at most Lanes - 1 records past a torn one
    private const int PageSize = 4096;
    private const int Cases = 400;
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-wal-wrap-fuzz-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_directory.FullName, name);

    /// <summary>A transfer's record: its LSN (the record lies at <c>HeaderSize + Lsn % Capacity</c>, split at the end) and size.</summary>
    private readonly record struct Record(long Lsn, long Size);

    /// <summary>A crashed pair and where everything in its log lies.</summary>
    /// <param name="Checkpointed">The mapping the last checkpoint synced: the pool file on disk at the crash.</param>
    /// <param name="LaterPages">Pages as each transfer after that checkpoint left them (State: transfers done then).</param>
    /// <param name="Log">The log file after the last transfer, every record synced.</param>
    /// <param name="Records">Every transfer's record, transfer i's at i.</param>
    /// <param name="Covered">Transfers the last checkpoint covered: the records from this one on are live.</param>
    /// <param name="Straddler">The live record whose frame starts in the file's last 24 bytes.</param>
    /// <param name="States">The balances after each number of transfers.</param>
    /// <param name="Retired">R after the last checkpoint: the sequence number of transfer <c>Covered - 1</c>.</param>
    private sealed record Crashed(byte[] Checkpointed, List<(int State, int Page, byte[] Bytes)> LaterPages, byte[] Log,
        List<Record> Records, int Covered, int Straddler, List<long[]> States, long Retired)
    {
        public int Transfers => Records.Count;

        public long Start => Records[Covered].Lsn;

        public long End => Records[^1].Lsn + Records[^1].Size;

        public long StraddlerAt => OffsetOf(Records[Straddler].Lsn);

        /// <summary>Per byte of the log's record area, the record written there last: live from <see cref="Covered"/> on, else stale.</summary>
        public int[] Owner { get; } = [.. Enumerable.Range(0, (int)Capacity).Select(at => Records.FindLastIndex(r => (at - r.Lsn % Capacity + Capacity) % Capacity < r.Size))];
    }

    private static long OffsetOf(long lsn) => WriteAheadFile.HeaderSize + lsn % Capacity;

    /// <summary>
    /// Transfers from one account to one to seven others (records of seven sizes, so each lap ends elsewhere) until,
    /// past two laps and three checkpoints, both crashes were taken: a live record's frame straddles the file's end with
    /// two to <see cref="Lanes"/> - 1 records after it, and (its frame cut elsewhere) with <see cref="Lanes"/> or more.
    /// </summary>
    private Crashed[] Crash()
    {
        var path = PathOf("seed.pool");
        using (var created = PersistentPool.Create(path, "wal", 4 << 20))
        {
            Vault.FillRoot(created, 1_000);
        }

        var crashes = new Crashed?[2];
        var records = new List<Record>();
        var states = new List<long[]>();
        var laterPages = new List<(int State, int Page, byte[] Bytes)>();
        int covered = 0, checkpoints = 0;
        using var pool = PersistentPool.Open(path, "wal", new PoolOpenOptions { WriteAheadLog = true, WriteAheadLogCapacity = Capacity });
        var file = pool.WriteAheadLogFile!;
        var checkpointed = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray(); // the open synced the pool and the log's start
        var previous = (byte[])checkpointed.Clone();
        var retiredAtOpen = pool.Domain.Read<long>(PoolLayout.RetiredThroughOffset);
        var random = new Random(11);
        states.Add(Balances(pool));
        while (crashes.Any(c => c is null))
        {
            Assert.True(records.Count < 10_000, "no live record's frame straddled the log's end");
            var (lsn, start) = (file.Tail, pool.Domain.Read<long>(PoolLayout.WriteAheadStartOffset));
            Transfer(pool, random);
            records.Add(new Record(lsn, file.Tail - lsn));
            states.Add(Balances(pool));
            var mapping = pool.Domain.GetSpan(0, (int)pool.Domain.Length);
            if (pool.Domain.Read<long>(PoolLayout.WriteAheadStartOffset) != start)
            {
                // This commit's checkpoint synced the mapping as it is now (one thread: nothing applied since).
                (covered, checkpoints, checkpointed) = (records.Count, checkpoints + 1, mapping.ToArray());
                laterPages.Clear();
                mapping.CopyTo(previous);
            }

            for (var page = 0; page < mapping.Length / PageSize; page++)
            {
                var now = mapping.Slice(page * PageSize, PageSize);
                if (!now.SequenceEqual(previous.AsSpan(page * PageSize, PageSize)))
                {
                    laterPages.Add((states.Count - 1, page, now.ToArray()));
                    now.CopyTo(previous.AsSpan(page * PageSize));
                }
            }

            var straddler = records.FindIndex(covered, r => r.Lsn % Capacity > Capacity - WriteAheadFile.FrameSize);
            var after = records.Count - 1 - straddler;
            var which = straddler < 0 || file.Tail <= 2 * Capacity || checkpoints < 3 || after < 2 ? -1 : after < Lanes ? 0 : 1;
            if (which >= 0 && crashes[which] is null && crashes[1 - which]?.StraddlerAt != OffsetOf(records[straddler].Lsn))
            {
                using var stream = File.Open(PersistentPool.WriteAheadLogPath(path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                var log = new byte[stream.Length];
                stream.ReadExactly(log); // what the page cache holds: every record is synced
                var crashed = crashes[which] = new Crashed(checkpointed, [.. laterPages], log, [.. records], covered, straddler, [.. states], retiredAtOpen + covered);
                CheckLiveRecords(crashed);
                Console.WriteLine($"[fuzz] wrapped write-ahead log, crash {which}: {records.Count} transfers, {checkpoints} checkpoints, {(double)crashed.End / Capacity:F1} laps; " +
                    $"records {covered}–{records.Count - 1} live, {straddler} straddles the end at {crashed.StraddlerAt}");
            }
        }

        return [.. crashes.Select(c => c!)];
    }

    /// <summary>
    /// Follows the live records as recovery does (from the header's position, frame after frame, wrapping at the file's
    /// end): they must be the transfers' records, and the first must be commit R + 1, as a checkpoint leaves them.
    /// </summary>
    private static void CheckLiveRecords(Crashed crashed)
    {
        byte[] twice = [.. crashed.Log[WriteAheadFile.HeaderSize..], .. crashed.Log[WriteAheadFile.HeaderSize..]]; // a wrapped word reads straight on
        long Word(long lsn) => BinaryPrimitives.ReadInt64LittleEndian(twice.AsSpan((int)(lsn % Capacity)));
        var lsn = BitConverter.ToInt64(crashed.Checkpointed, PoolLayout.WriteAheadStartOffset);
        Assert.Equal(crashed.Retired, BitConverter.ToInt64(crashed.Checkpointed, PoolLayout.RetiredThroughOffset));
        Assert.Equal(crashed.Retired + 1, Word(lsn + WriteAheadFile.FrameSize + RedoLog.SequenceOffset));
        for (var i = crashed.Covered; i < crashed.Transfers; i++)
        {
            Assert.Equal(crashed.Records[i].Lsn, lsn);
            Assert.Equal(lsn, Word(lsn + 8)); // the frame's LSN
            lsn += WriteAheadFile.RecordSize((int)Word(lsn + 16)); // its payload length (the low half)
        }

        Assert.Equal(crashed.End, lsn);
    }

    private static void Transfer(PersistentPool pool, Random random)
    {
        var vault = pool.Root<Vault>();
        var from = random.Next(Accounts);
        int[] payees = [.. Enumerable.Range(0, Accounts).Where(a => a != from)];
        random.Shuffle(payees);
        using var tx = pool.BeginTransaction();
        foreach (var payee in payees.AsSpan(0, random.Next(1, Accounts)))
        {
            var amount = random.Next(1, 50);
            vault[from]!.Balance -= amount;
            vault[payee]!.Balance += amount;
        }

        tx.Commit();
    }

    private static long[] Balances(PersistentPool pool) => [.. Enumerable.Range(0, Accounts).Select(i => pool.Root<Vault>()[i]!.Balance)];

    [Fact]
    public void A_damaged_wrapped_log_replays_a_prefix_that_a_crash_could_leave_or_is_refused_with_both_files_unchanged()
    {
        var crashes = Crash();
        var isLong = string.Equals(Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable), "long", StringComparison.OrdinalIgnoreCase);
        var only = Environment.GetEnvironmentVariable("PMEM_WAL_WRAP_FUZZ_CASE");
        var failures = new List<string>();
        int opened = 0, refused = 0, whole = 0;
        for (var n = 0; n < Cases * (isLong ? 10 : 1); n++)
        {
            if (only is not null && only != n.ToString(CultureInfo.InvariantCulture))
            {
                continue;
            }

            var crashed = crashes[n % crashes.Length];
            var random = new Random(n);
            var (log, start, retired, damage, firstDamaged) = Damage(crashed, random);
            // A damaged record with Lanes or more records after it was durable once: refusing is the only outcome that
            // loses nothing silently (a damaged header word counts as damage to the first live record). Damage where
            // no live record lies must lose nothing.
            var lowest = firstDamaged is { } record ? Math.Max(crashed.Covered, Math.Max(record, crashed.Transfers - Lanes)) : crashed.Transfers;
            var (pool, pages) = Image(crashed, random, lowest);
            BitConverter.TryWriteBytes(pool.AsSpan(PoolLayout.WriteAheadStartOffset), start ?? crashed.Start);
            BitConverter.TryWriteBytes(pool.AsSpan(PoolLayout.RetiredThroughOffset), retired ?? crashed.Retired);
            var path = PathOf($"case-{n}.pool");
            TestFiles.WriteAllBytes(path, pool);
            TestFiles.WriteAllBytes(PersistentPool.WriteAheadLogPath(path), log);
            var what = $"case {n}, crash {n % crashes.Length} ({damage}; {pages})";
            switch (Run(path, pool, log, crashed))
            {
                case { Problem: { } problem }:
                    failures.Add($"{what}: {problem}");
                    break;
                case { Transfers: { } transfers } when transfers < lowest:
                    failures.Add($"{what}: opened with the first {transfers} of {crashed.Transfers} transfers, where a crash could have lost only those after the first {lowest}");
                    break;
                case { Transfers: { } transfers }:
                    opened++;
                    whole += transfers == crashed.Transfers ? 1 : 0;
                    break;
                default:
                    refused++;
                    break;
            }

            File.Delete(path);
            File.Delete(PersistentPool.WriteAheadLogPath(path));
        }

        Console.WriteLine($"[fuzz] wrapped write-ahead log: {opened + refused + failures.Count} damaged crashes, {opened} opened ({whole} with every transfer), {refused} refused, {failures.Count} failed");
        Pmem.Tests.Crash.TestSummary.Add(Pmem.Tests.Crash.TestSummary.DamagedPools, opened + refused + failures.Count);
        Assert.True(failures.Count == 0, $"{failures.Count} failures:\n{string.Join('\n', failures.Take(20))}");
    }

    /// <summary>
    /// The pool file at the crash: what the last checkpoint synced, and half the time pages the OS wrote back since,
    /// each as some later transfer left it. A commit applies only once its record and all before it are durable, so no
    /// page holds a transfer past the first one the crash may lose: <paramref name="newest"/>.
    /// </summary>
    private static (byte[] Pool, string Pages) Image(Crashed crashed, Random random, int newest)
    {
        var image = (byte[])crashed.Checkpointed.Clone();
        if (random.Next(2) == 0 || newest == crashed.Covered)
        {
            return (image, "the checkpoint's pages");
        }

        var written = new List<string>();
        foreach (var page in crashed.LaterPages.Select(p => p.Page).Distinct().Where(_ => random.Next(2) == 0))
        {
            var state = random.Next(crashed.Covered + 1, newest + 1);
            if (crashed.LaterPages.LastOrDefault(p => p.Page == page && p.State <= state) is { Bytes: { } bytes } later)
            {
                bytes.CopyTo(image, page * PageSize);
                written.Add($"page {page} after transfer {later.State}");
            }
        }

        return (image, written.Count == 0 ? "the checkpoint's pages" : $"written back: {string.Join(", ", written)}");
    }

    /// <summary>An open's outcome: the transfers the pool holds, or a problem; neither: refused.</summary>
    private readonly record struct Outcome(int? Transfers, string? Problem);

    /// <summary>Opens read-only, then writable: the same transfers from both, or a refusal from both with the files unchanged.</summary>
    private static Outcome Run(string path, byte[] pool, byte[] log, Crashed crashed)
    {
        var logPath = PersistentPool.WriteAheadLogPath(path);
        var hashes = (XxHash3.HashToUInt64(pool), XxHash3.HashToUInt64(log));
        bool Unchanged() => (XxHash3.HashToUInt64(TestFiles.ReadAllBytes(path)), XxHash3.HashToUInt64(TestFiles.ReadAllBytes(logPath))) == hashes;
        var readOnly = OpenOnce(() => PersistentPool.OpenReadOnly(path, "wal"), crashed);
        if (readOnly.Problem is { } readOnlyProblem)
        {
            return new Outcome(null, $"read-only open: {readOnlyProblem}");
        }

        if (!Unchanged())
        {
            return new Outcome(null, "a read-only open changed a file");
        }

        var writable = OpenOnce(() => PersistentPool.Open(path, "wal"), crashed);
        return writable.Problem is { } problem ? new Outcome(null, $"writable open: {problem}")
            : writable.Transfers is null && !Unchanged() ? new Outcome(null, "a refused open changed a file")
            : readOnly.Transfers != writable.Transfers ? new Outcome(null, $"read-only open gave {readOnly.Transfers?.ToString() ?? "a refusal"} transfers, writable open {writable.Transfers?.ToString() ?? "a refusal"}")
            : writable;
    }

    /// <summary>
    /// One open: its balances must be those after the checkpointed transfers and the records it replayed (balances
    /// alone could hide skipped records, which later transfers to the same accounts overwrite), and Check must pass.
    /// </summary>
    private static Outcome OpenOnce(Func<PersistentPool> open, Crashed crashed)
    {
        try
        {
            using var pool = open();
            var balances = Balances(pool);
            var transfers = crashed.Covered + pool.RecoveredTransactions;
            if (transfers >= crashed.States.Count || !crashed.States[transfers].AsSpan().SequenceEqual(balances))
            {
                var like = crashed.States.FindLastIndex(s => s.AsSpan().SequenceEqual(balances));
                return new Outcome(null, $"replayed {pool.RecoveredTransactions} records past the checkpoint's {crashed.Covered} transfers, " +
                    $"but holds the balances of {(like < 0 ? "no prefix" : $"the first {like}")}");
            }

            return pool.Check() is { IsConsistent: false } report
                ? new Outcome(null, $"opened, but Check finds {string.Join("; ", report.Errors.Take(3))}")
                : new Outcome(transfers, null);
        }
        catch (PoolCorruptedException)
        {
            return new Outcome(null, null);
        }
        catch (Exception e)
        {
            return new Outcome(null, $"threw {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// One damage to the log or to the pool header's words that point into it: the damaged log, the header words to
    /// write (null: the checkpoint's), what was done, and the first live record it touched (null: none).
    /// </summary>
    private static (byte[] Log, long? Start, long? Retired, string Damage, int? FirstDamaged) Damage(Crashed crashed, Random random)
    {
        var log = (byte[])crashed.Log.Clone();
        var straddler = crashed.Records[crashed.Straddler];
        var headBytes = Capacity - straddler.Lsn % Capacity; // its bytes at the file's end; the rest follow the header
        long AnyByte(bool live)
        {
            int[] bytes = [.. Enumerable.Range(0, (int)Capacity).Where(at => crashed.Owner[at] >= crashed.Covered == live)];
            return WriteAheadFile.HeaderSize + bytes[random.Next(bytes.Length)];
        }

        string Flip(long offset)
        {
            log[offset] ^= (byte)(1 << random.Next(8));
            return $"bit flipped at {offset}";
        }

        string Range(long offset, int longest)
        {
            var length = (int)Math.Min(random.Next(1, longest + 1), log.Length - offset);
            var zeroed = random.Next(2) == 0;
            if (zeroed)
            {
                Array.Clear(log, (int)offset, length);
            }
            else
            {
                random.NextBytes(log.AsSpan((int)offset, length));
            }

            return $"{length} bytes {(zeroed ? "zeroed" : "overwritten")} at {offset}";
        }

        switch (random.Next(8))
        {
            case 0:
                return Finish(random.Next(2) == 0 ? $"{Flip(AnyByte(live: true))}, in a live record" : $"{Range(AnyByte(live: true), 600)}, from a live record on");
            case 1:
            {
                // A frame's field: the straddling record's, read across the file's end, or any live record's.
                var (record, whose) = random.Next(2) == 0 ? (straddler, "the frame straddling the end") : (crashed.Records[random.Next(crashed.Covered, crashed.Transfers)], "a live record's frame");
                var field = random.Next(WriteAheadFile.FrameSize);
                return Finish($"{Flip(OffsetOf(record.Lsn + field))}, byte {field} of {whose}");
            }

            case 2:
            {
                var tail = random.Next(2) == 0;
                var offset = tail ? WriteAheadFile.HeaderSize + random.NextInt64(straddler.Size - headBytes) : OffsetOf(straddler.Lsn + random.NextInt64(headBytes));
                return Finish($"{(random.Next(2) == 0 ? Flip(offset) : Range(offset, 200))}, in the straddling record's {(tail ? "wrapped tail" : "head before the end")}");
            }

            case 3:
                return Finish($"{(random.Next(2) == 0 ? Flip(AnyByte(live: false)) : Range(AnyByte(live: false), 300))}, from a stale record on");
            case 4:
                return Finish($"{Flip(random.Next(3) == 0 ? random.NextInt64(WriteAheadFile.HeaderSize) : random.Next(32))}, in the log's header");
            case 5:
            {
                var length = random.Next(2) == 0 ? random.NextInt64(log.Length) : AnyByte(live: true);
                log = log[..(int)length];
                return Finish($"log truncated to {length} bytes");
            }

            case 6:
            {
                // The replay position: a stale record still whole, another lap of any record, the middle of one, past the end, far off.
                var any = crashed.Records[random.Next(crashed.Transfers)];
                var start = random.Next(5) switch
                {
                    0 => crashed.Records[random.Next(crashed.Records.FindIndex(r => r.Lsn >= crashed.End - Capacity), crashed.Covered)].Lsn,
                    1 => any.Lsn + (random.Next(2) == 0 ? Capacity : -Capacity),
                    2 => any.Lsn + 8 * random.Next(1, (int)any.Size / 8),
                    3 => crashed.End + 8 * random.Next(0, 1000),
                    _ => crashed.Start ^ (1L << random.Next(63)),
                };
                return (log, start, null, $"the header's log position set to {start} (was {crashed.Start})", crashed.Covered);
            }

            default:
            {
                var retired = random.Next(2) == 0 ? crashed.Retired ^ (1L << random.Next(40)) : crashed.Retired + random.Next(-Lanes, crashed.Transfers - crashed.Covered + 3);
                return (log, null, retired, $"the header's R set to {retired} (was {crashed.Retired})", crashed.Covered);
            }
        }

        // The first live record whose bytes the damage changed or cut off.
        (byte[], long?, long?, string, int?) Finish(string damage)
        {
            int? first = null;
            for (var at = 0; at < Capacity; at++)
            {
                var offset = WriteAheadFile.HeaderSize + at;
                if (crashed.Owner[at] >= crashed.Covered && (offset >= log.Length || log[offset] != crashed.Log[offset]))
                {
                    first = Math.Min(first ?? int.MaxValue, crashed.Owner[at]);
                }
            }

            return (log, null, null, damage, first);
        }
    }
}
