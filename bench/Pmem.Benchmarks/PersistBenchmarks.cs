using BenchmarkDotNet.Attributes;
using Pmem.Memory;

namespace Pmem.Benchmarks;

/// <summary>Store then persist <see cref="Size"/> bytes on lines not touched recently (a cursor walks 512 MiB).</summary>
public unsafe class PersistBenchmarks
{
    private byte* _base;
    private long _cursor;

    [Params(8, 64, 256, 4096)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup() => _base = PmemRegion.Base;

    private byte* Next()
    {
        long stride = Math.Max(64, Size);
        _cursor = (_cursor + stride) % (PmemRegion.Size - stride);
        byte* p = _base + _cursor;
        for (int i = 0; i < Size; i += 8)
        {
            *(long*)(p + i) = _cursor;
        }

        return p;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Native")]
    public void Native_libpmem_persist() => NativeLibPmem.Persist(Next(), (nuint)Size);

    [Benchmark]
    public void Managed_persist() => LibPmem.Persist(Next(), (nuint)Size);
}

/// <summary>N lines stored and flushed one by one, then one drain (the batch pattern).</summary>
public unsafe class FlushLinesBenchmarks
{
    private byte* _base;
    private long _cursor;

    [Params(1, 8, 64)]
    public int Lines { get; set; }

    [GlobalSetup]
    public void Setup() => _base = PmemRegion.Base;

    private byte* Next()
    {
        long span = Lines * 64L;
        _cursor = (_cursor + span) % (PmemRegion.Size - span);
        return _base + _cursor;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Native")]
    public void Native_libpmem_flush_each_then_drain()
    {
        byte* p = Next();
        for (int i = 0; i < Lines; i++)
        {
            *(long*)(p + i * 64) = i;
            NativeLibPmem.Flush(p + i * 64, 8);
        }

        NativeLibPmem.Drain();
    }

    [Benchmark]
    public void Managed_flush_each_then_drain()
    {
        byte* p = Next();
        for (int i = 0; i < Lines; i++)
        {
            *(long*)(p + i * 64) = i;
            LibPmem.Flush(p + i * 64, 8);
        }

        LibPmem.Drain();
    }
}

/// <summary>An aligned 8-byte durable store: store + flush + fence, against a non-temporal store + fence.</summary>
public unsafe class SmallDurableStoreBenchmarks
{
    private byte* _base;
    private long _cursor;

    [GlobalSetup]
    public void Setup() => _base = PmemRegion.Base;

    private long* Next()
    {
        _cursor = (_cursor + 64) % PmemRegion.Size;
        return (long*)(_base + _cursor);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Native")]
    public void Native_store_then_pmem_persist()
    {
        long* p = Next();
        *p = _cursor;
        NativeLibPmem.Persist(p, 8);
    }

    [Benchmark]
    public void Managed_store_then_persist()
    {
        long* p = Next();
        *p = _cursor;
        LibPmem.Persist(p, 8);
    }

    [Benchmark]
    public void Managed_nontemporal_store_then_fence() => LibPmem.StoreDurable8(Next(), _cursor);
}
