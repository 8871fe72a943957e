using System.Globalization;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Pool;
using Pmem.Tests.Crash;

namespace Pmem.Tests.Pool;

/// <summary>
/// A pool disposed while its objects are still used: on the same thread later, or on other threads at that very
/// moment. Every such use throws <see cref="ObjectDisposedException"/> naming the pool file, and none ends the process
/// (the racing threads run in a child process, so that a fault fails this test instead of ending the test run).
/// </summary>
public sealed class DisposeRaceTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-dispose-");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public void Objects_of_a_disposed_pool_throw_ObjectDisposedException_naming_the_pool()
    {
        var path = Path.Combine(_directory.FullName, "closed.pool");
        var pool = PersistentPool.Create(path, "closed", 8 << 20);
        var account = pool.New<Account>();
        pool.Dispose();

        var read = Assert.Throws<ObjectDisposedException>(() => account.Balance);
        Assert.Equal(path, read.ObjectName);
        Assert.Throws<ObjectDisposedException>(() => account.Balance = 5);
        // The pool's own calls name the file too (an outside tester found the class name there).
        Assert.Equal(path, Assert.Throws<ObjectDisposedException>(() => pool.New<Account>()).ObjectName);
        Assert.Equal(path, Assert.Throws<ObjectDisposedException>(() => pool.BeginTransaction()).ObjectName);
        Assert.Equal(path, Assert.Throws<ObjectDisposedException>(() => pool.Batch()).ObjectName);
        Assert.Equal(path, Assert.Throws<ObjectDisposedException>(() => pool.Check()).ObjectName);
        Assert.Equal(path, Assert.Throws<ObjectDisposedException>(() => pool.Root<Account>()).ObjectName);
    }

    [Fact]
    public void A_write_in_a_transaction_that_outlived_its_pool_throws_ObjectDisposedException()
    {
        // An outside tester's write vanished without an exception: it went into the transaction, which can never commit.
        var path = Path.Combine(_directory.FullName, "outlived.pool");
        var pool = PersistentPool.Create(path, "outlived", 8 << 20);
        var account = pool.New<Account>();
        var tx = pool.BeginTransaction();
        pool.Dispose();

        Assert.Equal(path, Assert.Throws<ObjectDisposedException>(() => account.Balance = 7).ObjectName);
        tx.Dispose();
    }

    [Fact]
    public void Two_threads_disposing_a_pool_at_once_close_it_once_without_an_exception()
    {
        for (var round = 0; round < 50; round++)
        {
            var path = Path.Combine(_directory.FullName, $"twice{round}.pool");
            var pool = PersistentPool.Create(path, "twice", 8 << 20);
            pool.New<Account>().Balance = round;
            using var start = new Barrier(2);
            var errors = new List<Exception>();
            var closers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                try
                {
                    pool.Dispose();
                }
                catch (Exception e)
                {
                    lock (errors)
                    {
                        errors.Add(e);
                    }
                }
            })).ToList();
            closers.ForEach(closer => closer.Start());
            closers.ForEach(closer => closer.Join());
            Assert.Empty(errors);
            using var reopened = PersistentPool.Open(path, "twice"); // closed cleanly: the lock is free
            Assert.True(reopened.Check().IsConsistent);
        }
    }

    [Theory]
    [InlineData(DurabilityMode.ProcessCrash)]
    [InlineData(DurabilityMode.PowerFailure)]
    public void Disposing_a_pool_while_eight_threads_use_it_ends_each_with_ObjectDisposedException(DurabilityMode mode)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var (exitCode, output, error) = CrashChildRun.Run(TimeSpan.FromMinutes(3), "--dispose-race", _directory.FullName, mode.ToString(), "30");
        Assert.True(exitCode == 0, $"exit code {exitCode}: {output} {error}");
        Assert.Equal("ok 30", output.Trim());
    }

    /// <summary>
    /// Eight threads read everything of a pool (fields, strings, references, the list, a dictionary, a sorted
    /// dictionary and a range of it, an index, <c>All</c>) and each writes its own record (a set, a transaction, a batch)
    /// while the pool is disposed (<c>Pmem.CrashChild --dispose-values</c>): no read returns a value that was never
    /// stored, only the stored value or <see cref="ObjectDisposedException"/>, and the reopened pool holds every write
    /// that returned. A round takes about 0.1 s with process-crash durability and 0.1-0.2 s with power-failure
    /// durability (an msync per write) on 2 cores, so each mode runs 7-15 s; ten times the rounds with
    /// <c>PMEM_CRASH_CAMPAIGN=long</c>.
    /// </summary>
    [Theory]
    [InlineData(DurabilityMode.ProcessCrash, 120)]
    [InlineData(DurabilityMode.PowerFailure, 70)]
    public void Reads_racing_Dispose_see_stored_values_only_and_writes_that_returned_survive_it(DurabilityMode mode, int rounds)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var isLong = Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable) == "long";
        rounds *= isLong ? 10 : 1;
        var (exitCode, output, error) = CrashChildRun.Run(TimeSpan.FromMinutes(isLong ? 30 : 3), "--dispose-values", _directory.FullName, mode.ToString(), rounds.ToString(CultureInfo.InvariantCulture));
        TestContext.Current.TestOutputHelper?.WriteLine(error.Trim());
        Assert.True(exitCode == 0, $"exit code {exitCode}: {output} {error}");
        Assert.Equal($"ok {rounds}", output.Trim());
    }
}
