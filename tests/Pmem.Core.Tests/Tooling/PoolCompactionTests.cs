using System.Text;
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tests.Objects;
using Pmem.Tests.Pool;
using Pmem.Tooling;
using Index = Pmem.Tests.Objects.Index;

namespace Pmem.Tests.Tooling;

/// <summary>Compaction: the graph is the same after, the file shrinks, and bad inputs are refused leaving the file alone.</summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class PoolCompactionTests : IDisposable
{
    private const string LayoutName = "compact";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-compact-");

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory.FullName, name);

    public void Dispose() => _directory.Delete(recursive: true);

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void A_registry_graph_is_the_same_after_compaction(DurabilityMode mode)
    {
        var path = PoolPath();
        Guid uuid;
        string before;
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20, new PoolCreateOptions { Durability = mode, MaxSize = 64 << 20 }))
        {
            uuid = pool.Uuid;
            FillRegistry(pool);
            before = DescribeRegistry(pool);
        }

        var result = PoolCompaction.Compact(path, LayoutName);

        using var compacted = PersistentPool.Open(path, LayoutName);
        Assert.Equal(before, DescribeRegistry(compacted));
        Assert.Equal((uuid, mode), (compacted.Uuid, compacted.Durability));
        var report = compacted.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Equal(result.Blocks, report.AllocatedObjects);
        Assert.True(result.SizeAfter < result.SizeBefore, $"{result.SizeAfter} >= {result.SizeBefore}");
        Assert.Equal(new FileInfo(path).Length, result.SizeAfter);
        Assert.False(File.Exists(PoolCompaction.TemporaryPath(path)));
    }

    [Fact]
    public void A_pool_named_through_a_symbolic_link_is_compacted_where_the_link_points()
    {
        // An outside tester's case: the link's own size was measured ("already compact: ... 11 B"), and a rename over
        // the link would have replaced the link rather than the pool.
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20, new PoolCreateOptions { MaxSize = 64 << 20 }))
        {
            FillRegistry(pool);
        }

        var link = PoolPath("link.pool");
        File.CreateSymbolicLink(link, path);
        var result = PoolCompaction.Compact(link, LayoutName);

        Assert.True(result.Replaced);
        Assert.True(result.SizeAfter < result.SizeBefore, $"{result.SizeAfter} >= {result.SizeBefore}");
        Assert.Equal(new FileInfo(path).Length, result.SizeAfter);
        Assert.Equal(path, File.ResolveLinkTarget(link, returnFinalTarget: true)?.FullName); // still a link to the pool
        Assert.False(File.Exists(PoolCompaction.TemporaryPath(link)));
        using var compacted = PersistentPool.Open(link, LayoutName);
        Assert.True(compacted.Check().IsConsistent);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure, 8u, 1, 2)]
    [InlineData(DurabilityMode.PowerFailure, 8u, 1, 4)]
    [InlineData(DurabilityMode.PowerFailure, 8u, 2, 6)]
    [InlineData(DurabilityMode.ProcessCrash, 8u, 1, 3)]
    [InlineData(DurabilityMode.PowerFailure, 7u, 1, 2)]
    [InlineData(DurabilityMode.PowerFailure, 7u, 1, 4)]
    [InlineData(DurabilityMode.PowerFailure, 7u, 1, 5)]
    [InlineData(DurabilityMode.PowerFailure, 7u, 3, 6)]
    [InlineData(DurabilityMode.ProcessCrash, 7u, 1, 3)]
    public void An_older_pool_compacts_to_its_format_or_from_8_to_the_current_one(DurabilityMode mode, uint version, int lanes, int fills)
    {
        // Its copy is built with twelve slots per lane, wherever the copy's commits left their newest logs (fills).
        var path = PoolPath();
        string before;
        using (var pool = PersistentPool.Create(path, LayoutName, 32 << 20, OlderFormat.Legacy(new PoolCreateOptions { Durability = mode, MaxSize = 64 << 20, LaneCount = lanes })))
        {
            for (var i = 0; i < fills; i++)
            {
                FillRegistry(pool);
            }

            before = DescribeRegistry(pool);
        }

        TestFiles.WriteAllBytes(path, OlderFormat.AsVersion(TestFiles.ReadAllBytes(path), version));
        var result = PoolCompaction.Compact(path, LayoutName);

        using (var compacted = PersistentPool.Open(path, LayoutName, new PoolOpenOptions { MaxSize = 64 << 20 }))
        {
            Assert.Equal(before, DescribeRegistry(compacted));
            Assert.Equal(version == PoolLayout.UpgradeVersion ? PoolLayout.FormatVersion : version, compacted.FormatVersion);
            Assert.Equal((version, compacted.FormatVersion), result.FormatVersions);
            FillRegistry(compacted); // commits into the lanes as the format lays them out
            before = DescribeRegistry(compacted);
        }

        using var reopened = PersistentPool.Open(path, LayoutName);
        Assert.Equal(before, DescribeRegistry(reopened));
        Assert.True(reopened.Check().IsConsistent);
    }

    [Fact]
    public void Large_sorted_trees_and_sets_are_the_same_after_compaction()
    {
        var path = PoolPath();
        string before;
        long detached;
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20, new PoolCreateOptions { MaxSize = 128 << 20 }))
        {
            var index = pool.Root<Index>();
            var accounts = new List<Account>();
            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < 200; i++)
                {
                    var account = pool.New<Account>();
                    account.Balance = i;
                    account.Owner = $"holder {i}";
                    accounts.Add(account);
                }

                tx.Commit();
            }

            for (var batch = 0; batch < 20; batch++)
            {
                using var tx = pool.BeginTransaction();
                for (var i = batch * 1000; i < (batch + 1) * 1000; i++)
                {
                    index.Numbers[i * 7 % 20011] = i;
                    if (i % 4 == 0)
                    {
                        index.Names[$"name {i:D6}"] = i % 3 == 0 ? null : $"value {i}";
                        index.Words.Add($"word {i % 997}");
                    }

                    if (i % 10 == 0)
                    {
                        index.ById[new Guid(i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)] = accounts[i % accounts.Count];
                        index.Tags.Add(i * 31L);
                    }
                }

                tx.Commit();
            }

            using (var tx = pool.BeginTransaction())
            {
                for (var i = 0; i < 20000; i += 3)
                {
                    index.Numbers.Remove(i * 7 % 20011); // merges and frees nodes: holes in the node runs
                }

                tx.Commit();
            }

            before = DescribeIndex(pool);
            var check = pool.Check();
            Assert.True(check.IsConsistent);
            detached = check.DetachedObjects; // the accounts no tree entry names
            Assert.True(check.IsClean && detached > 0);
        }

        PoolCompaction.Compact(path, LayoutName);

        using var compacted = PersistentPool.Open(path, LayoutName);
        Assert.Equal(before, DescribeIndex(compacted));
        var report = compacted.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors.Take(5)));
        Assert.True(report.IsClean);
        Assert.Equal(detached, report.DetachedObjects);
        compacted.Root<Index>().Numbers[-1] = -1; // the moved tree still takes inserts
        Assert.True(compacted.Check().IsConsistent);
    }

    [Fact]
    public void A_grown_pool_with_half_its_objects_deleted_shrinks_to_within_a_tenth_of_its_live_bytes()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20, new PoolCreateOptions { MaxSize = 1L << 30 }))
        {
            var registry = pool.Root<Registry>();
            for (var batch = 0; batch < 40; batch++)
            {
                using var tx = pool.BeginTransaction();
                for (var i = 0; i < 1000; i++)
                {
                    var account = pool.New<Account>();
                    account.Owner = new string('o', (batch * 1000 + i) % 200);
                    registry.Accounts.Add(account);
                }

                tx.Commit();
            }

            for (var batch = 0; batch < 40; batch++)
            {
                using var tx = pool.BeginTransaction();
                for (var i = registry.Accounts.Count - 1 - batch; i >= 0; i -= 80)
                {
                    var account = registry.Accounts[i]!;
                    registry.Accounts[i] = null;
                    pool.Delete(account); // every other object, spread over every run
                }

                tx.Commit();
            }
        }

        var grown = new FileInfo(path).Length;
        long live;
        using (var pool = PersistentPool.Open(path, LayoutName))
        {
            var statistics = pool.GetStatistics();
            live = statistics.PoolSize - statistics.HeapSize + statistics.AllocatedBytes;
        }

        var result = PoolCompaction.Compact(path, LayoutName);

        Assert.Equal(live, result.LiveBytes);
        Assert.True(result.SizeAfter <= live * 1.1, $"{grown} bytes compacted to {result.SizeAfter}, live {live}");
        Assert.True(result.SizeAfter < grown / 2 + live, $"{grown} -> {result.SizeAfter}");
        using var reopened = PersistentPool.Open(path, LayoutName);
        Assert.Equal(1L << 30, reopened.Inspect().GrowthLimit); // the source's, not the room the compaction gave itself
        Assert.Equal(20000, reopened.Root<Registry>().Accounts.Count(a => a is not null));
        Assert.True(reopened.Check().IsConsistent);
    }

    [Fact]
    public void A_compaction_that_would_not_shrink_the_file_leaves_it_as_it_was()
    {
        // An outside tester's pool with indexes came out larger than it went in (8 MiB -> 14 MiB, "-75% smaller").
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20))
        {
            var registry = pool.Root<Registry>();
            for (var i = 0; i < 2000; i++)
            {
                registry.Counters[i] = i;
            }
        }

        var first = PoolCompaction.Compact(path, LayoutName);
        Assert.True(first.Replaced);
        var bytes = TestFiles.ReadAllBytes(path);

        var second = PoolCompaction.Compact(path, LayoutName); // dense already: the copy is no smaller

        Assert.False(second.Replaced);
        Assert.Equal(second.SizeBefore, second.SizeAfter);
        Assert.Equal(bytes, TestFiles.ReadAllBytes(path));
        Assert.False(File.Exists(PoolCompaction.TemporaryPath(path)));
        using var reopened = PersistentPool.Open(path, LayoutName);
        Assert.Equal(1999, reopened.Root<Registry>().Counters[1999]);
    }

    [Fact]
    public void A_pool_open_elsewhere_is_refused_and_left_unchanged()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, LayoutName, 8 << 20);
        pool.Root<Account>().Owner = "busy";
        var length = new FileInfo(path).Length;

        Assert.Throws<PoolLockedException>(() => PoolCompaction.Compact(path, LayoutName));
        Assert.Equal(length, new FileInfo(path).Length);
        Assert.Equal("busy", pool.Root<Account>().Owner);
        Assert.False(File.Exists(PoolCompaction.TemporaryPath(path)));
    }

    [Fact]
    public void A_leftover_temporary_file_of_a_crashed_compaction_is_replaced()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20))
        {
            pool.Root<Account>().Owner = "kept";
        }

        TestFiles.WriteAllBytes(PoolCompaction.TemporaryPath(path), new byte[12345]);
        PoolCompaction.Compact(path, LayoutName);

        Assert.False(File.Exists(PoolCompaction.TemporaryPath(path)));
        using var reopened = PersistentPool.Open(path, LayoutName);
        Assert.Equal("kept", reopened.Root<Account>().Owner);
    }

    [Fact]
    public void A_dangling_reference_is_refused_and_the_file_left_byte_identical()
    {
        var path = PoolPath();
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20))
        {
            var ledger = pool.Root<Ledger>();
            ledger.First = pool.New<Account>();
            pool.Domain.WriteDurable(ledger.Offset + 8, ledger.First.Offset + 64 * 1000); // Second: into a free block
        }

        var bytes = TestFiles.ReadAllBytes(path);
        var error = Assert.Throws<PoolCorruptedException>(() => PoolCompaction.Compact(path, LayoutName));
        Assert.Contains("repair", error.Message);
        Assert.Equal(bytes, TestFiles.ReadAllBytes(path));
        Assert.False(File.Exists(PoolCompaction.TemporaryPath(path)));
    }

    [Fact]
    public void Foreign_and_missing_files_are_refused()
    {
        var path = PoolPath("foreign.bin");
        TestFiles.WriteAllBytes(path, Encoding.UTF8.GetBytes(new string('z', 100_000)));
        Assert.Throws<PoolCorruptedException>(() => PoolCompaction.Compact(path, LayoutName));
        Assert.Equal(100_000, new FileInfo(path).Length);
        Assert.Throws<PmemFileNotFoundException>(() => PoolCompaction.Compact(PoolPath("missing.pool"), LayoutName));
    }

    /// <summary>Accounts (shared, in a cycle, some only All<T>() finds), strings, and every kind of list and dictionary.</summary>
    internal static void FillRegistry(PersistentPool pool)
    {
        var registry = pool.Root<Registry>();
        using var tx = pool.BeginTransaction();
        Account? previous = null;
        for (var i = 0; i < 500; i++)
        {
            var account = pool.New<Account>();
            account.Balance = i * 3;
            account.Owner = i % 5 == 0 ? null : $"owner {i} {new string('#', i % 70)}";
            account.Counter = -i;
            account.Id = new Guid(i, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8);
            account.Amount = i / 7m;
            account.Next = previous;
            previous = account;
            if (i % 9 == 0)
            {
                continue; // reachable only through the chain of Next
            }

            registry.Accounts.Add(account);
            if (i % 4 == 0)
            {
                registry.Accounts.Add(account); // shared
            }

            registry.ById[i] = i % 6 == 0 ? null : account;
            registry.Counters[i] = i * i;
            registry.Names[$"key {i}"] = i % 3 == 0 ? null : $"name {i}";
            registry.Lines.Add(i % 8 == 0 ? null : $"line {i}");
            registry.Numbers.Add(i * 11L);
        }

        registry.Accounts[0]!.Next = previous; // a cycle through the whole chain
        for (var i = 0; i < 50; i++)
        {
            pool.New<Account>().Owner = $"unreachable {i}"; // only All<T>() finds these
        }

        for (var i = 0; i < 100; i++)
        {
            registry.Counters.Remove(i * 2); // tombstones
            registry.Lines.RemoveAt(registry.Lines.Count - 1);
        }

        tx.Commit();
    }

    /// <summary>Every value and the shape of every reference of the registry graph, objects named by first visit.</summary>
    internal static string DescribeRegistry(PersistentPool pool)
    {
        var registry = pool.Root<Registry>();
        var text = new StringBuilder();
        var ids = new Dictionary<long, int>();
        var pending = new Queue<Account>();
        string Id(Account? account)
        {
            if (account is null)
            {
                return "null";
            }

            if (!ids.TryGetValue(account.Offset, out var id))
            {
                ids[account.Offset] = id = ids.Count;
                pending.Enqueue(account);
            }

            return "#" + id;
        }

        text.AppendLine("accounts " + string.Join(",", registry.Accounts.Select(Id)));
        text.AppendLine("byId " + string.Join(",", registry.ById.OrderBy(p => p.Key).Select(p => $"{p.Key}={Id(p.Value)}")));
        text.AppendLine("counters " + string.Join(",", registry.Counters.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}")));
        text.AppendLine("names " + string.Join(",", registry.Names.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value ?? "null"}")));
        text.AppendLine("lines " + string.Join(",", registry.Lines.Select(l => l ?? "null")));
        text.AppendLine("numbers " + string.Join(",", registry.Numbers));
        while (pending.Count > 0)
        {
            var account = pending.Dequeue();
            text.AppendLine($"{Id(account)} {account.Balance} {account.Owner ?? "null"} {account.Counter} {account.Id} {account.Amount} next={Id(account.Next)}");
        }

        var all = pool.All<Account>().Select(a => $"{a.Balance}/{a.Owner}").Order(StringComparer.Ordinal);
        text.AppendLine("all " + string.Join(",", all));
        return text.ToString();
    }

    private static string DescribeIndex(PersistentPool pool)
    {
        var index = pool.Root<Index>();
        var text = new StringBuilder();
        text.AppendLine("numbers " + string.Join(",", index.Numbers.Select(p => $"{p.Key}={p.Value}")));
        text.AppendLine("names " + string.Join(",", index.Names.Select(p => $"{p.Key}={p.Value ?? "null"}")));
        text.AppendLine("byId " + string.Join(",", index.ById.Select(p => $"{p.Key}={p.Value?.Balance}/{p.Value?.Owner}")));
        text.AppendLine("tags " + string.Join(",", index.Tags.Order()));
        text.AppendLine("words " + string.Join(",", index.Words.Order(StringComparer.Ordinal)));
        return text.ToString();
    }
}
