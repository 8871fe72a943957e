using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// 1 M <see cref="NamedItem"/>s whose indexed <c>Name</c> is set in random order (so the index tree fills as a real one
/// does, leaves about 70 % full), each also added under its name to the root's <c>PersistentDictionary&lt;string, NamedItem?&gt;</c>:
/// New, the indexed set and the dictionary add in transactions of 1,000. With <c>hashed</c>, 1 M
/// <see cref="HashedItem"/>s of the same names too (a hashed index).
/// </summary>
internal static class NamedPrefill
{
    public const int Count = 1_000_000;

    public static string Name(int i) => $"customer-{i:D7}";

    public static PersistentDictionary<string, NamedItem?> Fill(PersistentPool pool, bool hashed = false)
    {
        var byName = pool.Root<NamedHolder>().ByName;
        var names = Enumerable.Range(0, Count).ToArray();
        new Random(42).Shuffle(names);
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var k = 0; k < Count; k += 1_000)
        {
            using var tx = pool.BeginTransaction();
            for (var j = k; j < Math.Min(k + 1_000, Count); j++)
            {
                var item = pool.New<NamedItem>();
                var name = Name(names[j]);
                item.Name = name;
                item.Value = names[j];
                byName.Add(name, item);
                if (hashed)
                {
                    var twin = pool.New<HashedItem>();
                    twin.Name = name;
                    twin.Value = names[j];
                }
            }

            tx.Commit();
        }

        Console.WriteLine($"// prefill: {Count:N0} named items, index and dictionary, in {started.Elapsed.TotalSeconds:F1} s");
        return byName;
    }
}

