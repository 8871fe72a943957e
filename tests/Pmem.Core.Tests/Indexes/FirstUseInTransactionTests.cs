// FirstUseInTransactionTests -- a transaction's first use of an indexed class while another thread first uses one: it waits, unless that thread builds over objects and waits for it.
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Indexes;

/// <summary>
/// A class's first use brings its indexes in step under the pool's directory lock. A transaction that holds the index
/// lock (it wrote an indexed property) used to give up at once when another thread held the directory: an outside
/// tester's two threads first using two indexed classes without objects met that in 200 of 200 runs, though the other
/// thread only claimed entries. It now waits for them; it gives up only when the other thread builds an index over
/// existing objects and waits for the index lock this transaction holds (waiting for each other would never end).
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class FirstUseInTransactionTests : IDisposable
{
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-first-use");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Two_threads_first_using_indexed_classes_without_objects_both_succeed()
    {
        for (var round = 0; round < 20; round++)
        {
            var path = Path.Combine(_directory, $"race{round}.pool");
            using var pool = PersistentPool.Create(path, "tests", 16 << 20);
            var holder = pool.New<Member>(); // in step before the race: its indexed writes take the index lock
            using var go = new Barrier(2);
            Exception? failure = null;
            var inTransaction = new Thread(() =>
            {
                go.SignalAndWait();
                try
                {
                    using var tx = pool.BeginTransaction();
                    holder.Number = round + 1;
                    pool.New<FirstIndexed>().Value = 1; // its first use, inside the transaction
                    tx.Commit();
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            var outside = new Thread(() =>
            {
                go.SignalAndWait();
                pool.New<SecondIndexed>().Value = 2; // its first use, outside any transaction
            });
            inTransaction.Start();
            outside.Start();
            inTransaction.Join();
            outside.Join();

            Assert.Null(failure);
            Assert.Equal(1, pool.Index<FirstIndexed, long>(nameof(FirstIndexed.Value)).Count);
            Assert.Equal(1, pool.Index<SecondIndexed, long>(nameof(SecondIndexed.Value)).Count);
            Assert.Equal(round + 1, holder.Number);
            Assert.True(pool.Check().IsClean);
        }
    }

    [Fact]
    public void A_transaction_gives_up_its_first_use_while_a_build_over_objects_waits_for_its_index_lock()
    {
        using var pool = PersistentPool.Create(Path.Combine(_directory, "build.pool"), "tests", 32 << 20);
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 500; i++)
            {
                var member = pool.New<MemberUnindexed>();
                member.Number = i;
                pool.Root<PlainClub>().Members.Add(member);
            }

            tx.Commit();
        }

        var holder = pool.New<SecondIndexed>(); // in step: its indexed write below takes the index lock
        using var holding = new ManualResetEventSlim();
        Exception? refused = null;
        var inTransaction = new Thread(() =>
        {
            using var tx = pool.BeginTransaction();
            holder.Value = 7;
            holding.Set();
            SpinWait.SpinUntil(() => pool.IndexBuildAwaitsIndexLock, TimeSpan.FromSeconds(30));
            refused = Record.Exception(() => pool.New<FirstIndexed>()); // would wait for the builder, which waits for this transaction
        });
        inTransaction.Start();
        holding.Wait();
        var built = pool.Index<Member, long>(nameof(Member.Number)).Count; // the first use of Member builds over 500 objects
        inTransaction.Join();

        var error = Assert.IsType<InvalidOperationException>(refused);
        Assert.Contains("waits for the index lock this transaction holds", error.Message);
        Assert.Equal(500, built);
        Assert.Equal(0, pool.All<FirstIndexed>().Count()); // rolled back
        Assert.Equal(0, holder.Value);
        Assert.True(pool.Check().IsClean);
    }
}

/// <summary>An indexed class of its own name, for first uses.</summary>
internal sealed class FirstIndexed : PersistentObject, IPersistentObject<FirstIndexed>
{
    private FirstIndexed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.FirstUse.First", 64, 0xF1257, 1, [new("Value", "System.Int64", 0, 8, index: PersistentIndexKind.Indexed)]);

    static FirstIndexed IPersistentObject<FirstIndexed>.Attach(ObjectHandle handle) => new(handle);

    public long Value { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }
}

/// <summary>Another indexed class of its own name.</summary>
internal sealed class SecondIndexed : PersistentObject, IPersistentObject<SecondIndexed>
{
    private SecondIndexed(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.FirstUse.Second", 64, 0x5EC0D, 1, [new("Value", "System.Int64", 0, 8, index: PersistentIndexKind.Indexed)]);

    static SecondIndexed IPersistentObject<SecondIndexed>.Attach(ObjectHandle handle) => new(handle);

    public long Value { get => ReadField<long>(0); set => WriteIndexedField(PersistentType, 0, value); }
}
