// DisposedPoolScopeTests -- a transaction scope still open when its pool is disposed ends quietly.
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Transactions;

/// <summary>
/// A pool disposed while one of its transactions is open (a shutdown elsewhere, or a <c>using</c> of the pool that ends
/// inside the transaction's): the transaction never commits, and disposing its scope afterwards neither throws nor
/// replaces the exception that ended the block (an outside tester's scope threw ObjectDisposedException once the
/// transaction had reserved enough blocks that releasing them emptied a run, hiding the original error).
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class DisposedPoolScopeTests : IDisposable
{
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-disposed-scope");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(1_000)]
    [InlineData(5_000)]
    public void Disposing_the_scope_after_its_pool_neither_throws_nor_keeps_anything(int made)
    {
        var path = Path.Combine(_directory, "scope.pool");
        PersistentPool.Create(path, "scope", 16 << 20).Dispose();
        var pool = PersistentPool.Open(path, "scope");
        var tx = pool.BeginTransaction();
        for (var i = 0; i < made; i++)
        {
            pool.Root<Registry>().Accounts.Add(pool.New<Account>());
        }

        pool.Dispose();
        tx.Dispose();
        Assert.False(tx.IsActive);

        using var reopened = PersistentPool.Open(path, "scope");
        Assert.Empty(reopened.Root<Registry>().Accounts);
        Assert.Empty(reopened.All<Account>());
        Assert.True(reopened.Check().IsClean);
        using var next = reopened.BeginTransaction(); // the thread is free for other transactions
        reopened.Root<Registry>().Accounts.Add(reopened.New<Account>());
        next.Commit();
    }

    [Fact]
    public void The_exception_that_ended_the_block_is_the_one_seen()
    {
        var path = Path.Combine(_directory, "block.pool");
        var pool = PersistentPool.Create(path, "scope", 16 << 20);
        var thrown = Assert.Throws<TimeoutException>(EndsInsideTheTransaction);
        Assert.Equal("the original error", thrown.Message);

        void EndsInsideTheTransaction()
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 5_000; i++) // enough to empty a run when released: the release wrote to the heap
            {
                pool.New<Account>().Balance = i;
            }

            pool.Dispose();
            throw new TimeoutException("the original error");
        }
    }
}