/// <summary>
/// Issue 15's target: an indexed lookup of a string property among 1 M objects (<c>pool.Index&lt;T, string&gt;(…).Find</c>)
/// against a <c>PersistentDictionary&lt;string, T&gt;</c> lookup of the same names in the same pool (the baseline), and a
/// managed <c>Dictionary&lt;string, T&gt;</c> of the same objects for reference, and a hashed index
/// (<c>[Indexed(Hashed = true)]</c>) over as many objects of the same names. 64 random names an operation; each
/// result's object (its wrapper) is touched through its offset.
/// </summary>
[MemoryDiagnoser]
public class PoolIndexLookupBenchmarks
{
    private const int Lookups = 64;
    private PersistentPool _pool = null!;
    private PersistentDictionary<string, NamedItem?> _dictionary = null!;
    private PersistentIndex<NamedItem, string> _index = null!;
    private PersistentIndex<HashedItem, string> _hashed = null!;
    private Dictionary<string, NamedItem> _managed = null!;
    private string[] _names = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "index-lookup", 3L << 29);
        _dictionary = NamedPrefill.Fill(_pool, hashed: true);
        _index = _pool.Index<NamedItem, string>(nameof(NamedItem.Name));
        _hashed = _pool.Index<HashedItem, string>(nameof(HashedItem.Name));
        _managed = _dictionary.ToDictionary(pair => pair.Key, pair => pair.Value!);
        var random = new Random(7);
        _names = [.. Enumerable.Range(0, 8192).Select(_ => NamedPrefill.Name(random.Next(NamedPrefill.Count)))];
        if (_index.Count != NamedPrefill.Count || _index.Find(_names[0]).Single().Name != _names[0] || _dictionary[_names[0]]!.Name != _names[0] ||
            _hashed.Count != NamedPrefill.Count || _hashed.Find(_names[0]).Single().Name != _names[0])
        {
            throw new InvalidOperationException("The prefill is not what the lookups expect.");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public long PersistentDictionary_TryGetValue()
    {
        var start = _cursor = (_cursor + Lookups) & (_names.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            _dictionary.TryGetValue(_names[start + j], out var item);
            sum += item!.Offset;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Index_Find()
    {
        var start = _cursor = (_cursor + Lookups) & (_names.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            sum += _index.Find(_names[start + j])[0].Offset;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Hashed_index_Find()
    {
        var start = _cursor = (_cursor + Lookups) & (_names.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            sum += _hashed.Find(_names[start + j])[0].Offset;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Hashed_index_TryFind()
    {
        var start = _cursor = (_cursor + Lookups) & (_names.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            _hashed.TryFind(_names[start + j], out var item);
            sum += item!.Offset;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Managed_Dictionary_TryGetValue()
    {
        var start = _cursor = (_cursor + Lookups) & (_names.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            _managed.TryGetValue(_names[start + j], out var item);
            sum += item!.Offset;
        }

        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}

/// <summary>
/// Setting an indexed <c>long</c> (the write and the move of the object's index entry, in its own transaction) against
/// setting a plain <c>long</c> of the same objects (a durable 8-byte store, no transaction) and the same plain set inside
/// an explicit transaction, and setting the same <c>long</c> with a hashed index. 1 M objects of each class whose
/// indexed values were set in transactions of 1,000; the benchmarks set random values (0 to 4 M) on objects taken in turn.
/// </summary>
public class PoolIndexSetBenchmarks
{
    private const int Objects = 1 << 20;
    private PersistentPool _pool = null!;
    private IndexedItem[] _items = null!;
    private HashedIndexedItem[] _hashed = null!;
    private long[] _values = null!;
    private int _cursor;
    private int _pass; // passes over the objects so far: each pass sets every object to another value than the last

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "index-set", 3L << 29);
        var random = new Random(11);
        _items = new IndexedItem[Objects];
        _hashed = new HashedIndexedItem[Objects];
        var started = System.Diagnostics.Stopwatch.StartNew();
        // Objects first, then their ranks: setting the rank of an object created in the same transaction moves its
        // entry out of the index's leaf of zeros, and a transaction's repeated writes to one leaf make every later
        // read of it replay them all: in transactions of 1,000 that costs several times as much (bench/RESULTS.md, session 8).
        for (var pass = 0; pass < 2; pass++)
        {
            for (var k = 0; k < Objects; k += 1_000)
            {
                using var tx = _pool.BeginTransaction();
                for (var j = k; j < Math.Min(k + 1_000, Objects); j++)
                {
                    if (pass == 0)
                    {
                        _items[j] = _pool.New<IndexedItem>();
                        _items[j].Plain = j;
                        _hashed[j] = _pool.New<HashedIndexedItem>();
                        _hashed[j].Plain = j;
                    }
                    else
                    {
                        _items[j].Rank = random.NextInt64(4L * Objects);
                        _hashed[j].Rank = _items[j].Rank;
                    }
                }

                tx.Commit();
            }
        }

        Console.WriteLine($"// prefill: {Objects:N0} items with two indexes and as many with two hashed indexes, ranks set, in {started.Elapsed.TotalSeconds:F1} s");
        _values = [.. Enumerable.Range(0, 4096).Select(_ => random.NextInt64(4L * Objects))];
    }

    [Benchmark(Baseline = true)]
    public void Plain_long_set()
    {
        var i = _cursor = (_cursor + 1) & (Objects - 1);
        _items[i].Plain = _values[i & 4095];
    }

    [Benchmark]
    public void Plain_long_set_in_tx()
    {
        var i = _cursor = (_cursor + 1) & (Objects - 1);
        using var tx = _pool.BeginTransaction();
        _items[i].Plain = _values[i & 4095];
        tx.Commit();
    }

    [Benchmark]
    public void Indexed_long_set()
    {
        var i = NextObject();
        _items[i].Rank = _values[(i + _pass) & 4095]; // a setter given the value it holds returns at once: never that
    }

    [Benchmark]
    public void Hashed_long_set()
    {
        var i = NextObject();
        _hashed[i].Rank = _values[(i + _pass) & 4095];
    }

    private int NextObject()
    {
        var i = _cursor = (_cursor + 1) & (Objects - 1);
        _pass += i == 0 ? 1 : 0;
        return i;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}

/// <summary>
/// <c>New&lt;T&gt;()</c> outside a transaction of a class with two indexed properties (the new object's entries for its
/// default values are added in the allocation's transaction) against the same layout without indexes (one
/// allocation commit), 4,096 objects an invocation. The objects are deleted after each iteration, so BenchmarkDotNet
/// runs one invocation an iteration: its time over 4,096.
/// </summary>
public class PoolIndexNewBenchmarks
{
    private const int News = 4096;
    private PersistentPool _pool = null!;
    private readonly List<PlainItem> _plain = new(News);
    private readonly List<IndexedItem> _indexed = new(News);

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "index-new", 1L << 30);
        if (PlainItem.PersistentType.Size != IndexedItem.PersistentType.Size)
        {
            throw new InvalidOperationException("The two classes should have one layout.");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = News)]
    public void New_without_indexes()
    {
        for (var i = 0; i < News; i++)
        {
            _plain.Add(_pool.New<PlainItem>());
        }
    }

    [Benchmark(OperationsPerInvoke = News)]
    public void New_with_two_indexes()
    {
        for (var i = 0; i < News; i++)
        {
            _indexed.Add(_pool.New<IndexedItem>());
        }
    }

    [IterationCleanup]
    public void FreeAll()
    {
        BenchPools.DeleteAll(_pool, _plain);
        BenchPools.DeleteAll(_pool, _indexed);
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
