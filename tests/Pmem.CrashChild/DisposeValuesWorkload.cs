// DisposeValuesWorkload -- a pool disposed while threads read and write it: no racing read returns a value never stored, every write that returned is durable.
using System.Globalization;
using System.Text.RegularExpressions;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.CrashChild;

/// <summary>
/// <c>Pmem.CrashChild --dispose-values &lt;directory&gt; &lt;PowerFailure|ProcessCrash&gt; &lt;rounds&gt;</c>: each round
/// creates a pool holding eight records (each referring to the next, with unique indexed names), a dictionary of 64
/// strings and a sorted dictionary of 256 longs, then starts eight threads. Thread <c>t</c> writes only record
/// <c>t</c>, in turn a counter set outside a transaction, a committed transaction (counter and label) and a batch, with
/// an increasing value, and between writes reads everything (the other records' counters, labels, names and
/// references, the list, both dictionaries, a sorted range, the index, <c>pool.All&lt;T&gt;()</c>) and checks each
/// value against what was stored. The main thread disposes the pool after a few milliseconds; every thread must end
/// with <see cref="ObjectDisposedException"/> without having read a value that was never stored (zeroes or garbage
/// from the closed mapping) and without any other exception. The pool is then reopened: it must check clean and hold
/// every write that returned normally. Prints <c>ok &lt;rounds&gt;</c> (exit code 0), or each failure and a tally by
/// check (exit code 1). <c>DisposeRaceTests</c> runs it.
/// </summary>
internal static class DisposeValuesWorkload
{
    private const int Threads = 8;
    private const int DictionaryEntries = 64;
    private const int SortedEntries = 256;
    private const int MessagesPerRound = 20;

    public static int Run(string[] args)
    {
        var directory = args[1];
        var mode = Enum.Parse<DurabilityMode>(args[2]);
        var rounds = int.Parse(args[3], CultureInfo.InvariantCulture);
        var failures = new Failures();
        long writes = 0, reads = 0;
        for (var round = 0; round < rounds; round++)
        {
            var path = Path.Combine(directory, "values.pool");
            File.Delete(path);
            var pool = PersistentPool.Create(path, DisposeValuesRoot.Layout, 8 << 20, new PoolCreateOptions { Durability = mode });
            var records = Setup(pool);
            var state = new RoundState(round, pool, records, failures);
            var threads = Enumerable.Range(0, Threads).Select(thread => new Thread(() => state.Work(thread))).ToList();
            threads.ForEach(thread => thread.Start());
            Thread.Sleep(3 + (round % 12));
            pool.Dispose();
            threads.ForEach(thread => thread.Join());
            writes += state.Writes;
            reads += state.Reads;
            CheckReopened(path, state);
        }

        Console.Error.WriteLine($"{rounds} rounds, {writes} writes returned, {reads} read passes completed");
        if (failures.Count == 0)
        {
            Console.WriteLine($"ok {rounds}");
            return 0;
        }

        failures.Print();
        return 1;
    }

    /// <summary>Creates the records and collections in one transaction; returns the records.</summary>
    private static DisposeValuesRecord[] Setup(PersistentPool pool)
    {
        var root = pool.Root<DisposeValuesRoot>();
        using var tx = pool.BeginTransaction();
        var records = new DisposeValuesRecord[Threads];
        for (var i = 0; i < Threads; i++)
        {
            records[i] = pool.New<DisposeValuesRecord>();
            records[i].Counter = 1;
            records[i].Label = "label-1";
            records[i].Name = $"rec-{i}";
            root.Records.Add(records[i]);
        }

        for (var i = 0; i < Threads; i++)
        {
            records[i].Next = records[(i + 1) % Threads];
        }

        for (var i = 0; i < DictionaryEntries; i++)
        {
            root.Values.Add($"k{i}", i + 1);
        }

        for (long key = 1; key <= SortedEntries; key++)
        {
            root.Sorted.Add(key, key * 10);
        }

        tx.Commit();
        return records;
    }

