using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// Scaling of allocation outside a transaction: <see cref="Threads"/> dedicated threads allocate 64-byte zeroed
/// objects at once, <see cref="Total"/> per invocation split evenly, so the figure is wall time per allocation and
/// perfect scaling halves it from 1 to 2 threads. <c>pool.New&lt;Obj64&gt;()</c> against <c>pmemobj_zalloc</c> on
/// the same threads. Everything allocated is freed in the iteration cleanup (not timed).
/// </summary>
[InvocationCount(4)]
public unsafe class PoolConcurrentAllocBenchmarks
{
    public const int Total = 8192;

    private PersistentPool _pool = null!;
    private IntPtr _pop;
    private Thread[] _workers = [];
    private Barrier _start = null!;
    private Barrier _done = null!;
    private Action<int> _work = _ => { };
    private volatile bool _stop;
    private List<Obj64>[] _ours = [];
    private List<PMEMoid>[] _native = [];

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "concurrent-alloc", 1L << 30);
        if (NativeLibPmemObj.IsAvailable)
        {
            _pop = BenchPools.CreateNativeAnonymous(BenchPools.ShmDirectory, "concurrent-alloc", 256L << 20);
        }

        _ours = Enumerable.Range(0, Threads).Select(_ => new List<Obj64>(Total * 4)).ToArray();
        _native = Enumerable.Range(0, Threads).Select(_ => new List<PMEMoid>(Total * 4)).ToArray();
        _start = new Barrier(Threads + 1);
        _done = new Barrier(Threads + 1);
        _workers = Enumerable.Range(0, Threads).Select(index => new Thread(() => Worker(index)) { IsBackground = true, Name = $"alloc-{index}" }).ToArray();
        foreach (var worker in _workers)
        {
            worker.Start();
        }
    }

    private void Worker(int index)
    {
        while (true)
        {
            _start.SignalAndWait();
            if (_stop)
            {
                return;
            }

            _work(index);
            _done.SignalAndWait();
        }
    }

    private void RunOnWorkers(Action<int> work)
    {
        _work = work;
        _start.SignalAndWait();
        _done.SignalAndWait();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Total), BenchmarkCategory("NativeObj")]
    public void Native_pmemobj_zalloc_64B() => RunOnWorkers(index =>
    {
        var list = _native[index];
        for (var i = Total / Threads; i > 0; i--)
        {
            list.Add(NativeLibPmemObj.Alloc(_pop, 64));
        }
    });

    [Benchmark(OperationsPerInvoke = Total)]
    public void Ours_New_64B() => RunOnWorkers(index =>
    {
        var list = _ours[index];
        for (var i = Total / Threads; i > 0; i--)
        {
            list.Add(_pool.New<Obj64>());
        }
    });

    [IterationCleanup]
    public void FreeAll()
    {
        foreach (var list in _ours)
        {
            BenchPools.DeleteAll(_pool, list);
        }

        foreach (var list in _native)
        {
            BenchPools.FreeAllNative(list);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _start.SignalAndWait();
        foreach (var worker in _workers)
        {
            worker.Join();
        }

        _pool.Dispose();
        if (_pop != IntPtr.Zero)
        {
            NativeLibPmemObj.Close(_pop);
        }
    }
}
