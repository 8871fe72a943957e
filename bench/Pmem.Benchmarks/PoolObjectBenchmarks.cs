using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Pmem.Benchmarks.Objects;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// Allocation of a 64-byte zeroed object outside a transaction: <c>pool.New&lt;Obj64&gt;()</c> against
/// <c>pmemobj_zalloc(pop, &amp;oid, 64, 1)</c>. Each iteration runs a fixed number of allocations; everything it
/// allocated is freed in the iteration cleanup (not timed), so the heap stays in the same state.
/// </summary>
[InvocationCount(8192)]
public unsafe class PoolAllocBenchmarks
{
    private PersistentPool _pool = null!;
    private IntPtr _pop;
    private readonly List<Obj64> _ours = new(8192 * 64);
    private readonly List<PMEMoid> _native = new(8192);

    [GlobalSetup]
    public void Setup()
    {
        _pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "alloc", 1L << 30);
        Console.WriteLine($"// Obj64 size: {Obj64.PersistentType.Size} B");
        if (NativeLibPmemObj.IsAvailable)
        {
            _pop = BenchPools.CreateNativeAnonymous(BenchPools.ShmDirectory, "alloc", 256L << 20);
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("NativeObj")]
    public void Native_pmemobj_zalloc_64B() => _native.Add(NativeLibPmemObj.Alloc(_pop, 64));

    [Benchmark]
    public Obj64 Ours_New_64B()
    {
        var o = _pool.New<Obj64>();
        _ours.Add(o);
        return o;
    }

    /// <summary>Allocation inside a transaction of 64 allocations (one commit for all), per allocation.</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public void Ours_New_64B_in_tx_of_64()
    {
        using var tx = _pool.BeginTransaction();
        for (var i = 0; i < 64; i++)
        {
            _ours.Add(_pool.New<Obj64>());
        }

        tx.Commit();
    }

    [IterationCleanup]
    public void FreeAll()
    {
        BenchPools.DeleteAll(_pool, _ours);
        BenchPools.FreeAllNative(_native);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        if (_pop != IntPtr.Zero)
        {
            NativeLibPmemObj.Close(_pop);
        }
    }
}

/// <summary>
/// Open + close of a 1 GiB pool holding 1,000,000 small objects (an 8-byte <c>Account</c> ours, 8-byte
/// <c>pmemobj_zalloc</c> native), created once per run in the global setup. Includes validation and recovery.
/// </summary>
public unsafe class PoolOpenBenchmarks
{
    public const int Objects = 1_000_000;
    private const long PoolSize = 1L << 30;
    private string _ours = "";
    private string _native = "";

    [GlobalSetup]
    public unsafe void Setup()
    {
        _ = NativeLibPmem.IsAvailable;
        _ours = BenchPools.NewPath(BenchPools.ShmDirectory, "open");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using (var pool = PersistentPool.Create(_ours, "bench", PoolSize, new PoolCreateOptions { LaneSize = 1 << 20 }))
        {
            for (var done = 0; done < Objects; done += 1000)
            {
                using var tx = pool.BeginTransaction(); // 1,000 allocations: the lanes are made 1 MiB for this
                for (var i = 0; i < 1000; i++)
                {
                    pool.New<Account>();
                }

                tx.Commit();
            }

            Console.WriteLine($"// ours: {pool.GetStatistics().ObjectCount} objects in a {PoolSize >> 20} MiB pool, domain {pool.Domain.FlushPath}, created in {watch.Elapsed.TotalSeconds:F1} s");
        }

        if (NativeLibPmemObj.IsAvailable)
        {
            watch.Restart();
            _native = BenchPools.NewPath(BenchPools.ShmDirectory, "native-open");
            var pop = NativeLibPmemObj.CreatePool(_native, "bench", PoolSize);
            for (var i = 0; i < Objects; i++)
            {
                NativeLibPmemObj.Alloc(pop, 8);
            }

            NativeLibPmemObj.Close(pop);
            Console.WriteLine($"// native: {Objects} objects created in {watch.Elapsed.TotalSeconds:F1} s");
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("NativeObj")]
    public void Native_pmemobj_open_close() => NativeLibPmemObj.Close(NativeLibPmemObj.OpenPool(_native, "bench"));

    [Benchmark]
    public void Ours_Open_Dispose()
    {
        using var pool = PersistentPool.Open(_ours, "bench");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        File.Delete(_ours);
        if (_native.Length > 0)
        {
            File.Delete(_native);
        }
    }
}

/// <summary>Shared set-up for benchmarks working on many small objects of both engines.</summary>
public abstract unsafe class PoolObjectsBase
{
    protected const int Count = 4096; // objects per side; a cursor walks them so lines are not always hot
    protected PersistentPool Pool = null!;
    protected IntPtr Pop;
    protected Account[] Accounts = null!;
    protected Pair[] Pairs = null!;
    protected long[] AccountOffsets = null!;
    protected long*[] NativeAccounts = null!;
    protected PMEMoid[] NativeOids = null!;
    protected int Cursor;

