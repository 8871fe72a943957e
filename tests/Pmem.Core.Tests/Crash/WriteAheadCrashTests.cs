using System.Buffers.Binary;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// A power-failure campaign over a pool committing through a small write-ahead log (it wraps around and checkpoints
/// many times): a seeded random sequence of whole operations (transfers, replaced and deleted accounts, writes outside
/// transactions, batches, transfers on several threads at once) runs on a real pool file, and crash images rebuilt from
/// snapshots of the page cache must reopen to exactly the state the model expects.
/// </summary>
/// <remarks>
/// <para>
/// Crash points: the end of every step; in a transfer step, a commit that has returned before the checkpoint it starts
/// (half the log in use) syncs anything; in a transaction replacing an account, the moment before its commit. The
/// snapshots of the page cache taken there are points. Each 4 KiB page of an image is taken, independently, from the
/// snapshot of a point between the floor and the crash: no page is older than the last msync wrote it, and any newer
/// version may have been written back by the kernel. The floor is the first point after the last msync (a checkpoint,
/// a write outside a transaction, content a commit publishes without logging it), as if every page had been synced
/// then (a drain syncs every dirty page in its span, which the test cannot see); the one exception is the drain a
/// transaction's commit makes before writing its record, which syncs the pages as they were just before the commit,
/// so the commit's own applies may be lost.
/// </para>
/// <para>
/// The log is the file as the crash point left it (every commit that returned has synced its record), sometimes with a
/// torn tail past the last record: random bytes, a forged frame of the right life and position whose checksum is wrong,
/// or a strict prefix of the record written next. Replay must stop there. Each image opens read-only first, which must
/// see the same state and leave both files byte-identical; the writable open must then check clean (no errors, nothing
/// unreachable). More steps and images with <c>PMEM_CRASH_CAMPAIGN=long</c>.
/// </para>
/// </remarks>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed partial class WriteAheadCrashTests : IDisposable
{
    private const string Layout = "wal-crash";
    private const int PageSize = 4096;
    private const long PoolBytes = 8 << 20;
    private const long LogCapacity = 8 << 10; // a checkpoint every 4 KiB of records (a few dozen transfers): the log wraps often

    // tmpfs where there is one: thousands of 8 MiB images are written, and the log's fdatasync costs nothing there.
    private readonly string _directory = Directory.Exists("/dev/shm")
        ? Directory.CreateDirectory(Path.Combine("/dev/shm", $"pmem-wal-crash-{Guid.NewGuid():N}")).FullName
        : Directory.CreateTempSubdirectory("pmem-wal-crash-").FullName;

    private readonly Random _random = new(20240611);
    private readonly Expected?[] _model = new Expected?[Vault.Slots];
    private readonly int _imagesPerPoint = IsLong ? 8 : 3;
    private readonly List<Moment> _inStep = []; // crash points inside the running step
    private PersistentPool _pool = null!;
    private MsyncDomain _domain = null!;
    private PageHistory _pages = null!;
    private int _floor;                          // no page of a crash image is older than this point's snapshot
    private int? _floorAfterStep;                // set by a step that knows where its msyncs left the pages
    private long _stepSyncs;                     // msyncs made before the running step
    private long _images, _torn, _stale, _mixed;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static bool IsLong => string.Equals(Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable), "long", StringComparison.OrdinalIgnoreCase);

    /// <summary>A crash point: the state expected, the log file then, and the snapshots (points) its pages may come from.</summary>
    private sealed record Moment(string Label, Expected?[] Model, byte[] Log, long Tail, long Start, ulong Life, int Floor, int Newest);

    [Fact]
    public void Every_step_survives_a_power_failure_with_any_pages_since_the_last_sync_lost()
    {
        var steps = IsLong ? 1500 : 260;
        var path = Path.Combine(_directory, "bank.pool");
        CreateBank(path);
        using var pool = _pool = PersistentPool.Open(path, Layout, new PoolOpenOptions { WriteAheadLog = true, WriteAheadLogCapacity = LogCapacity });
        Assert.SkipWhen(pool.Domain is not MsyncDomain, "the pool maps as persistent memory (PMEM_IS_PMEM_FORCE?): it commits without a log file");
        _domain = (MsyncDomain)pool.Domain;
        _pages = new PageHistory(_domain.GetSpan(0, (int)PoolBytes));
        var previous = Capture("the open", StartPosition(), 0, 0);
        int checkpointed = 0, synced = 0, midStep = 0;
        for (var step = 1; step <= steps; step++)
        {
            (_floorAfterStep, _stepSyncs, var retired) = (null, _domain.SyncCalls, _domain.Read<long>(PoolLayout.RetiredThroughOffset));
            _inStep.Clear();
            var kind = RunStep(step);
            var end = _pages.Record(_domain.GetSpan(0, (int)PoolBytes));
            var sync = _domain.SyncCalls != _stepSyncs;
            _floor = _floorAfterStep ?? (sync ? end : _floor);
            checkpointed += _domain.Read<long>(PoolLayout.RetiredThroughOffset) != retired ? 1 : 0;
            synced += sync ? 1 : 0;
            var current = Capture($"step {step} ({kind})", StartPosition(), _floor, end);
            CheckImages(previous, current.Log);
            _inStep.ForEach(moment => CheckImages(moment, current.Log));
            midStep += _inStep.Count;
            _pages.Prune(_floor); // every crash point still to come has its floor there or later
            previous = current;
        }

        CheckImages(previous, null);
        var tail = pool.WriteAheadLogFile!.Tail;
        var line = $"{_images} crash images checked at {steps + 1 + midStep} crash points ({midStep} inside a step; {checkpointed} steps "
            + $"checkpointed, {synced} synced; {_stale} images lost pages written since the last msync, {_mixed} of them beside pages written back later; {_torn} had a torn log tail; log at {tail} bytes)";
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        Console.WriteLine($"[crash] {nameof(Every_step_survives_a_power_failure_with_any_pages_since_the_last_sync_lost)}: {line}");
        TestSummary.Add(TestSummary.CrashImages, _images);
        Assert.True(checkpointed > steps / 10 && midStep > 0 && tail > 4 * LogCapacity, "the log was not worked hard enough: " + line);
    }

    /// <summary>Builds, opens and checks the crash images of <paramref name="at"/>.</summary>
    private void CheckImages(Moment at, byte[]? nextLog)
    {
        for (var image = 0; image < _imagesPerPoint; image++)
        {
            var choice = _random.Next(5); // 0: every page as the last msync left it; 1: every page newest; else a mix
            var bytes = _pages.Image(at.Floor, at.Newest, _random, choice == 0 ? 0.0 : choice == 1 ? 1.0 : _random.NextDouble(), out var older, out var newer);
            var log = (byte[])at.Log.Clone();
            var tail = _random.Next(2) == 0 ? TearTail(log, at, nextLog) : "whole";
            (_images, _torn, _stale, _mixed) = (_images + 1, _torn + (tail == "whole" ? 0 : 1), _stale + (older ? 1 : 0), _mixed + (older && newer ? 1 : 0));
            var imagePath = Path.Combine(_directory, $"image-{_images}.pool");
            var walPath = PersistentPool.WriteAheadLogPath(imagePath);
            TestFiles.WriteAllBytes(imagePath, bytes);
            TestFiles.WriteAllBytes(walPath, log);
            try
            {
                var expected = Describe(at.Model);
                using (var readOnly = PersistentPool.OpenReadOnly(imagePath, Layout))
                {
                    Assert.Equal(expected, Describe(readOnly));
                }

                Assert.True(TestFiles.ReadAllBytes(imagePath).AsSpan().SequenceEqual(bytes) && TestFiles.ReadAllBytes(walPath).AsSpan().SequenceEqual(log), "the read-only open changed a file");
                using var recovered = PersistentPool.Open(imagePath, Layout);
                Assert.Equal(expected, Describe(recovered));
                RootedCheck.AssertAllFromRoot(recovered.Check());
                Assert.Equal(at.Model.Count(m => m is not null), recovered.GetStatistics().ObjectsPerType.GetValueOrDefault("Tests.Account"));
            }
            catch (Exception failure)
            {
                KeepFailedImage(imagePath, walPath);
                throw new Xunit.Sdk.XunitException($"{at.Label}, image {image} (pages from points {at.Floor}..{at.Newest}, choice {choice}, log tail {tail}): {failure.Message}", failure);
            }

            File.Delete(imagePath);
            File.Delete(walPath);
        }
    }

    /// <summary>
    /// Writes bytes just past the last record, where a commit that never returned was being written, never over the
    /// records a replay needs (from the header's start position on). Returns what it wrote.
    /// </summary>
    private string TearTail(byte[] log, Moment at, byte[]? nextLog)
    {
        var room = LogCapacity - (at.Tail - at.Start); // bytes past the tail that hold only reclaimed records
        var kind = _random.Next(3);
        if (room <= 0)
        {
            return "whole";
        }

        if (kind == 2 && nextLog is not null && BinaryPrimitives.ReadInt64LittleEndian(ReadCircular(nextLog, at.Tail + 8, 8)) == at.Tail)
        {
            // Torn only if a byte after the prefix still differs from the record: old bytes may match its end (zeroes).
            var size = WriteAheadFile.FrameSize + BinaryPrimitives.ReadInt32LittleEndian(ReadCircular(nextLog, at.Tail + 16, 4));
            var (record, there) = (ReadCircular(nextLog, at.Tail, size), ReadCircular(log, at.Tail, size));
            var lastDiffering = Enumerable.Range(0, size).LastOrDefault(k => record[k] != there[k]);
            if (lastDiffering > 0)
            {
                var prefix = (int)Math.Min(room, _random.Next(1, lastDiffering + 1));
                WriteCircular(log, at.Tail, record[..prefix]);
                return $"next record's first {prefix} of {size} bytes";
            }
        }

        if (kind == 1 && room > WriteAheadFile.FrameSize + 16)
        {
            var length = _random.Next(16, (int)Math.Min(room - WriteAheadFile.FrameSize, 2048));
            var frame = new byte[WriteAheadFile.FrameSize + length];
            _random.NextBytes(frame);
            BinaryPrimitives.WriteUInt64LittleEndian(frame, at.Life);
            BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(8), at.Tail);
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(16), length);
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(20), 0); // only the checksum is wrong
            WriteCircular(log, at.Tail, frame);
            return $"forged frame of {length} bytes";
        }

        var garbage = new byte[(int)Math.Min(room, _random.Next(1, 1024))];
        _random.NextBytes(garbage);
        WriteCircular(log, at.Tail, garbage);
        return $"{garbage.Length} random bytes";
    }

    private static byte[] ReadCircular(byte[] log, long lsn, int length) =>
        [.. Enumerable.Range(0, length).Select(k => log[WriteAheadFile.HeaderSize + (lsn + k) % LogCapacity])];

    private static void WriteCircular(byte[] log, long lsn, byte[] bytes)
    {
        for (var k = 0; k < bytes.Length; k++)
        {
            log[WriteAheadFile.HeaderSize + (lsn + k) % LogCapacity] = bytes[k];
        }
    }

    private static void KeepFailedImage(string imagePath, string walPath)
    {
        if (Environment.GetEnvironmentVariable(PoolCrashTests.FailedImagesVariable) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
            TestFiles.Copy(imagePath, Path.Combine(directory, Path.GetFileName(imagePath)), overwrite: true);
            TestFiles.Copy(walPath, Path.Combine(directory, Path.GetFileName(walPath)), overwrite: true);
        }
    }

    /// <summary>
    /// The pool file's pages at every point recorded (step ends, and moments inside a step) since the floor: the full
    /// snapshot then, and each page's later versions (most pages never change between msyncs, so little memory).
    /// </summary>
    private sealed class PageHistory(ReadOnlySpan<byte> initial)
    {
        private readonly byte[] _current = initial.ToArray();                           // the newest snapshot
        private readonly byte[] _base = initial.ToArray();                              // every page as at the last pruned point
        private readonly Dictionary<int, List<(int Point, byte[] Bytes)>> _versions = []; // page → its versions since

        public int LastPoint { get; private set; }

        /// <summary>Records a snapshot of the page cache; returns its point.</summary>
        public int Record(ReadOnlySpan<byte> snapshot)
        {
            LastPoint++;
            for (var page = 0; page < _current.Length / PageSize; page++)
            {
                var now = snapshot.Slice(page * PageSize, PageSize);
                if (!now.SequenceEqual(_current.AsSpan(page * PageSize, PageSize)))
                {
                    now.CopyTo(_current.AsSpan(page * PageSize));
                    (_versions.TryGetValue(page, out var list) ? list : _versions[page] = []).Add((LastPoint, now.ToArray()));
                }
            }

            return LastPoint;
        }

        /// <summary>Forgets the versions no crash point can see any more: all but the newest at or before <paramref name="floor"/>.</summary>
        public void Prune(int floor)
        {
            foreach (var (page, versions) in _versions)
            {
                var old = versions.FindLastIndex(v => v.Point <= floor);
                if (old >= 0)
                {
                    versions[old].Bytes.CopyTo(_base.AsSpan(page * PageSize));
                    versions.RemoveRange(0, old + 1);
                }
            }
        }

        /// <summary>
        /// An image of a crash after point <paramref name="newest"/>: each page as at <paramref name="floor"/> or, with
        /// probability <paramref name="share"/>, written back later, from a random point's snapshot (the newest at 1).
        /// <paramref name="older"/>: some page lacks its newest version; <paramref name="newer"/>: some page is newer than the floor.
        /// </summary>
        public byte[] Image(int floor, int newest, Random random, double share, out bool older, out bool newer)
        {
            var image = (byte[])_base.Clone();
            (older, newer) = (false, false);
            foreach (var (page, versions) in _versions)
            {
                var first = versions.FindLastIndex(v => v.Point <= floor); // -1: the base's
                var last = versions.FindLastIndex(v => v.Point <= newest);
                var pick = first == last || random.NextDouble() >= share ? first : share >= 1.0 ? last : random.Next(first + 1, last + 1);
                if (pick >= 0)
                {
                    versions[pick].Bytes.CopyTo(image.AsSpan(page * PageSize));
                }

                (older, newer) = (older || pick < last, newer || pick > first);
            }

            return image;
        }
    }
}
