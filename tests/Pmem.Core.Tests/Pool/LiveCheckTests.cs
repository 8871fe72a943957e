// LiveCheckTests -- Check() on a pool other threads are writing: it holds their writes while it walks, so it reports only real problems.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Indexes;

namespace Pmem.Tests.Pool;

/// <summary>
/// A service checks its pool while it serves: threads create, change, index and delete objects (in transactions and
/// outside them) while <see cref="PersistentPool.Check"/> runs again and again. Each report must be clean: a check that
/// read half a change would report a dangling reference, a string or collection nothing owns, or an index entry
/// without its object; one that walked a collection changed under it would throw.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class LiveCheckTests : IDisposable
{
    private readonly string _directory = TestFiles.NewScratchDirectory("pmem-live-check");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Checks_while_threads_write_report_only_a_clean_pool()
    {
        using var pool = PersistentPool.Create(Path.Combine(_directory, "live.pool"), "tests", 64 << 20);
        const int Writers = 2;
        var clubs = new Club[Writers];
        for (var w = 0; w < Writers; w++)
        {
            clubs[w] = pool.New<Club>(); // detached: All<Club>() finds it
        }

        // A transaction left open on a thread that stays alive, holding a new object nothing has committed.
        using var idleHolds = new ManualResetEventSlim();
        using var idleEnds = new ManualResetEventSlim();
        var idle = new Thread(() =>
        {
            using var tx = pool.BeginTransaction();
            pool.New<Club>(); // (no indexed property: the index lock would hold the writers up)
            idleHolds.Set();
            idleEnds.Wait();
        });
        idle.Start();
        idleHolds.Wait();

        using var stop = new CancellationTokenSource();
        var failures = new Exception?[Writers];
        var rounds = new int[Writers];
        var writers = Enumerable.Range(0, Writers).Select(w => new Thread(() =>
        {
            try
            {
                rounds[w] = Write(pool, clubs[w], w, stop.Token);
            }
            catch (Exception e)
            {
                failures[w] = e;
            }
        })).ToArray();
        foreach (var writer in writers)
        {
            writer.Start();
        }

        var checks = 0;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        try
        {
            while (DateTime.UtcNow < until || checks < 10)
            {
                var report = pool.Check();
                Assert.True(report.IsClean, $"check {checks}: {report}");
                checks++;
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var writer in writers)
            {
                writer.Join();
            }

            idleEnds.Set();
            idle.Join();
        }

        Assert.All(failures, failure => Assert.Null(failure));
        Assert.All(rounds, done => Assert.True(done >= 20, $"a writer made only {done} rounds beside {checks} checks")); // held back, never stopped
        Assert.True(pool.Check().IsClean);
        Assert.All(clubs, club => Assert.NotEmpty(club.Members));
    }

    [Fact]
    public void Checks_while_a_thread_records_new_types_see_each_schema_record_with_its_entry()
    {
        // A type's first use commits its schema record's block, then reads the type table again: a check between the
        // two saw an allocated schema block no entry owns (CI, once, on 2 cores).
        using var pool = PersistentPool.Create(Path.Combine(_directory, "types.pool"), "tests", 16 << 20);
        const int Types = 200;
        var recorded = 0;
        CheckUntilDone(pool, () =>
        {
            for (var i = 0; i < Types; i++)
            {
                pool.TypeIndex(new PersistentTypeInfo($"Tests.Live.Kind{i}", 64, 0xC0DE00UL + (ulong)i, 1, [new PersistentPropertyInfo("Value", "long", 0, 8)]));
                Volatile.Write(ref recorded, i + 1);
            }
        }, () => $"{Volatile.Read(ref recorded)} types recorded");
        Assert.Equal(Types, pool.StoredTypes.Count);
    }

    [Fact]
    public void Checks_while_a_thread_builds_indexes_over_existing_objects_report_only_a_clean_pool()
    {
        using var pool = PersistentPool.Create(Path.Combine(_directory, "build.pool"), "tests", 32 << 20);
        const int Members = 10_000;
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < Members; i++)
            {
                var member = pool.New<MemberUnindexed>();
                (member.Number, member.Name) = (i, $"name {i % 50}");
                pool.Root<PlainClub>().Members.Add(member);
            }

            tx.Commit();
        }

        // The first use of the class that declares them builds its indexes, a batch of objects per commit.
        CheckUntilDone(pool, () => Assert.Equal(Members, pool.Index<Member, long>(nameof(Member.Number)).Count), () => "building");
    }

    /// <summary>Runs <paramref name="work"/> on a thread of its own and checks the pool until it ends: every report clean, then the work's own exception, if any.</summary>
    private static void CheckUntilDone(PersistentPool pool, Action work, Func<string> progress)
    {
        Exception? failure = null;
        var worker = new Thread(() =>
        {
            try
            {
                work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        worker.Start();
        for (var checks = 0; worker.IsAlive; checks++)
        {
            var report = pool.Check();
            Assert.True(report.IsClean, $"check {checks} ({progress()}): {report}");
        }

        worker.Join();
        Assert.Null(failure);
        Assert.True(pool.Check().IsClean);
    }

    /// <summary>One writer's work on its own club: members made, renamed (a string and an index entry each time), scored outside transactions and deleted.</summary>
    private static int Write(PersistentPool pool, Club club, int writer, CancellationToken stop)
    {
        var number = writer * 1_000_000L;
        var round = 0;
        for (; !stop.IsCancellationRequested; round++)
        {
            using (var tx = pool.BeginTransaction())
            {
                var member = pool.New<Member>();
                member.Number = number++;
                member.Name = $"member {writer}.{round}";
                club.Members.Add(member);
                tx.Commit();
            }

            var some = club.Members[round % club.Members.Count]!;
            some.Score = round; // outside a transaction: one durable word
            some.Name = $"renamed {writer}.{round}"; // outside a transaction: its own, with the index
            if (club.Members.Count > 20)
            {
                using var tx = pool.BeginTransaction();
                var gone = club.Members[0]!;
                club.Members.RemoveAt(0);
                pool.Delete(gone);
                tx.Commit();
            }
        }

        return round;
    }
}
