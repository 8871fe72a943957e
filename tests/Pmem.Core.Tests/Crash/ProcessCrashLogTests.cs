using Pmem.Log;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Store-level crash points for process-crash pools, whose logs are sealed rather than checksummed (format version 3):
/// a killed process loses none of its stores, and those it made survive in program order, so what the next opener
/// sees is the memory as it was at some instant of the run. The simulated domain cannot model that (its crash points
/// are drains, and a process-crash pool there checksums its logs, since only a real <see cref="ProcessCrashDomain"/>
/// makes the pipeline seal), so this campaign runs the pool on a real <see cref="ProcessCrashDomain"/> over a
/// temporary file and watches its stores through the domain's store observer.
/// </summary>
/// <remarks>
/// <para>
/// Crash images: the whole pool after every store the domain reports (a <c>Write</c>, a <c>NotifyStore</c>), and,
/// between two reported stores, the earlier image plus a prefix (in address order, as a forward copy makes them) of the
/// unreported stores in between — the log copy, the zeroing of prepared blocks — and, where those span at least
/// 2 KiB (a copy that may use string stores, which x86 orders only among themselves), random subsets of them too.
/// So a kill lands in the middle of every log copy, before and after its seal, and inside every apply.
/// </para>
/// <para>
/// Invariant, on every image: the pool opens, its heap is sound with nothing leaked, and each transaction's batch of
/// nodes (logs of 2.7 KB in the slot and of 9 KB in a heap block, both above the 2 KiB at which the copy is fenced before
/// the seal) is in the list whole or not at all, with the total matching the list.
/// </para>
/// <para>
/// What this cannot check: the fence itself (<c>Interlocked.MemoryBarrier</c> before the seal). The images model the
/// x86 order the fence guarantees, whether or not the code issues it; only hardware running string stores out of
/// order around a missing fence would show the difference.
/// </para>
/// </remarks>
public sealed class ProcessCrashLogTests
{
    private const int SmallBatch = 36;  // ≈ 2.7 KB of log: in the slot, above 2 KiB
    private const int LargeBatch = 96;  // ≈ 9 KB: in a heap block
    private const int LaneSize = 16384; // slots of 5 440 bytes

    private static readonly PoolCreateOptions Options = new() { Durability = DurabilityMode.ProcessCrash, LaneCount = 2, LaneSize = LaneSize };

    private static readonly long PoolLength = PoolLayout.MinimumPoolSize(2, LaneSize) + 2 * PoolLayout.ChunkSize;

    private static void AddBatch(PersistentPool pool, Ledger root, int batch, int nodes)
    {
        using var tx = pool.BeginTransaction();
        for (var i = 0; i < nodes; i++)
        {
            var node = pool.New<Account>();
            node.Balance = batch;
            node.Counter = i;
            node.Owner = $"batch {batch} node {i}";
            node.Next = root.First;
            root.First = node;
        }

        root.Total += nodes;
        tx.Commit();
    }

    private static void RemoveNewestBatch(PersistentPool pool, Ledger root)
    {
        using var tx = pool.BeginTransaction();
        var batch = root.First!.Balance;
        var removed = 0;
        while (root.First is { } node && node.Balance == batch)
        {
            root.First = node.Next;
            pool.Delete(node);
            removed++;
        }

        root.Total -= removed;
        tx.Commit();
    }

    private static void Workload(PersistentPool pool)
    {
        var root = pool.Root<Ledger>();
        AddBatch(pool, root, 1, SmallBatch);
        AddBatch(pool, root, 2, SmallBatch);
        RemoveNewestBatch(pool, root);
        AddBatch(pool, root, 3, LargeBatch);
        root.Total = root.Total; // an unlogged write between sealed commits
        AddBatch(pool, root, 4, SmallBatch);
    }

    private static int BatchSize(long batch) => batch == 3 ? LargeBatch : SmallBatch;

    private static void CheckImage(byte[] image)
    {
        using var pool = PoolCrashTests.OpenImage(image);
        Assert.Equal(DurabilityMode.ProcessCrash, pool.Durability);
        PoolCrashTests.AssertHeapIsSound(pool);
        var root = pool.Root<Ledger>();
        var count = 0;
        for (var node = root.First; node is not null;)
        {
            // A whole batch, newest node first: counters run down to 0 with the same batch number.
            var batch = node.Balance;
            Assert.InRange(batch, 1, 4);
            for (var i = BatchSize(batch) - 1; i >= 0; i--)
            {
                Assert.True(node is not null && node.Balance == batch && node.Counter == i, $"batch {batch} is torn at node {i}");
                Assert.Equal($"batch {batch} node {i}", node!.Owner);
                count++;
                node = node.Next;
            }
        }

        Assert.Equal(root.Total, count);
    }

    [Fact]
    public void Sealed_logs_of_process_crash_pools_are_all_or_nothing_at_every_store()
    {
        var directory = Directory.CreateTempSubdirectory("pmem-sealed-");
        var path = Path.Combine(directory.FullName, "sealed.pool");
        try
        {
            var domain = PmemMapping.Map(path, PoolLength, MapFlags.Create).CreateDomain(DurabilityMode.ProcessCrash);
            using var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, Options);
            Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion); // new pools get the newest format, which seals logs
            Assert.True(pool.FormatVersion >= PoolLayout.SealedLogsVersion);
            pool.Root<Ledger>();

