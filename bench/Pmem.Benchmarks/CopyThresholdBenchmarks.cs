using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Pmem.Memory;


namespace Pmem.Benchmarks;

/// <summary>Where non-temporal stores start to beat copy + CLWB: the basis of the default non-temporal threshold.</summary>
public unsafe class CopyThresholdBenchmarks
{
    private byte* _base;
    private byte* _source;
    private long _cursor;

    [Params(256, 384, 512, 768)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _base = PmemRegion.Base;
        _source = (byte*)NativeMemory.AlignedAlloc(1024, 64);
        new Span<byte>(_source, 1024).Fill(7);
    }

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_source);

    private byte* Next()
    {
        _cursor = (_cursor + 1024) % (PmemRegion.Size - 1024);
        return _base + _cursor;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Native")]
    public void Native_libpmem_memcpy_persist() => NativeLibPmem.MemcpyPersist(Next(), _source, (nuint)Size);

    [Benchmark]
    public void Managed_nontemporal() => LibPmem.Memcpy(Next(), _source, (nuint)Size, PmemCopyFlags.NonTemporal);

    [Benchmark]
    public void Managed_temporal_then_flush() => LibPmem.Memcpy(Next(), _source, (nuint)Size, PmemCopyFlags.Temporal);
}
