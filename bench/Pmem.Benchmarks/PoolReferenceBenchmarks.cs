// PoolReferenceBenchmarks -- what reading a reference costs: the field, the target's block check (type and generation), the wrapper.
using BenchmarkDotNet.Attributes;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// 4,096 objects in a ring on /dev/shm, each referencing the next: one reference read per operation, beside a read of
/// an 8-byte field of the same objects (the floor: no block check, no wrapper). Run the same class on two builds for an
/// A/B of the reference check (bench/RESULTS.md).
/// </summary>
public class PoolReferenceBenchmarks
{
    private const int Count = 4096;
    private PersistentPool _pool = null!;
    private Link[] _links = [];
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "references", 64L << 20);
        _links = new Link[Count];
        for (var i = 0; i < Count; i++)
        {
            _links[i] = _pool.New<Link>();
            _links[i].Value = i;
        }

        for (var i = 0; i < Count; i++)
        {
            _links[i].Next = _links[(i + 1) % Count];
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    private Link NextLink() => _links[_cursor = (_cursor + 1) & (Count - 1)];

    [Benchmark(Baseline = true)]
    public long Read_a_long_field() => NextLink().Value;

    [Benchmark]
    public long Read_a_reference() => NextLink().Next!.Offset;

    /// <summary>An 8-byte value and a reference.</summary>
    private sealed class Link : PersistentObject, IPersistentObject<Link>
    {
        private Link(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new(
            "bench.reference.link", 64, 0x11A4, 1, [new("Value", "System.Int64", 0, 8), new("Next", "reference", 8, 8, target: "bench.reference.link", isNullable: true)]);

        static Link IPersistentObject<Link>.Attach(ObjectHandle handle) => new(handle);

        public long Value { get => ReadField<long>(0); set => WriteField(0, value); }

        public Link? Next { get => ReadReference<Link>(8); set => WriteReference(8, value); }
    }
}