    /// <summary>Reopens the disposed pool: it checks clean and holds every write that returned and nothing never written.</summary>
    private static void CheckReopened(string path, RoundState state)
    {
        void Fail(string what, object? got) => state.Failures.Add(state.Round, "reopen", what, got);
        try
        {
            using var pool = PersistentPool.Open(path, DisposeValuesRoot.Layout);
            var report = pool.Check();
            if (!report.IsConsistent)
            {
                Fail("Check() is not consistent", string.Join("; ", report.Errors.Take(3)));
            }

            var root = pool.Root<DisposeValuesRoot>();
            if (root.Records.Count != Threads)
            {
                Fail("root.Records.Count", root.Records.Count);
                return;
            }

            for (var i = 0; i < Threads; i++)
            {
                var record = root.Records[i];
                if (record is null || record.Offset != state.Offsets[i])
                {
                    Fail($"root.Records[{i}] is not record {i}", record?.Offset);
                    continue;
                }

                var (durable, durableTx, attempted) = (state.LastDurable[i], state.LastDurableTransaction[i], state.LastAttempted[i]);
                var counter = record.Counter;
                if (counter < durable)
                {
                    Fail($"record {i}'s Counter lost a write that returned: expected >= {durable} (last attempted {attempted})", counter);
                }
                else if (counter > attempted)
                {
                    Fail($"record {i}'s Counter holds a value never written (last attempted {attempted})", counter);
                }

                var label = record.Label;
                var labelNumber = LabelNumber(label);
                if (labelNumber is not { } number || number > attempted)
                {
                    Fail($"record {i}'s Label is not a label written (last attempted {attempted})", Show(label));
                }
                else if (number < durableTx)
                {
                    Fail($"record {i}'s Label lost a committed transaction: expected label-n with n >= {durableTx}", Show(label));
                }

                if (record.Name != $"rec-{i}")
                {
                    Fail($"record {i}'s Name", Show(record.Name));
                }

                if (record.Next?.Offset != state.Offsets[(i + 1) % Threads])
                {
                    Fail($"record {i}'s Next is not record {(i + 1) % Threads}", record.Next?.Offset);
                }
            }

            if (root.Values.Count != DictionaryEntries)
            {
                Fail("root.Values.Count", root.Values.Count);
            }

            for (var i = 0; i < DictionaryEntries; i++)
            {
                if (!root.Values.TryGetValue($"k{i}", out var value) || value != i + 1)
                {
                    Fail($"root.Values[\"k{i}\"] (expected {i + 1})", value);
                }
            }

            if (root.Sorted.Count != SortedEntries || !root.Sorted.Select(entry => (entry.Key, entry.Value)).SequenceEqual(Enumerable.Range(1, SortedEntries).Select(k => ((long)k, k * 10L))))
            {
                Fail("root.Sorted is not keys 1..256 -> key*10", root.Sorted.Count);
            }

            var all = pool.All<DisposeValuesRecord>().Select(record => record.Offset).Order().ToArray();
            if (!all.SequenceEqual(state.Offsets.Order()))
            {
                Fail("pool.All<DisposeValuesRecord>() offsets", string.Join(",", all));
            }
        }
        catch (Exception e)
        {
            Fail("reopening and reading threw", e);
        }
    }

