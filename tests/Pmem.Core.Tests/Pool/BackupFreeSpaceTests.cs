// pool.Backup leaves free chunks out: most of what was freed is not copied, and chunks taken or freed during a backup copy right.
using System.Text;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// A backup copies what the heap holds, not the free chunks between (their bodies stay the zeroes the new file was
/// allocated with, but for the 256 KiB pieces at their edges): most of what was deleted before the backup does not
/// reach it, and a thread that takes whole chunks for large strings and frees them again while backups run never
/// leaves a copy with a torn or zeroed string.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class BackupFreeSpaceTests : IDisposable
{
    private const int LargeString = 600_000; // about three chunks: a large block of its own
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-backup-free-");

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory.FullName, name);

    public void Dispose() => _directory.Delete(recursive: true);

    private static string Large(int id) => $"large {id}:" + new string((char)('a' + (id % 26)), LargeString);

    [Fact]
    public void A_backup_leaves_out_what_was_freed_before_it()
    {
        const string Freed = "FREED-BEFORE-THE-BACKUP/";
        var path = PoolPath();
        PoolBackupResult result;
        using (var pool = PersistentPool.Create(path, "backup", 32 << 20))
        {
            var registry = pool.Root<Registry>();
            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < 6; i++)
                {
                    var account = pool.New<Account>();
                    account.Owner = string.Concat(Enumerable.Repeat(Freed, LargeString / Freed.Length));
                    registry.Accounts.Add(account);
                }

                tx.Commit();
            }

            using (var tx = pool.BeginTransaction())
            {
                foreach (var account in registry.Accounts.ToArray())
                {
                    pool.Delete(account!);
                }

                registry.Accounts.Clear();
                tx.Commit();
            }

            for (var i = 0; i < 20; i++)
            {
                var account = pool.New<Account>();
                (account.Owner, account.Balance) = ($"kept {i}", i);
                registry.Accounts.Add(account);
            }

            result = pool.Backup(PoolPath("copy.pool"));
        }

        // The pieces at a free span's edges are copied whole (they hold live bytes too); the rest of it is left out.
        var marker = Encoding.Unicode.GetBytes(Freed); // strings are stored as UTF-16
        var (inPool, inBackup) = (Occurrences(TestFiles.ReadAllBytes(path), marker), Occurrences(TestFiles.ReadAllBytes(result.Destination), marker));
        Assert.True(inPool >= 6 * (LargeString / Freed.Length) * 9 / 10, $"the pool should still hold the freed strings' bytes ({inPool})");
        Assert.True(inBackup < inPool / 4, $"the backup holds {inBackup} of the {inPool} pieces of freed strings the pool holds");
        Assert.Equal(new FileInfo(path).Length, new FileInfo(result.Destination).Length);
        Assert.True(AllocatedBytes(result.Destination) < new FileInfo(path).Length / 2, "the backup should be sparse where the pool was free");

        // Reading it leaves it as it is; opening it to write gives its holes blocks first (a full disk fails then, not
        // as SIGBUS at a store).
        using (var readOnly = PersistentPool.OpenReadOnly(result.Destination, "backup"))
        {
            Assert.Equal(20, readOnly.Root<Registry>().Accounts.Count);
        }

        Assert.True(AllocatedBytes(result.Destination) < new FileInfo(path).Length / 2);
        using var copy = PersistentPool.Open(result.Destination, "backup");
        Assert.True(AllocatedBytes(result.Destination) >= new FileInfo(path).Length, "a writable open should allocate the holes");
        Assert.Equal(Enumerable.Range(0, 20).Select(i => ($"kept {i}", (long)i)), copy.Root<Registry>().Accounts.Select(a => (a!.Owner!, a.Balance)));
        var report = copy.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void A_sparse_file_that_is_no_pool_gets_no_blocks_from_an_open()
    {
        var path = PoolPath("foreign.img");
        using (var file = File.Create(path))
        {
            file.SetLength(64 << 20);
        }

        Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, "backup"));
        Assert.True(AllocatedBytes(path) < 1 << 20, "opening a foreign file must not allocate it");
    }

    private static long AllocatedBytes(string path)
    {
        Assert.Equal(0, Pmem.Memory.LibC.FileStatus(path, out var info));
        return info.Blocks * 512;
    }

    private static int Occurrences(ReadOnlySpan<byte> bytes, ReadOnlySpan<byte> marker)
    {
        var count = 0;
        for (int at; (at = bytes.IndexOf(marker)) >= 0; bytes = bytes[(at + marker.Length)..])
        {
            count++;
        }

        return count;
    }

    [Fact]
    public void Backups_while_a_thread_takes_and_frees_whole_chunks_hold_every_string_whole()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "backup", 16 << 20, new PoolCreateOptions { MaxSize = 64 << 20 });
        var registry = pool.Root<Registry>();
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        var created = 0;
        var writer = new Thread(() =>
        {
            try
            {
                for (var id = 0; !stop.IsCancellationRequested; id++)
                {
                    using var tx = pool.BeginTransaction();
                    var account = pool.New<Account>();
                    (account.Owner, account.Balance) = (Large(id), id);
                    registry.Accounts.Add(account);
                    if (registry.Accounts.Count > 4)
                    {
                        var oldest = registry.Accounts[0]!;
                        registry.Accounts.RemoveAt(0);
                        pool.Delete(oldest);
                    }

                    tx.Commit();
                    Volatile.Write(ref created, id + 1);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        writer.Start();
        try
        {
            for (var b = 0; b < 24; b++)
            {
                while (Volatile.Read(ref created) < b + 2 && failure is null)
                {
                    Thread.Sleep(1);
                }

                var result = pool.Backup(PoolPath($"copy{b}.pool"));
                using var copy = PersistentPool.Open(result.Destination, "backup");
                var accounts = copy.Root<Registry>().Accounts.ToArray();
                Assert.NotEmpty(accounts);
                Assert.All(accounts, account => Assert.Equal(Large((int)account!.Balance), account.Owner));
                var report = copy.Check();
                Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
                Assert.Empty(report.Unreachable);
                Assert.Equal(0, report.DetachedObjects);
            }
        }
        finally
        {
            stop.Cancel();
            writer.Join();
        }

        Assert.Null(failure);
    }
}
