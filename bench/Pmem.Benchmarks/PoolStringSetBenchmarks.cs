// PoolStringSetBenchmarks -- replacing a string property: a new block for the text, the old one freed, one commit.
using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// A string property set again and again on a power-failure pool in /dev/shm (run with <c>PMEM_IS_PMEM_FORCE=1</c>):
/// each set reserves a block for the new text and frees the old one in the same commit, so the thread keeps a freed
/// block of the class for its next set. Against a set of a long property, the one-line commit with nothing to allocate.
/// </summary>
[MemoryDiagnoser]
public class PoolStringSetBenchmarks
{
    private const int Nodes = 256;
    private PersistentPool _pool = null!;
    private Node[] _nodes = null!;
    private string[] _texts = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "string-set", 64L << 20);
        using (var tx = _pool.BeginTransaction())
        {
            _nodes = [.. Enumerable.Range(0, Nodes).Select(_ => _pool.New<Node>())];
            tx.Commit();
        }

        _texts = [.. Enumerable.Range(0, 64).Select(i => $"account holder number {i:D4}")]; // 30 characters
    }

    [Benchmark(Baseline = true)]
    public void Long_set()
    {
        var i = _cursor = (_cursor + 1) & (Nodes - 1);
        _nodes[i].Value = i;
    }

    [Benchmark]
    public void String_set()
    {
        var i = _cursor = (_cursor + 1) & (Nodes - 1);
        _nodes[i].Name = _texts[i & 63];
    }

    [Benchmark]
    public void String_set_in_tx_with_a_long()
    {
        var i = _cursor = (_cursor + 1) & (Nodes - 1);
        using var tx = _pool.BeginTransaction();
        _nodes[i].Name = _texts[i & 63];
        _nodes[i].Value = i;
        tx.Commit();
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();
}
