using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tests.Memory;

/// <summary>
/// A pool this process closed can stay locked for a moment by a child another thread is starting (it holds every
/// descriptor from fork to exec): an opener waits for such a lock, briefly, and for no other.
/// </summary>
[Collection(MappingRegistryCollection.Name)]
public sealed class ForkedLockTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-forked-lock-");

    private string PoolPath => Path.Combine(_directory.FullName, "test.pool");

    public void Dispose() => _directory.Delete(recursive: true);

    [Fact]
    public async Task An_open_waits_for_a_lock_of_this_process_that_no_pool_holds()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        PersistentPool.Create(PoolPath, "forked", 8 << 20).Dispose();

        // A lock this process holds through a descriptor no pool owns: what a forked child's copy looks like.
        var fd = LibC.Open(PoolPath, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        Assert.True(fd >= 0);
        Assert.Equal(0, LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB));
        var release = Task.Run(async () =>
        {
            await Task.Delay(100);
            LibC.Close(fd); // the child execs: its copy closes and the lock goes
        });

        using (var pool = PersistentPool.Open(PoolPath, "forked"))
        {
            Assert.False(pool.IsReadOnly);
        }

        await release;
    }

    [Fact]
    public void An_open_does_not_wait_for_a_pool_this_process_holds_open()
    {
        using var pool = PersistentPool.Create(PoolPath, "forked", 8 << 20);
        var started = DateTime.UtcNow;
        Assert.Throws<PoolLockedException>(() => PersistentPool.Open(PoolPath, "forked"));
        Assert.Throws<PoolLockedException>(() => PersistentPool.OpenReadOnly(PoolPath, "forked"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1.5), "a lock a live pool holds must refuse without the wait");
    }

    [Fact]
    public void A_lock_that_never_goes_refuses_after_the_wait()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        PersistentPool.Create(PoolPath, "forked", 8 << 20).Dispose();
        var fd = LibC.Open(PoolPath, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        try
        {
            Assert.Equal(0, LibC.Flock(fd, LibC.LOCK_EX | LibC.LOCK_NB));
            var error = Assert.Throws<PoolLockedException>(() => PersistentPool.Open(PoolPath, "forked"));
            Assert.Contains("this process", error.Message);
        }
        finally
        {
            LibC.Close(fd);
        }
    }
}
