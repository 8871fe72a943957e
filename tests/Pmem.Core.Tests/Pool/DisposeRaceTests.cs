using Pmem.Memory;
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
        Assert.Throws<ObjectDisposedException>(() => pool.New<Account>());
        Assert.Throws<ObjectDisposedException>(() => pool.BeginTransaction());
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
}
