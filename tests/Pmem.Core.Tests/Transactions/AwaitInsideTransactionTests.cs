// AwaitInsideTransactionTests -- code that awaits inside a transaction and then waits for what that transaction holds is told so, never left hanging.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Indexes;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Transactions;

/// <summary>
/// An <c>await</c> inside a transaction's scope moves the rest of the method to another thread; the transaction stays
/// with the thread that began it, holding the index lock or the collections it creates. The continuation waiting for
/// those would wait for itself: it must throw at once (and leave the pool usable by every other thread), while work a
/// transaction starts beside it, which its own thread will end, must still wait and go on.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class AwaitInsideTransactionTests : IDisposable
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(30);
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-await");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void An_indexed_write_after_an_await_in_a_transaction_that_took_the_index_lock_throws_instead_of_hanging()
    {
        using var pool = PoolWithOneMember("write.pool", out var member);

        async Task AwaitInside()
        {
            using var tx = pool.BeginTransaction();
            member.Name = "inside"; // the index lock, held by this thread's transaction
            await Task.Delay(10); // the rest runs on a thread-pool thread
            member.Name = "after the await";
            tx.Commit();
        }

        AssertRefusedAndIndexUsable(RunFlowOnThreadOfItsOwn(AwaitInside), pool, member);
    }

    [Fact]
    public void An_index_lookup_after_an_await_in_a_transaction_that_took_the_index_lock_throws_instead_of_hanging()
    {
        using var pool = PoolWithOneMember("lookup.pool", out var member);
        var byName = pool.Index<Member, string>(nameof(Member.Name));

        async Task AwaitInside()
        {
            using var tx = pool.BeginTransaction();
            member.Name = "inside";
            await Task.Delay(10);
            _ = byName.Find("inside"); // outside any transaction on this thread: it would wait for the index lock
            tx.Commit();
        }

        AssertRefusedAndIndexUsable(RunFlowOnThreadOfItsOwn(AwaitInside), pool, member);
    }

    [Fact]
    public void A_first_mutation_after_an_await_of_a_collection_the_transaction_creates_throws_instead_of_hanging()
    {
        using var pool = PersistentPool.Create(Path.Combine(_directory, "collection.pool"), "tests", 16 << 20);
        var club = pool.Root<Club>();
        var first = pool.New<Member>();
        var second = pool.New<Member>();

        async Task AwaitInside()
        {
            using var tx = pool.BeginTransaction();
            club.Members.Add(first); // creates the list: other threads' first mutations wait for this transaction
            await Task.Delay(10);
            club.Members.Add(second); // this thread sees no list yet, and would wait for the one being made
            tx.Commit();
        }

        var error = RunFlowOnThreadOfItsOwn(AwaitInside);
        Assert.IsType<InvalidOperationException>(error);
        Assert.Contains("await", error!.Message);
        Assert.Empty(club.Members); // nothing of the given-up transaction was committed
        var adder = Task.Run(() => club.Members.Add(second));
        Assert.True(adder.Wait(Hang), "a first mutation on another thread waits for the given-up transaction");
        Assert.Equal(second.Offset, Assert.Single(club.Members)!.Offset);
    }

    [Fact]
    public void A_task_started_inside_a_transaction_that_holds_the_index_lock_waits_for_it_and_goes_on()
    {
        using var pool = PersistentPool.Create(Path.Combine(_directory, "beside.pool"), "tests", 16 << 20);
        var club = pool.Root<Club>();
        var member = pool.New<Member>();
        var other = pool.New<Member>();
        club.Members.Add(member);
        club.Members.Add(other);
        Task beside;
        using (var tx = pool.BeginTransaction())
        {
            member.Name = "holder"; // the index lock; the task below carries this flow's knowledge of it
            beside = Task.Run(() => other.Name = "beside");
            SpinWait.SpinUntil(() => pool.CollectionCreationWaiters == 1 || beside.IsCompleted, Hang);
            Assert.False(beside.IsCompleted, "the task's indexed write did not wait for the index lock");
            tx.Commit(); // this thread never left the flow: the task's wait is an ordinary one
        }

        Assert.True(beside.Wait(Hang), "the task still waits after the transaction committed");
        Assert.Equal(["beside", "holder"], pool.Index<Member, string>(nameof(Member.Name)).Select(m => m.Name));
        SortedDictionaryTests.AssertSound(pool);
    }

    /// <summary>A pool whose root club holds one member named "before" (its index entry committed).</summary>
    private PersistentPool PoolWithOneMember(string file, out Member member)
    {
        var pool = PersistentPool.Create(Path.Combine(_directory, file), "tests", 16 << 20);
        member = pool.New<Member>();
        pool.Root<Club>().Members.Add(member);
        member.Name = "before";
        return pool;
    }

    /// <summary>The code after the await was refused, naming the await, and the index works for everyone else.</summary>
    private static void AssertRefusedAndIndexUsable(Exception? error, PersistentPool pool, Member member)
    {
        Assert.IsType<InvalidOperationException>(error);
        Assert.Contains("await", error!.Message);
        AssertIndexUsableFromAnotherThread(pool, member, "before");
    }

    /// <summary>
    /// Runs <paramref name="flow"/> from a thread of its own that stays alive, as a server's thread does (a thread that
    /// ended would let go of what its transaction holds anyway), and returns what the flow threw.
    /// </summary>
    private static Exception? RunFlowOnThreadOfItsOwn(Func<Task> flow)
    {
        Task? started = null;
        using var done = new ManualResetEventSlim();
        var beginner = new Thread(() =>
        {
            started = flow(); // runs to the await on this thread
            done.Wait(); // alive, its transaction still open, until the test has looked
        }) { IsBackground = true };
        beginner.Start();
        SpinWait.SpinUntil(() => Volatile.Read(ref started) is not null, Hang);
        try
        {
            Assert.True(started!.Wait(Hang) || started.IsFaulted, "the code after the await hangs");
        }
        catch (AggregateException)
        {
            // faulted: the exception is read below
        }

        var error = started!.Exception?.InnerException;
        done.Set();
        beginner.Join();
        return error;
    }

    /// <summary>Another thread can look the index up and change it: nothing of the given-up transaction holds it up or shows.</summary>
    private static void AssertIndexUsableFromAnotherThread(PersistentPool pool, Member member, string committed)
    {
        var byName = pool.Index<Member, string>(nameof(Member.Name));
        var other = Task.Run(() =>
        {
            Assert.Equal(committed, byName.Range("a", "z").Single().Name);
            using var tx = pool.BeginTransaction();
            member.Name = "changed";
            tx.Commit();
        });
        Assert.True(other.Wait(Hang), "another thread waits for the given-up transaction");
        Assert.Equal(member.Offset, byName.Find("changed").Single().Offset);
        SortedDictionaryTests.AssertSound(pool);
    }
}
