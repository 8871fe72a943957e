using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>Pools in real files: lifecycle, the lock, growth and every bad input.</summary>
/// <remarks>
/// Shares a collection (so never runs at the same time) with the other tests that take file locks or start
/// processes: between fork and exec a child briefly holds copies of every file descriptor (even close-on-exec ones),
/// and with them the pool's flock, so a reopen at that moment would be refused.
/// </remarks>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)]
public sealed class PoolFileTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-pool-");

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory.FullName, name);

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void A_pool_file_keeps_its_objects_across_a_reopen(DurabilityMode mode)
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, "files", 8 << 20, new PoolCreateOptions { Durability = mode }))
        {
            pool.Root<Account>().Owner = "persisted";
            pool.Root<Account>().Amount = 9.75m;
        }

        using var reopened = PersistentPool.Open(path, "files");
        Assert.Equal(("persisted", 9.75m, mode), (reopened.Root<Account>().Owner, reopened.Root<Account>().Amount, reopened.Durability));
    }

    [Fact]
    public void A_reference_to_an_object_of_an_earlier_open_of_the_file_says_so()
    {
        // An outside tester's case: the message named the object's pool file, the very file being written.
        var path = PoolPath();
        Account kept;
        using (var first = PersistentPool.Create(path, "files", 4 << 20))
        {
            kept = first.Root<Ledger>().First = first.New<Account>();
        }

        using var second = PersistentPool.Open(path, "files");
        var error = Assert.Throws<ArgumentException>(() => second.Root<Ledger>().Second = kept);
        Assert.Contains("the object comes from another open of this file, closed since: read it again through this one", error.Message);
        Assert.Equal(kept.Offset, second.Root<Ledger>().First!.Offset);

        // Delete said "belongs to another pool" and named the same file (an outside tester's case).
        var refused = Assert.Throws<ArgumentException>(() => second.Delete(kept));
        Assert.Contains("the object comes from another open of this file, closed since: read it again through this one to delete it", refused.Message);
        Assert.NotNull(second.Root<Ledger>().First);
    }

    [Fact]
    public void A_second_opener_is_refused_while_the_pool_is_open()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "files", 8 << 20);
        var error = Assert.Throws<PoolLockedException>(() => PersistentPool.Open(path, "files"));
        Assert.Equal(path, error.PoolPath);
    }

    [Fact]
    public void Closing_releases_the_lock()
    {
        var path = PoolPath();
        PersistentPool.Create(path, "files", 8 << 20).Dispose();
        PersistentPool.Open(path, "files").Dispose();
        PersistentPool.Open(path, "files").Dispose();
    }

    [Fact]
    public void Creating_over_an_existing_file_is_refused_and_leaves_it_unchanged()
    {
        var path = PoolPath();
        File.WriteAllText(path, "precious");
        Assert.Throws<PmemFileExistsException>(() => PersistentPool.Create(path, "files", 8 << 20));
        Assert.Equal("precious", File.ReadAllText(path));
    }

    [Fact]
    public void Opening_a_missing_file_throws_file_not_found() =>
        Assert.Throws<PmemFileNotFoundException>(() => PersistentPool.Open(PoolPath("missing.pool"), "files"));

    [Fact]
    public void A_failed_create_leaves_no_file() 
    {
        var path = PoolPath();
        Assert.Throws<ArgumentException>(() => PersistentPool.Create(path, new string('x', 400), 8 << 20));
        Assert.False(File.Exists(path));
        Assert.Throws<ArgumentOutOfRangeException>(() => PersistentPool.Create(path, "files", 4096));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Opening_a_small_file_that_is_not_a_pool_is_refused_and_leaves_it_unchanged()
    {
        var path = PoolPath();
        File.WriteAllText(path, "not a pool");
        Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, "files"));
        Assert.Equal("not a pool", File.ReadAllText(path));
    }

    [Fact]
    public void Opening_a_large_file_that_is_not_a_pool_is_refused_and_leaves_it_unchanged()
    {
        var path = PoolPath();
        var bytes = new byte[1 << 20];
        new Random(5).NextBytes(bytes);
        TestFiles.WriteAllBytes(path, bytes);
        Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, "files"));
        Assert.Equal(bytes, TestFiles.ReadAllBytes(path));
        PersistentPool.Create(PoolPath("other.pool"), "files", 8 << 20).Dispose(); // the failed open released everything
    }

    [Fact]
    public void A_wrong_layout_name_is_refused_and_the_file_stays_usable()
    {
        var path = PoolPath();
        PersistentPool.Create(path, "files", 8 << 20).Dispose();
        var before = TestFiles.ReadAllBytes(path);
        Assert.Throws<PoolLayoutMismatchException>(() => PersistentPool.Open(path, "other"));
        Assert.Equal(before, TestFiles.ReadAllBytes(path));
        PersistentPool.Open(path, "files").Dispose();
    }

    [Fact]
    public void A_truncated_pool_file_is_refused()
    {
        var path = PoolPath();
        PersistentPool.Create(path, "files", 8 << 20).Dispose();
        using (var stream = File.OpenWrite(path))
        {
            stream.SetLength(6 << 20);
        }

        var error = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, "files"));
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void A_pool_file_grows_in_place_and_reopens_at_its_new_size()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, "files", 4 << 20, new PoolCreateOptions { MaxSize = 64 << 20 }))
        {
            pool.Root<Account>().Owner = new string('z', 5 << 20); // 10 MiB of UTF-16: forces growth
            Assert.True(pool.Size > 10 << 20);
        }

        Assert.True(new FileInfo(path).Length > 10 << 20);
        using var reopened = PersistentPool.Open(path, "files");
        Assert.Equal(5 << 20, reopened.Root<Account>().Owner!.Length);
    }

    [Fact]
    public void A_pool_grows_on_later_opens_up_to_the_limit_its_creation_recorded()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, "files", 4 << 20, new PoolCreateOptions { MaxSize = 32 << 20 }))
        {
            Assert.Equal(32L << 20, pool.Inspect().GrowthLimit);
        }

        // No limit given: the recorded one holds, and reserves room for the growth.
        using (var pool = PersistentPool.Open(path, "files"))
        {
            pool.Root<Account>().Owner = new string('z', 5 << 20); // 10 MiB of UTF-16
            Assert.InRange(pool.Size, 10L << 20, 32L << 20);
            Assert.Throws<PoolOutOfSpaceException>(() => pool.Root<Account>().Owner = new string('y', 12 << 20)); // 24 MiB more
            Assert.Equal(5 << 20, pool.Root<Account>().Owner!.Length);
        }

        // An open's own limit wins for that open; a negative one means no growth at all.
        using (var pool = PersistentPool.Open(path, "files", new PoolOpenOptions { MaxSize = 64 << 20 }))
        {
            pool.Root<Account>().Owner = new string('y', 12 << 20);
            Assert.True(pool.Size > 32L << 20);
            Assert.Equal(32L << 20, pool.Inspect().GrowthLimit); // recorded once, at creation
        }

        using (var pool = PersistentPool.Open(path, "files", new PoolOpenOptions { MaxSize = -1 }))
        {
            var size = pool.Size;
            Assert.Throws<PoolOutOfSpaceException>(() => pool.Root<Account>().Owner = new string('x', (int)(size / 2)));
            Assert.Equal(size, pool.Size);
        }
    }

    [Fact]
    public void Growing_past_what_the_open_reserved_is_not_supported_and_names_the_pool()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, "files", 4 << 20);
        var size = pool.Size;
        var error = Assert.Throws<NotSupportedException>(() => pool.Grow(32 << 20)); // was a bare ArgumentOutOfRangeException of the mapping
        Assert.Contains(path, error.Message);
        Assert.Contains("PoolOpenOptions.MaxSize", error.Message);
        Assert.Equal(size, pool.Size);
        pool.Root<Account>().Owner = "still usable";
    }

    [Fact]
    public void Pools_whose_growth_limits_the_address_space_cannot_hold_together_still_open()
    {
        // Each open reserves its pool's growth limit; four of 2^45 bytes fill a process's 2^47 (an outside
        // fuzzer's second open of a 2^46 limit failed with ENOMEM). Those that find no room map their file alone and
        // cannot grow in this open.
        var pools = new List<PersistentPool>();
        try
        {
            PersistentPool? fixedSize = null;
            for (var i = 0; i < 8 && fixedSize is null; i++)
            {
                var pool = PersistentPool.Create(PoolPath($"big{i}.pool"), "files", 4 << 20, new PoolCreateOptions { MaxSize = PoolLayout.MaxGrowthLimit / 2 });
                pools.Add(pool);
                pool.Root<Account>().Owner = "open";
                fixedSize = CanGrow(pool) ? null : pool;
            }

            Assert.SkipWhen(fixedSize is null, "the address space holds eight reservations of 2^45 bytes (5-level paging)");
            var full = Assert.Throws<PoolOutOfSpaceException>(() => fixedSize!.Root<Account>().Owner = new string('z', 4 << 20));
            Assert.Contains("could reserve only", full.Message); // not "raise its maximum size", which would make it worse
            Assert.Contains("smaller PoolOpenOptions.MaxSize", full.Message);
            Assert.All(pools, pool => Assert.Equal("open", pool.Root<Account>().Owner));
        }
        finally
        {
            pools.ForEach(pool => pool.Dispose());
        }
    }

    private static bool CanGrow(PersistentPool pool)
    {
        try
        {
            pool.Grow(pool.Size + (8 << 20));
            return true;
        }
        catch (NotSupportedException)
        {
            return false;
        }
    }

    [Fact]
    public void Two_threads_creating_one_pool_at_once_make_one_pool_and_the_other_is_told_it_exists()
    {
        // Each builds its pool under a hidden name and renames it into place without replacing anything, and each
        // first deletes hidden files a killed create left: the other's, if it has not locked it yet.
        for (var round = 0; round < 30; round++)
        {
            var path = PoolPath($"race{round}.pool");
            using var start = new Barrier(2);
            var outcomes = new Exception?[2];
            var pools = new PersistentPool?[2];
            var creators = Enumerable.Range(0, 2).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                try
                {
                    pools[i] = PersistentPool.Create(path, "files", 4 << 20);
                }
                catch (Exception e)
                {
                    outcomes[i] = e;
                }
            })).ToList();
            creators.ForEach(creator => creator.Start());
            creators.ForEach(creator => creator.Join());

            Assert.Single(pools, pool => pool is not null);
            Assert.IsType<PmemFileExistsException>(Assert.Single(outcomes, outcome => outcome is not null));
            pools.Single(pool => pool is not null)!.Root<Account>().Owner = "won";
            pools.Single(pool => pool is not null)!.Dispose();
        }

        Assert.All(_directory.GetFiles(), file => Assert.StartsWith("race", file.Name)); // no hidden file left behind
        Assert.Equal(30, _directory.GetFiles().Length);
    }

    [Fact]
    public void Missing_directories_and_existing_files_are_named_without_the_mapping_apis_advice()
    {
        var missing = Path.Combine(_directory.FullName, "no-such-directory", "a.pool");
        var notFound = Assert.Throws<PmemFileNotFoundException>(() => PersistentPool.Create(missing, "files", 4 << 20));
        Assert.StartsWith($"'{missing}' cannot be created: its directory does not exist (errno 2", notFound.Message);

        var existing = PoolPath();
        PersistentPool.Create(existing, "files", 4 << 20).Dispose();
        Assert.DoesNotContain("MapFlags", Assert.Throws<PmemFileExistsException>(() => PersistentPool.Create(existing, "files", 4 << 20)).Message);
        Assert.DoesNotContain("MapFlags", Assert.Throws<PmemFileNotFoundException>(() => PersistentPool.Open(PoolPath("none.pool"), "files")).Message);
    }

    [Fact]
    public void A_pool_created_without_a_limit_still_never_grows_by_itself()
    {
        var path = PoolPath();
        PersistentPool.Create(path, "files", 4 << 20).Dispose();
        using var pool = PersistentPool.Open(path, "files");
        Assert.Equal(0, pool.Inspect().GrowthLimit);
        Assert.Throws<PoolOutOfSpaceException>(() => pool.Root<Account>().Owner = new string('z', 3 << 20));
        Assert.Equal(4L << 20, new FileInfo(path).Length);
    }

    [Fact]
    public void A_growth_limit_below_the_pool_size_is_refused_at_creation_and_means_no_growth_at_an_open()
    {
        var path = PoolPath();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => PersistentPool.Create(path, "files", 8 << 20, new PoolCreateOptions { MaxSize = 4 << 20 }));
        Assert.Contains("below the pool's size of 8388608 bytes", error.Message);
        Assert.False(File.Exists(path));

        PersistentPool.Create(path, "files", 4 << 20, new PoolCreateOptions { MaxSize = 4 << 20 }).Dispose(); // equal: allowed, grows never
        using var pool = PersistentPool.Open(path, "files", new PoolOpenOptions { MaxSize = 1 << 20 });
        Assert.Throws<PoolOutOfSpaceException>(() => pool.Root<Account>().Owner = new string('z', 3 << 20));
        Assert.Equal(4L << 20, new FileInfo(path).Length);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(1L << 50)]
    public void An_impossible_recorded_growth_limit_is_refused_and_the_file_left_unchanged(long damaged)
    {
        var path = PoolPath();
        PersistentPool.Create(path, "files", 4 << 20, new PoolCreateOptions { MaxSize = 16 << 20 }).Dispose();
        var bytes = TestFiles.ReadAllBytes(path);
        BitConverter.GetBytes(damaged).CopyTo(bytes, PoolLayout.GrowthLimitOffset);
        TestFiles.WriteAllBytes(path, bytes);

        var error = Assert.Throws<PoolCorruptedException>(() => PersistentPool.Open(path, "files"));
        Assert.Contains($"growth limit (offset {PoolLayout.GrowthLimitOffset}) holds the impossible value {damaged}", error.Message);
        Assert.Equal(bytes, TestFiles.ReadAllBytes(path));
        Assert.Throws<ArgumentOutOfRangeException>(() => PersistentPool.Create(PoolPath("other.pool"), "files", 4 << 20, new PoolCreateOptions { MaxSize = damaged }));
        if (damaged > 0)
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => PersistentPool.Open(path, "files", new PoolOpenOptions { MaxSize = damaged }));
        }

        Assert.False(File.Exists(PoolPath("other.pool")));
    }
}
