using Pmem.Benchmarks.Objects;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// <c>--counts</c>: runs each pool operation of the benchmarks on a <see cref="CountingDomain"/> and prints drains
/// (fences), flush calls and flushed lines per operation, averaged over many operations.
/// </summary>
internal static class PoolCostCounts
{
    private const int Ops = 2048;

    public static void Run()
    {
        var path = BenchPools.NewPath(BenchPools.ShmDirectory, "counts");
        var mapping = PmemMapping.Map(path, 64L << 20, MapFlags.Create | MapFlags.Exclusive);
        File.Delete(path);
        var domain = new CountingDomain(mapping);
        using var pool = PersistentPool.Create(domain, "bench");
        var accounts = new Account[Ops + 8];
        var pairs = new Pair[Ops];
        for (var k = 0; k < Ops; k += 256)
        {
            using var tx = pool.BeginTransaction();
            for (var i = k; i < k + 256; i++)
            {
                accounts[i] = pool.New<Account>();
                pairs[i] = pool.New<Pair>();
            }

            tx.Commit();
        }

        for (var i = Ops; i < Ops + 8; i++)
        {
            accounts[i] = pool.New<Account>();
        }

        var map = PoolDictionaries.Prefill(pool, 10_000);
        var made = new List<Obj64>(Ops);

        Console.WriteLine("| Operation | drains (fences) | flush calls | lines flushed |");
        Console.WriteLine("|---|---:|---:|---:|");
        Measure("`New<Obj64>()` outside a transaction", domain, i => made.Add(pool.New<Obj64>()));
        Measure("`Delete` outside a transaction", domain, i => pool.Delete(made[i]));
        made.Clear();
        Measure("`New<Obj64>()` in a transaction of 64 (per allocation)", domain, i =>
        {
            using var tx = pool.BeginTransaction();
            for (var j = 0; j < 64; j++)
            {
                made.Add(pool.New<Obj64>());
            }

            tx.Commit();
        }, 64);
        foreach (var o in made)
        {
            pool.Delete(o);
        }

        Measure("property set 8 B outside a scope", domain, i => accounts[i].Balance = i);
        Measure("transaction, 2 fields of one object", domain, i =>
        {
            using var tx = pool.BeginTransaction();
            pairs[i].A = i;
            pairs[i].B = i;
            tx.Commit();
        });
        Measure("transaction, 1 field in each of 8 objects", domain, i =>
        {
            using var tx = pool.BeginTransaction();
            for (var j = 0; j < 8; j++)
            {
                accounts[(i + j) % Ops].Balance = i;
            }

            tx.Commit();
        });
        Measure("batch of 8 sets on 8 objects", domain, i =>
        {
            using (pool.Batch())
            {
                for (var j = 0; j < 8; j++)
                {
                    accounts[(i + j) % Ops].Balance = i;
                }
            }
        });
        Measure("transfer (transaction: read-modify-write 2 objects)", domain, i =>
        {
            using var tx = pool.BeginTransaction();
            accounts[i].Balance -= 10;
            accounts[i + 1].Balance += 10;
            tx.Commit();
        });
        Measure("dictionary `Add` (own transaction)", domain, i => map.Add(100_000 + i, i));
        Measure("dictionary `Remove` (own transaction)", domain, i => map.Remove(100_000 + i));
        Measure("dictionary `TryGetValue`", domain, i => map.TryGetValue(i, out _));
    }

    private static void Measure(string name, CountingDomain domain, Action<int> op, int perOp = 1)
    {
        const int runs = Ops / 16;
        var count = perOp == 1 ? Ops : runs;
        domain.Reset();
        for (var i = 0; i < count; i++)
        {
            op(i);
        }

        double n = (double)count * perOp;
        Console.WriteLine($"| {name} | {domain.Drains / n:0.###} | {domain.Flushes / n:0.##} | {domain.FlushedLines / n:0.##} |");
    }
}
