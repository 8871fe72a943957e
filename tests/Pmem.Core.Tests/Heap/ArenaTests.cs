using Pmem.Heap;
using Pmem.Pool;
using Pmem.Tests.Pool;
using Pmem.Transactions;

namespace Pmem.Tests.Heap;

/// <summary>Arenas: how many a pool gets, and threads of different arenas allocating from runs of their own.</summary>
public sealed class ArenaTests
{
    [Fact]
    public void A_pool_gets_one_arena_per_32_chunks_between_one_per_processor_and_four_per_processor()
    {
        var least = Math.Min(Environment.ProcessorCount, 8);
        Assert.Equal(Math.Clamp(4 * Environment.ProcessorCount, 1, 32), Arenas.Max);
        Assert.Equal(least, Arenas.CountFor(31)); // an 8 MiB pool
        Assert.Equal(Math.Max(least, Math.Min(Arenas.Max, 8)), Arenas.CountFor(256)); // 64 MiB
        Assert.Equal(Arenas.Max, Arenas.CountFor(1 << 20));
    }

    [Fact]
    public void Threads_of_different_arenas_allocate_from_different_runs()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(64 << 20), "tests");
        var heap = ((ITransactionalPool)pool).Heap;
        var arenas = Arenas.CountFor((int)((pool.Size - heap.HeapStart) / PoolHeap.ChunkSize));
        var chunkOfArena = new Dictionary<int, long>();
        for (var thread = 0; thread < 64 && chunkOfArena.Count < Math.Min(arenas, 4); thread++)
        {
            (int Arena, long Chunk) seen = default;
            var worker = new Thread(() =>
            {
                var offset = pool.New<Account>().Offset;
                seen = (Arenas.OfThisThread(arenas), (offset - heap.HeapStart) / PoolHeap.ChunkSize);
            });
            worker.Start();
            worker.Join();
            if (chunkOfArena.TryGetValue(seen.Arena, out var chunk))
            {
                Assert.Equal(chunk, seen.Chunk);
            }
            else
            {
                Assert.DoesNotContain(seen.Chunk, chunkOfArena.Values);
                chunkOfArena[seen.Arena] = seen.Chunk;
            }
        }

        Assert.True(chunkOfArena.Count >= Math.Min(arenas, 4), $"only {chunkOfArena.Count} arenas seen");
    }
}
