using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// Lookups in a string-keyed <c>PersistentSortedDictionary&lt;string, long&gt;</c> of 1 M names (<c>customer-0000000</c>…,
/// inserted in random order), the same names in both key layouts in one pool: slots that keep each key's prefix (what
/// new dictionaries get) against slots of the string's offset alone (what older pools hold; every comparison reads a
/// string). 64 random names an operation.
/// </summary>
public class PoolSortedStringBenchmarks
{
    private const int Count = 1_000_000;
    private const int Lookups = 64;
    private PersistentPool _pool = null!;
    private PersistentSortedDictionary<string, long> _prefixed = null!;
    private PersistentSortedDictionary<string, long> _former = null!;
    private string[] _names = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "sorted-strings", 1L << 30);
        var pair = _pool.Root<StringSortedPair>();
        // The first property's field is the object's first word: a handle made there with the former keys creates that layout.
        var former = new PersistentSortedDictionary<string, long>(_pool, pair.Offset, StringSortedKeys.Instance, RawCodec<long>.Instance);
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(42).Shuffle(order);
        for (var k = 0; k < Count; k += 1_000)
        {
            using var tx = _pool.BeginTransaction();
            for (var j = k; j < k + 1_000; j++)
            {
                var name = NamedPrefill.Name(order[j]);
                former.Add(name, order[j]);
                pair.Second.Add(name, order[j]);
            }

            tx.Commit();
        }

        (_former, _prefixed) = (pair.First, pair.Second);
        if (_former.Count != Count || _prefixed.Count != Count ||
            _pool.Domain.Read<int>(_former.Offset + SortedLayout.KeyOrderOffset) != (int)KeyOrder.Ordinal ||
            _pool.Domain.Read<int>(_prefixed.Offset + SortedLayout.KeyOrderOffset) != (int)KeyOrder.OrdinalPrefixed)
        {
            throw new InvalidOperationException("The prefill is not what the lookups expect.");
        }

        var random = new Random(7);
        _names = [.. Enumerable.Range(0, 8192).Select(_ => NamedPrefill.Name(random.Next(Count)))];
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Lookups)]
    public long Former_layout_TryGetValue() => Lookup(_former);

    [Benchmark(OperationsPerInvoke = Lookups)]
    public long Prefixed_TryGetValue() => Lookup(_prefixed);

    private long Lookup(PersistentSortedDictionary<string, long> map)
    {
        var start = _cursor = (_cursor + Lookups) & (_names.Length - 1);
        long sum = 0;
        for (var j = 0; j < Lookups; j++)
        {
            map.TryGetValue(_names[start + j], out var value);
            sum += value;
        }

        return sum;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