            var watcher = new StoreWatcher(domain, PoolCrashTests.OnOwnThread((image, _) => CheckImage(image)));
            domain.StoreObserver = watcher;
            try
            {
                Workload(pool);
            }
            finally
            {
                domain.StoreObserver = null;
            }

            watcher.CheckNow(); // the end of the workload
            Assert.True(watcher.SealsSeen >= 5, $"only {watcher.SealsSeen} sealed logs were seen: the pool did not seal its logs");
            Assert.True(watcher.CopiesCut >= 4, $"only {watcher.CopiesCut} copies were cut short");
            TestContext.Current.TestOutputHelper?.WriteLine($"{watcher.StoresSeen} stores, {watcher.SealsSeen} seals, {watcher.CopiesCut} unreported store runs of 2 KiB or more cut short");
            PoolCrashTests.Report(
                nameof(Sealed_logs_of_process_crash_pools_are_all_or_nothing_at_every_store),
                new CrashCampaignResult(watcher.StoresSeen + 1, watcher.Images, watcher.Failures.Count, watcher.Failures.Take(20).ToList()) { DrainPoints = 0 });
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Takes the crash images of a process-crash domain at its reported stores and between them, and checks each.</summary>
    private sealed class StoreWatcher : IStoreObserver
    {
        private const int CopyThreshold = 2048;
        private const int PrefixesPerGap = 6;
        private const int SubsetsPerCopy = 6;

        private readonly PersistenceDomain _domain;
        private readonly Action<byte[], CrashPoint> _checker;
        private readonly Random _random = new(17);
        private byte[]? _previous;
        private bool _inside;

        public StoreWatcher(PersistenceDomain domain, Action<byte[], CrashPoint> checker) => (_domain, _checker) = (domain, checker);

        public long StoresSeen { get; private set; }

        public long Images { get; private set; }

        public int SealsSeen { get; private set; }

        public int CopiesCut { get; private set; }

        public List<CrashFailure> Failures { get; } = [];

        public void OnStore(long offset, long length)
        {
            if (_inside)
            {
                return;
            }

            _inside = true;
            try
            {
                StoresSeen++;
                var current = _domain.GetSpan(0, checked((int)_domain.Length)).ToArray();
                if (_previous is not null)
                {
                    CutBetween(_previous, current, offset, length);
                }

                if (length == 8 && IsSeal(current, offset))
                {
                    SealsSeen++;
                }

                Check(current, StoresSeen, 1);
                _previous = current;
            }
            finally
            {
                _inside = false;
            }
        }

        public void CheckNow() => Check(_domain.GetSpan(0, checked((int)_domain.Length)).ToArray(), StoresSeen + 1, 0);

        /// <summary>The word stored is the checksum word of a log slot holding that slot's seal.</summary>
        private static bool IsSeal(byte[] memory, long offset)
        {
            var relative = offset - PoolLayout.LanesOffset;
            var slotSize = LaneSize / 3 / 64 * 64;
            if (relative < 0 || relative >= 2L * LaneSize || relative % LaneSize % slotSize != 16)
            {
                return false;
            }

            var slot = offset - 16;
            var sequence = BitConverter.ToUInt64(memory, (int)slot);
            return BitConverter.ToUInt64(memory, (int)offset) == RedoLog.Seal(sequence);
        }

        /// <summary>
        /// Images between the previous reported store and this one: the previous image plus a prefix (address order)
        /// of the words the unreported stores changed, and for a copy of at least 2 KiB random subsets of them.
        /// </summary>
        private void CutBetween(byte[] previous, byte[] current, long offset, long length)
        {
            var words = new List<int>();
            const int Block = 4096;
            for (var block = 0; block < current.Length; block += Block)
            {
                var size = Math.Min(Block, current.Length - block);
                if (previous.AsSpan(block, size).SequenceEqual(current.AsSpan(block, size)))
                {
                    continue;
                }

                for (var word = block; word < block + size; word += 8)
                {
                    var reported = word + 8 > offset && word < offset + length;
                    if (!reported && BitConverter.ToUInt64(previous, word) != BitConverter.ToUInt64(current, word))
                    {
                        words.Add(word);
                    }
                }
            }

            if (words.Count == 0)
            {
                return;
            }

            for (var p = 1; p <= PrefixesPerGap; p++)
            {
                var take = words.Count * p / (PrefixesPerGap + 1);
                if (take > 0)
                {
                    Check(Mix(previous, current, words.Take(take)), StoresSeen, 2 + p);
                }
            }

            if (words[^1] + 8 - words[0] >= CopyThreshold)
            {
                CopiesCut++;
                for (var s = 0; s < SubsetsPerCopy; s++)
                {
                    var keep = _random.NextDouble();
                    Check(Mix(previous, current, words.Where(_ => _random.NextDouble() < keep)), StoresSeen, 2 + PrefixesPerGap + 1 + s);
                }
            }
        }

        private static byte[] Mix(byte[] previous, byte[] current, IEnumerable<int> words)
        {
            var image = (byte[])previous.Clone();
            foreach (var word in words)
            {
                current.AsSpan(word, 8).CopyTo(image.AsSpan(word, 8));
            }

            return image;
        }

        private void Check(byte[] image, long store, int index)
        {
            Images++;
            var point = new CrashPoint(store, AtEnd: false, CrashImageKind.RandomSubset, 0, index);
            try
            {
                _checker(image, point);
            }
            catch (Exception e)
            {
                Failures.Add(new CrashFailure(point, new Exception($"at store #{store} (image {index}): {e.Message}", e)));
            }
        }
    }
}
