using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Pmem.Memory;

namespace Pmem.Benchmarks;

/// <summary>memcpy_persist from a cached source to a destination that walks the 512 MiB region.</summary>
public unsafe class MemcpyPersistBenchmarks
{
    private byte* _base;
    private byte* _source;
    private long _cursor;

    [Params(64, 256, 1024, 4096, 65536, 1 << 20, 16 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _base = PmemRegion.Base;
        _source = (byte*)NativeMemory.AlignedAlloc((nuint)Size, 64);
        new Span<byte>(_source, Size).Fill(7);
    }

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_source);

    private byte* Next()
    {
        long stride = Math.Max(Size, 64);
        _cursor = (_cursor + stride) % (PmemRegion.Size - stride);
        return _base + _cursor;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Native")]
    public void Native_libpmem_memcpy_persist() => NativeLibPmem.MemcpyPersist(Next(), _source, (nuint)Size);

    [Benchmark]
    public void Managed_memcpy_persist() => LibPmem.MemcpyPersist(Next(), _source, (nuint)Size);

    /// <summary>Buffer.MemoryCopy + CLWB + SFENCE whatever the size, to check where non-temporal stores pay off.</summary>
    [Benchmark]
    public void Managed_temporal_copy_flush_drain() => LibPmem.Memcpy(Next(), _source, (nuint)Size, PmemCopyFlags.Temporal);

    /// <summary>The AVX-512 non-temporal kernel alone (chosen only with PMEM_AVX512F=1), to compare widths in one run.</summary>
    [Benchmark]
    public void Managed_avx512_kernel_then_drain()
    {
        NonTemporalKernels.Move(VectorKernel.Avx512F, Next(), _source, (nuint)Size, flushEdges: true);
        LibPmem.Drain();
    }

    /// <summary>The AVX2 non-temporal kernel alone.</summary>
    [Benchmark]
    public void Managed_avx2_kernel_then_drain()
    {
        NonTemporalKernels.Move(VectorKernel.Avx2, Next(), _source, (nuint)Size, flushEdges: true);
        LibPmem.Drain();
    }
}
