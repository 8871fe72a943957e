// A sparse pool file on a full tmpfs: a read-only open must fail with an exception, not end the process with SIGBUS.
using System.Diagnostics;
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>
/// tmpfs needs a page of memory to read a hole of a file; when it is full, a read of a mapped hole raises SIGBUS, which
/// .NET turns into a fatal AccessViolationException (an outside tester's <c>pmem check</c> of a copy made with
/// <c>cp --sparse</c> aborted so). Needs root, to mount a small tmpfs; skipped otherwise.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks and child processes (see PoolFileTests)
public sealed class SparsePoolTests
{
    private static int Run(string command, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        process.WaitForExit();
        return process.ExitCode;
    }

    [Fact]
    public void A_read_only_open_of_a_sparse_pool_on_a_full_tmpfs_throws_instead_of_crashing()
    {
        Assert.SkipWhen(!OperatingSystem.IsLinux() || Environment.UserName != "root", "mounting a small tmpfs needs root");
        var source = Directory.CreateTempSubdirectory("pmem-sparse-");
        var mount = Directory.CreateTempSubdirectory("pmem-sparse-mount-");
        Assert.SkipWhen(Run("mount", $"-t tmpfs -o size=12M tmpfs {mount.FullName}") != 0, "tmpfs cannot be mounted here");
        try
        {
            var original = Path.Combine(source.FullName, "a.pool");
            using (var pool = PersistentPool.Create(original, "sparse", 8 << 20))
            {
                pool.Root<Account>().Owner = "kept";
            }

            var copy = Path.Combine(mount.FullName, "a.pool");
            Assert.Equal(0, Run("cp", $"--sparse=always {original} {copy}"));
            var filler = Path.Combine(mount.FullName, "filler");
            using (var fill = new FileStream(filler, FileMode.CreateNew))
            {
                try
                {
                    while (true)
                    {
                        fill.Write(new byte[1 << 20]);
                        fill.Flush();
                    }
                }
                catch (IOException)
                {
                    // the tmpfs is full
                }
            }

            var error = Assert.Throws<PmemIOException>(() => PersistentPool.OpenReadOnly(copy, "sparse"));
            Assert.Contains("holes cannot be read", error.Message);

            File.Delete(filler);
            using var reopened = PersistentPool.OpenReadOnly(copy, "sparse");
            Assert.Equal("kept", reopened.Root<Account>().Owner);
        }
        finally
        {
            Run("umount", $"-l {mount.FullName}");
            mount.Delete(recursive: true);
            source.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_sparse_tail_a_crashed_growth_left_is_not_allocated_at_open_and_a_growth_into_it_on_a_full_disk_throws()
    {
        // An outside tester killed a program between a growth's ftruncate and its allocation: the file was 95.6 MiB for
        // a 3.8 MiB pool, and every later writable open tried to allocate all of it (failing on a nearly full disk).
        Assert.SkipWhen(!OperatingSystem.IsLinux() || Environment.UserName != "root", "mounting a small tmpfs needs root");
        var mount = Directory.CreateTempSubdirectory("pmem-tail-mount-");
        Assert.SkipWhen(Run("mount", $"-t tmpfs -o size=24M tmpfs {mount.FullName}") != 0, "tmpfs cannot be mounted here");
        try
        {
            var path = Path.Combine(mount.FullName, "a.pool");
            long size;
            using (var pool = PersistentPool.Create(path, "sparse", 8 << 20, new PoolCreateOptions { MaxSize = 512 << 20 }))
            {
                pool.Root<Account>().Owner = "kept";
                size = pool.Size;
            }

            using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
            {
                file.SetLength(256L << 20); // the crashed growth's ftruncate: a hole of 248 MiB, more than the disk has
            }

            using (var pool = PersistentPool.Open(path, "sparse"))
            {
                Assert.Equal("kept", pool.Root<Account>().Owner);
                Assert.Equal(size, pool.Size);
                var filler = Path.Combine(mount.FullName, "filler");
                using (var fill = new FileStream(filler, FileMode.CreateNew))
                {
                    try
                    {
                        while (true)
                        {
                            fill.Write(new byte[1 << 16]);
                            fill.Flush();
                        }
                    }
                    catch (IOException)
                    {
                        // the tmpfs is full
                    }
                }

                // A growth into the hole must find the full disk at its allocation, not as SIGBUS at its first store.
                var grown = Assert.ThrowsAny<IOException>(() => pool.Grow(64L << 20));
                Assert.Contains("posix_fallocate", grown.Message + grown.InnerException?.Message);
                Assert.Equal("kept", pool.Root<Account>().Owner);
                Assert.True(pool.Check().IsConsistent);
            }
        }
        finally
        {
            Run("umount", $"-l {mount.FullName}");
            mount.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_backup_onto_a_full_disk_names_its_destination_and_leaves_no_file()
    {
        Assert.SkipWhen(!OperatingSystem.IsLinux() || Environment.UserName != "root", "mounting a small tmpfs needs root");
        var source = Directory.CreateTempSubdirectory("pmem-backup-full-");
        var mount = Directory.CreateTempSubdirectory("pmem-backup-mount-");
        Assert.SkipWhen(Run("mount", $"-t tmpfs -o size=2M tmpfs {mount.FullName}") != 0, "tmpfs cannot be mounted here");
        try
        {
            using var pool = PersistentPool.Create(Path.Combine(source.FullName, "a.pool"), "sparse", 8 << 20);
            pool.Root<Account>().Owner = "kept";
            var destination = Path.Combine(mount.FullName, "copy.pool");

            var error = Assert.Throws<IOException>(() => pool.Backup(destination));

            Assert.StartsWith($"{destination}: the backup cannot be written: ", error.Message);
            Assert.DoesNotContain(".tmp", error.Message);
            Assert.Empty(Directory.GetFiles(mount.FullName));
            Assert.Equal("kept", pool.Root<Account>().Owner);
        }
        finally
        {
            Run("umount", $"-l {mount.FullName}");
            mount.Delete(recursive: true);
            source.Delete(recursive: true);
        }
    }
}