    private static long? LabelNumber(string? label) =>
        label is not null && label.StartsWith("label-", StringComparison.Ordinal)
        && long.TryParse(label.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 1 ? number : null;

    /// <summary>A string read, quoted, with control characters (the zeroes of a closed mapping) escaped.</summary>
    private static string Show(string? value) =>
        value is null ? "null" : $"\"{string.Concat(value.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()))}\"";

    /// <summary>One round: the pool, what each thread last wrote, and the racing threads' work.</summary>
    private sealed class RoundState(int round, PersistentPool pool, DisposeValuesRecord[] records, Failures failures)
    {
        private readonly long[] _offsets = records.Select(record => record.Offset).ToArray();

        // A transaction replacing a label frees the old string at commit: another thread reading the label meanwhile
        // would follow a freed reference (the pool has no isolation: README, "Durability"). So a thread replaces its
        // label, and reads another thread's, under that record's lock; Dispose takes none of them.
        private readonly Lock[] _labelLocks = records.Select(_ => new Lock()).ToArray();

        private long _writes;
        private long _reads;

        public int Round => round;

        public long[] Offsets => _offsets;

        public Failures Failures => failures;

        /// <summary>Per thread: the value of its last write that returned normally.</summary>
        public long[] LastDurable { get; } = Enumerable.Repeat(1L, Threads).ToArray();

        /// <summary>Per thread: the value of its last transaction whose Commit returned (its label).</summary>
        public long[] LastDurableTransaction { get; } = Enumerable.Repeat(1L, Threads).ToArray();

        /// <summary>Per thread: the value of its last write begun, which may or may not have landed.</summary>
        public long[] LastAttempted { get; } = Enumerable.Repeat(1L, Threads).ToArray();

        public long Writes => _writes;

        public long Reads => _reads;

        public void Work(int thread)
        {
            var random = new Random((round * Threads) + thread);
            try
            {
                var root = pool.Root<DisposeValuesRoot>();
                var mine = records[thread];
                var byName = pool.Index<DisposeValuesRecord, string>(nameof(DisposeValuesRecord.Name));
                for (long n = 2; ; n++)
                {
                    Volatile.Write(ref LastAttempted[thread], n);
                    switch (n % 3)
                    {
                        case 0:
                            mine.Counter = n;
                            break;
                        case 1:
                            lock (_labelLocks[thread])
                            {
                                using var tx = pool.BeginTransaction();
                                mine.Counter = n;
                                mine.Label = "label-" + n.ToString(CultureInfo.InvariantCulture);
                                tx.Commit();
                            }

                            Volatile.Write(ref LastDurableTransaction[thread], n);
                            break;
                        default:
                            using (pool.Batch())
                            {
                                mine.Counter = n;
                            }

                            break;
                    }

                    Volatile.Write(ref LastDurable[thread], n);
                    Interlocked.Increment(ref _writes);
                    Read(thread, n, random, root, byName);
                    Interlocked.Increment(ref _reads);
                }
            }
            catch (ObjectDisposedException)
            {
            }
            catch (Exception e)
            {
                failures.Add(round, $"thread {thread}", "exception other than ObjectDisposedException", e);
            }
        }

        /// <summary>Reads every kind of value once and checks it against what was stored.</summary>
        private void Read(int thread, long n, Random random, DisposeValuesRoot root, PersistentIndex<DisposeValuesRecord, string> byName)
        {
            void Fail(string what, object? got) => failures.Add(round, $"thread {thread}", what, got);

            var own = records[thread].Counter;
            if (own != n)
            {
                Fail($"own record's Counter (this thread just wrote {n}, no other thread writes it)", own);
            }

            var ownLabel = records[thread].Label;
            var committed = LastDurableTransaction[thread];
            if (ownLabel != $"label-{committed}")
            {
                Fail($"own record's Label (this thread last committed \"label-{committed}\")", Show(ownLabel));
            }

            var j = (thread + 1 + random.Next(Threads - 1)) % Threads;
            var other = records[j];
            var counter = other.Counter;
            var attempted = Volatile.Read(ref LastAttempted[j]);
            if (counter < 1 || counter > attempted)
            {
                Fail($"record {j}'s Counter (expected 1..{attempted})", counter);
            }

            string? label;
            lock (_labelLocks[j])
            {
                label = other.Label;
            }

            attempted = Volatile.Read(ref LastAttempted[j]);
            if (LabelNumber(label) is not { } number || number > attempted)
            {
                Fail($"record {j}'s Label (expected label-<1..{attempted}>)", Show(label));
            }

            var name = other.Name;
            if (name != $"rec-{j}")
            {
                Fail($"record {j}'s Name (expected \"rec-{j}\")", Show(name));
            }

            var next = other.Next;
            if (next is null || next.Offset != _offsets[(j + 1) % Threads])
            {
                Fail($"record {j}'s Next (expected record {(j + 1) % Threads} at {_offsets[(j + 1) % Threads]})", next is null ? "null" : next.Offset);
            }

            var listed = root.Records[j];
            if (listed is null || listed.Offset != _offsets[j])
            {
                Fail($"root.Records[{j}] (expected record {j} at {_offsets[j]})", listed is null ? "null" : listed.Offset);
            }

            var listCount = root.Records.Count;
            if (listCount != Threads)
            {
                Fail($"root.Records.Count (expected {Threads})", listCount);
            }

            var d = random.Next(DictionaryEntries);
            if (!root.Values.TryGetValue($"k{d}", out var value) || value != d + 1)
            {
                Fail($"root.Values.TryGetValue(\"k{d}\") (expected true, {d + 1})", value);
            }

            var values = root.Values.Count;
            if (values != DictionaryEntries)
            {
                Fail($"root.Values.Count (expected {DictionaryEntries})", values);
            }

            var k = random.Next(1, SortedEntries + 1);
            if (!root.Sorted.TryGetValue(k, out var sortedValue) || sortedValue != k * 10L)
            {
                Fail($"root.Sorted.TryGetValue({k}) (expected true, {k * 10})", sortedValue);
            }

            var sorted = root.Sorted.Count;
            if (sorted != SortedEntries)
            {
                Fail($"root.Sorted.Count (expected {SortedEntries})", sorted);
            }

            var range = new List<KeyValuePair<long, long>>(20);
            foreach (var entry in root.Sorted.Range(100, 120))
            {
                range.Add(entry);
            }

            if (range.Count != 20 || range.Where((entry, i) => entry.Key != 100 + i || entry.Value != (100 + i) * 10).Any())
            {
                Fail("root.Sorted.Range(100, 120) (expected 100 -> 1000 .. 119 -> 1190)", string.Join(" ", range.Select(entry => $"{entry.Key}->{entry.Value}")));
            }

            var f = random.Next(Threads);
            var found = byName.Find($"rec-{f}");
            if (found.Count != 1 || found[0].Offset != _offsets[f])
            {
                Fail($"Index(Name).Find(\"rec-{f}\") (expected record {f} at {_offsets[f]})", string.Join(",", found.Select(record => record.Offset)));
            }

            var all = pool.All<DisposeValuesRecord>().Count();
            if (all != Threads)
            {
                Fail($"pool.All<DisposeValuesRecord>().Count() (expected {Threads})", all);
            }
        }
    }

    /// <summary>The failures of every round: the first few messages of each round, and a count by check.</summary>
    private sealed class Failures
    {
        private readonly Lock _lock = new();
        private readonly List<string> _messages = [];
        private readonly Dictionary<string, int> _byCheck = [];
        private readonly Dictionary<int, int> _byRound = [];

        public int Count { get; private set; }

        public void Add(int round, string where, string what, object? got)
        {
            var shown = got is Exception e ? e.ToString() : Convert.ToString(got, CultureInfo.InvariantCulture) ?? "null";
            var check = got is Exception ex ? $"{where.Split(' ')[0]}: {what}: {ex.GetType().Name}" : $"{where.Split(' ')[0]}: {Generalize(what)}";
            lock (_lock)
            {
                Count++;
                _byCheck[check] = _byCheck.GetValueOrDefault(check) + 1;
                var inRound = _byRound[round] = _byRound.GetValueOrDefault(round) + 1;
                if (inRound <= MessagesPerRound)
                {
                    _messages.Add($"round {round}, {where}: {what}, got {shown}");
                }
            }
        }

        public void Print()
        {
            _messages.ForEach(Console.WriteLine);
            Console.WriteLine($"{Count} failures in {_byRound.Count} rounds, by check:");
            foreach (var (check, count) in _byCheck.OrderByDescending(pair => pair.Value))
            {
                Console.WriteLine($"  {count,6}  {check}");
            }
        }

        /// <summary>The check without its numbers, to count failures of one check together.</summary>
        private static string Generalize(string what) => Regex.Replace(what, "[0-9]+", "#");
    }
}

/// <summary>The root of the dispose-values workload: the records, a dictionary and a sorted dictionary, fixed after setup.</summary>
[PersistentObject]
public partial class DisposeValuesRoot
{
    public const string Layout = "crash-child-dispose-values";

    public partial PersistentList<DisposeValuesRecord?> Records { get; }

    public partial PersistentDictionary<string, long> Values { get; }

    public partial PersistentSortedDictionary<long, long> Sorted { get; }
}

/// <summary>One thread's record: only that thread writes its counter and label; its name and reference stay as set up.</summary>
[PersistentObject]
public partial class DisposeValuesRecord
{
    public partial long Counter { get; set; }

    public partial string? Label { get; set; }

    [Indexed]
    public partial string? Name { get; set; }

    public partial DisposeValuesRecord? Next { get; set; }
}