    protected virtual DurabilityMode Durability => DurabilityMode.PowerFailure;

    [GlobalSetup]
    public virtual void Setup()
    {
        Pool = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "objects", 64L << 20, Durability);
        Accounts = new Account[Count];
        Pairs = new Pair[Count];
        AccountOffsets = new long[Count];
        for (var k = 0; k < Count; k += 256) // a lane's log (64 KiB) holds a few hundred allocations
        {
            using var tx = Pool.BeginTransaction();
            for (var i = k; i < k + 256; i++)
            {
                Accounts[i] = Pool.New<Account>();
                Pairs[i] = Pool.New<Pair>();
                AccountOffsets[i] = Accounts[i].Offset;
            }

            tx.Commit();
        }

        NativeAccounts = new long*[Count];
        NativeOids = new PMEMoid[Count];
        if (NativeLibPmemObj.IsAvailable)
        {
            Pop = BenchPools.CreateNativeAnonymous(BenchPools.ShmDirectory, "objects", 64L << 20);
            for (var i = 0; i < Count; i++)
            {
                NativeOids[i] = NativeLibPmemObj.Alloc(Pop, 16);
                NativeAccounts[i] = (long*)NativeLibPmemObj.Direct(NativeOids[i]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected int Next() => Cursor = (Cursor + 1) & (Count - 1);

    [GlobalCleanup]
    public void Cleanup()
    {
        Pool.Dispose();
        if (Pop != IntPtr.Zero)
        {
            NativeLibPmemObj.Close(Pop);
        }
    }
}

/// <summary>A transaction changing two 8-byte fields of one object (libpmemobj: one add_range per field, as TX_SET does).</summary>
public unsafe class PoolTxTwoFieldsBenchmarks : PoolObjectsBase
{
    [Benchmark(Baseline = true), BenchmarkCategory("NativeObj")]
    public void Native_pmemobj_tx_2_fields()
    {
        var i = Next();
        var oid = NativeOids[i];
        var p = NativeAccounts[i];
        NativeLibPmemObj.TxBegin(Pop, null, 0);
        NativeLibPmemObj.TxAddRange(oid, 0, 8);
        p[0] = i;
        NativeLibPmemObj.TxAddRange(oid, 8, 8);
        p[1] = i;
        NativeLibPmemObj.TxCommit();
        NativeLibPmemObj.TxEnd();
    }

    [Benchmark]
    public void Ours_tx_2_fields()
    {
        var i = Next();
        var o = Pairs[i];
        using var tx = Pool.BeginTransaction();
        o.A = i;
        o.B = i;
        tx.Commit();
    }

    private const int OnThreadPool = 1_000;

    /// <summary>
    /// The same transactions on a thread-pool thread, as an async program runs them: there each marks its async flow
    /// (docs/transactions.md), which a thread of the program's own does not. One hop to the pool per 1,000.
    /// </summary>
    [Benchmark(OperationsPerInvoke = OnThreadPool)]
    public void Ours_tx_2_fields_on_thread_pool() => Task.Run(() =>
    {
        for (var n = 0; n < OnThreadPool; n++)
        {
            Ours_tx_2_fields();
        }
    }).Wait();
}

/// <summary>A transaction changing one 8-byte field in each of 8 objects.</summary>
public unsafe class PoolTxEightObjectsBenchmarks : PoolObjectsBase
{
    [Benchmark(Baseline = true), BenchmarkCategory("NativeObj")]
    public void Native_pmemobj_tx_8_objects()
    {
        var start = (Cursor = (Cursor + 8) & (Count - 1));
        NativeLibPmemObj.TxBegin(Pop, null, 0);
        for (var j = 0; j < 8; j++)
        {
            NativeLibPmemObj.TxAddRange(NativeOids[start + j], 0, 8);
            *NativeAccounts[start + j] = start;
        }

        NativeLibPmemObj.TxCommit();
        NativeLibPmemObj.TxEnd();
    }

    [Benchmark]
    public void Ours_tx_8_objects()
    {
        var start = (Cursor = (Cursor + 8) & (Count - 1));
        using var tx = Pool.BeginTransaction();
        for (var j = 0; j < 8; j++)
        {
            Accounts[start + j].Balance = start;
        }

        tx.Commit();
    }
}

/// <summary>
/// Eight 8-byte writes to 8 objects (8 distinct cache lines), made durable together: <c>using (pool.Batch())</c>
/// against libpmem's store + <c>pmem_flush</c> ×8 + one <c>pmem_drain</c> on the same objects' lines.
/// </summary>
/// <remarks>
/// Two layouts, because what the stores around the flushes cost depends on it on this machine: accounts allocated
/// back to back (adjacent lines), and every other one of such accounts (a line between). The setup prints the
/// distances between neighbours.
/// </remarks>
public unsafe class PoolBatchBenchmarks : PoolObjectsBase
{
    private long*[] _ourLines = null!;
    private Account[] _targets = null!;

    [Params("every other line", "adjacent lines")]
    public string Layout { get; set; } = "every other line";

    public override void Setup()
    {
        base.Setup();

        // Accounts of one size class come from one run, back to back; keeping every other one leaves a line between.
        var stride = Layout == "adjacent lines" ? 1 : 2;
        _targets = new Account[Count];
        for (var k = 0; k < Count; k += 128)
        {
            using var tx = Pool.BeginTransaction();
            for (var i = k; i < k + 128; i++)
            {
                _targets[i] = Pool.New<Account>();
                for (var skip = 1; skip < stride; skip++)
                {
                    Pool.New<Account>();
                }
            }

            tx.Commit();
        }

        _ourLines = new long*[Count];
        for (var i = 0; i < Count; i++)
        {
            _ourLines[i] = (long*)Unsafe.AsPointer(ref Pool.Domain.GetRef<long>(_targets[i].Offset));
        }

        var strides = Enumerable.Range(1, Count - 1).GroupBy(i => _targets[i].Offset - _targets[i - 1].Offset)
            .OrderByDescending(g => g.Count()).Take(3).Select(g => $"{g.Key} B ×{g.Count()}");
        Console.WriteLine($"// {Layout}: distances between neighbours: {string.Join(", ", strides)}");
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Native")]
    public void Native_libpmem_8_flushes_1_drain()
    {
        var start = (Cursor = (Cursor + 8) & (Count - 1));
        for (var j = 0; j < 8; j++)
        {
            var p = _ourLines[start + j];
            *p = start;
            NativeLibPmem.Flush(p, 8);
        }

        NativeLibPmem.Drain();
    }

    [Benchmark]
    public void Ours_batch_8_sets()
    {
        var start = (Cursor = (Cursor + 8) & (Count - 1));
        using (Pool.Batch())
        {
            for (var j = 0; j < 8; j++)
            {
                _targets[start + j].Balance = start;
            }
        }
    }
}

/// <summary>
/// A generated 8-byte property set outside any scope (durable on return: store, flush, drain) against the same
/// thing written by hand through the pool's domain, and against libpmemobj's store + <c>pmemobj_persist</c>.
/// </summary>
public unsafe class PoolPropertySetBenchmarks : PoolObjectsBase
{
    [Benchmark(Baseline = true), BenchmarkCategory("NativeObj")]
    public void Native_store_pmemobj_persist_8B()
    {
        var i = Next();
        var p = NativeAccounts[i];
        *p = i;
        NativeLibPmemObj.Persist(Pop, p, 8);
    }

    [Benchmark]
    public void Handwritten_domain_Write_Persist_8B()
    {
        var i = Next();
        var offset = AccountOffsets[i];
        var domain = Pool.Domain;
        domain.Write(offset, (long)i);
        domain.Persist(offset, 8);
    }

    [Benchmark]
    public void Generated_setter_8B()
    {
        var i = Next();
        Accounts[i].Balance = i;
    }
}

/// <summary>A generated 8-byte getter against reading the same field through a span of the domain (64 reads per op).</summary>
public class PoolPropertyGetBenchmarks : PoolObjectsBase
{
    private const int Reads = 64;

    [Benchmark(Baseline = true, OperationsPerInvoke = Reads)]
    public long Span_MemoryMarshal_Read()
    {
        var start = (Cursor = (Cursor + Reads) & (Count - 1));
        var domain = Pool.Domain;
        long sum = 0;
        for (var j = 0; j < Reads; j++)
        {
            sum += MemoryMarshal.Read<long>(domain.GetSpan(AccountOffsets[start + j], 8));
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Reads)]
    public long Generated_getter()
    {
        var start = (Cursor = (Cursor + Reads) & (Count - 1));
        long sum = 0;
        for (var j = 0; j < Reads; j++)
        {
            sum += Accounts[start + j].Balance;
        }

        return sum;
    }
}

/// <summary>
/// The bank transfer in a process-crash-mode pool (stores reach the page cache; no flushes), against the same
/// transfer in a power-failure pool on pmem.
/// </summary>
public class PoolTransferProcessCrashBenchmarks
{
    private PersistentPool _power = null!;
    private PersistentPool _crash = null!;
    private Account[] _powerAccounts = null!;
    private Account[] _crashAccounts = null!;
    private int _cursor;

    [GlobalSetup]
    public void Setup()
    {
        _power = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "transfer-power", 16L << 20);
        _crash = BenchPools.CreateAnonymous(BenchPools.ShmDirectory, "transfer-crash", 16L << 20, DurabilityMode.ProcessCrash);
        _powerAccounts = PoolTransfer.MakeAccounts(_power);
        _crashAccounts = PoolTransfer.MakeAccounts(_crash);
    }

    [Benchmark(Baseline = true)]
    public void Ours_transfer_PowerFailure() => PoolTransfer.Transfer(_power, _powerAccounts, ref _cursor);

    [Benchmark]
    public void Ours_transfer_ProcessCrash() => PoolTransfer.Transfer(_crash, _crashAccounts, ref _cursor);

    /// <summary>Where the time goes: begin + commit of a transaction with no writes (commit returns at once).</summary>
    [Benchmark]
    public void ProcessCrash_empty_tx()
    {
        using var tx = _crash.BeginTransaction();
        tx.Commit();
    }

    /// <summary>Where the time goes: the two reads and two recorded writes, then a rollback (no log, no apply).</summary>
    [Benchmark]
    public void ProcessCrash_transfer_rolled_back()
    {
        var a = _cursor = (_cursor + 1) & (PoolTransfer.Accounts - 1);
        using var tx = _crash.BeginTransaction();
        _crashAccounts[a].Balance -= 10;
        _crashAccounts[(a + 1) & (PoolTransfer.Accounts - 1)].Balance += 10;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _power.Dispose();
        _crash.Dispose();
    }
}
