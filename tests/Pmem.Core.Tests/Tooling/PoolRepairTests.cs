using Pmem.Pool;
using Pmem.Tests.Pool;
using Pmem.Tooling;
using Index = Pmem.Tests.Objects.Index;

namespace Pmem.Tests.Tooling;

/// <summary>Repair of pools damaged in known ways: the dry run lists the right actions and changes nothing; apply fixes them.</summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class PoolRepairTests : IDisposable
{
    private const string LayoutName = "repair";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-repair-");

    public void Dispose() => _directory.Delete(recursive: true);

    private string PoolPath(string name = "test.pool") => Path.Combine(_directory.FullName, name);

    /// <summary>A registry with accounts, lists and dictionaries, then damaged: see each step.</summary>
    private string DamagedPool(out long ledgerOffset, out long danglingAccount, out long leaked)
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, LayoutName, 8 << 20);
        var ledger = pool.Root<Ledger>();
        ledgerOffset = ledger.Offset;
        ledger.Name = "books";
        var kept = pool.New<Account>();
        kept.Owner = "kept";
        var doomed = pool.New<Account>();
        doomed.Owner = "doomed";
        ledger.First = kept;
        ledger.Second = doomed;
        kept.Next = doomed;
        danglingAccount = doomed.Offset;

        // Freed while still referenced (the pool's own Delete does not look for referrers): two dangling references.
        pool.Delete(doomed);

        // A leak: allocated, reachable from nothing.
        var leak = pool.New<Account>();
        leak.Owner = "leaked";
        leaked = leak.Offset;

        // Garbage in the ledger's string field: an offset that is no block.
        pool.Domain.WriteDurable(ledger.Offset + 16, 123457L);
        return path;
    }

    [Fact]
    public void A_dry_run_lists_every_action_and_leaves_the_file_byte_identical()
    {
        var path = DamagedPool(out var ledger, out var dangling, out var leaked);
        var original = TestFiles.ReadAllBytes(path);

        var result = PoolRepair.Run(path, LayoutName, apply: false, tempDirectory: _directory.FullName);

        Assert.False(result.Applied);
        Assert.Null(result.BackupPath);
        Assert.Equal(original, TestFiles.ReadAllBytes(path));
        Assert.Single(_directory.GetFiles()); // the private copy is gone
        var actions = result.Actions.Select(a => (a.Kind, a.Type)).ToList();
        Assert.Contains(("null-reference", "Tests.Ledger"), actions); // Second
        Assert.Contains(("null-reference", "Tests.Account"), actions); // kept.Next
        Assert.Contains(("null-string", "Tests.Ledger"), actions); // Name: garbage
        Assert.Contains(result.Actions, a => a.Kind == "null-reference" && a.Offset == ledger && a.Description.Contains(dangling.ToString()));
        Assert.Contains(result.Actions, a => a is { Kind: "free-unreachable", Type: "string" }); // "books", lost with the field
        Assert.Equal(4, result.Actions.Count); // the account the root does not reach is kept, and its string: All<T>() finds it

        var freeingDetached = PoolRepair.Run(path, LayoutName, apply: false, tempDirectory: _directory.FullName, freeDetached: true);
        Assert.Contains(freeingDetached.Actions, a => a is { Kind: "free-unreachable", Type: "Tests.Account" } && a.Offset == leaked);
        Assert.Equal(2, freeingDetached.Actions.Count(a => a is { Kind: "free-unreachable", Type: "string" })); // and "leaked"
        Assert.Equal(6, freeingDetached.Actions.Count);
        Assert.Equal(original, TestFiles.ReadAllBytes(path));
    }

    [Fact]
    public void Apply_backs_the_pool_up_then_fixes_it_and_the_check_is_clean()
    {
        var path = DamagedPool(out _, out _, out var leaked);
        var original = TestFiles.ReadAllBytes(path);
        var dryRun = PoolRepair.Run(path, LayoutName, apply: false, tempDirectory: _directory.FullName);

        var result = PoolRepair.Run(path, LayoutName, apply: true);

        Assert.True(result.Applied);
        Assert.Equal(original, TestFiles.ReadAllBytes(result.BackupPath!));
        Assert.Equal(dryRun.Actions, result.Actions);
        using var pool = PersistentPool.Open(path, LayoutName);
        var report = pool.Check();
        Assert.True(report.IsClean, string.Join("; ", report.Errors));
        Assert.Equal(new Dictionary<string, long> { ["Tests.Account"] = 1, ["string"] = 1 }, report.Detached);
        Assert.Equal(report.AllocatedObjects, report.ReachableObjects + report.DetachedObjects);
        var ledger = pool.Root<Ledger>();
        Assert.Equal(("kept", null, null, null), (ledger.First!.Owner, ledger.Second, ledger.Name, ledger.First.Next));
        Assert.Equal(["kept", "leaked"], pool.All<Account>().Select(a => a.Owner).Order());
        Assert.Contains(pool.All<Account>(), a => a.Offset == leaked);
    }

    [Fact]
    public void Repairs_in_one_second_each_get_a_backup_and_leave_no_temporary_file()
    {
        // An outside tester's case: a second repair in the same second failed, its default backup name taken.
        var path = DamagedPool(out _, out _, out _);
        var taken = new[] { PoolRepair.DefaultBackupPath(path), PoolRepair.DefaultBackupPath(path) + "-2" };
        foreach (var file in taken)
        {
            File.WriteAllText(file, "an earlier backup");
        }

        var result = PoolRepair.Run(path, LayoutName, apply: true);

        Assert.DoesNotContain(result.BackupPath, taken);
        Assert.StartsWith(path + ".before-repair-", result.BackupPath);
        Assert.All(taken, file => Assert.Equal("an earlier backup", File.ReadAllText(file)));
        Assert.Empty(Directory.GetFiles(_directory.FullName, ".*.tmp"));
        Assert.Throws<IOException>(() => PoolRepair.Run(path, LayoutName, apply: true, backupPath: taken[0])); // never over a file
        Assert.Equal("an earlier backup", File.ReadAllText(taken[0]));
    }

    [Fact]
    public void A_consistent_pool_keeps_what_only_All_finds_and_frees_it_only_when_asked()
    {
        var path = PoolPath();
        List<long> detached;
        using (var pool = PersistentPool.Create(path, LayoutName, 8 << 20))
        {
            PoolCompactionTests.FillRegistry(pool); // with objects only All<T>() finds, and their strings
            var report = pool.Check();
            Assert.True(report.IsClean);
            Assert.Equal(51, report.Detached["Tests.Account"]); // 50 never linked, one cut off its chain
            Assert.Equal(report.AllocatedObjects, report.ReachableObjects + report.DetachedObjects);
            detached = [.. pool.All<Account>().Select(a => a.Offset)];
            Assert.Empty(PoolRepair.Repair(pool)); // nothing to do: detached objects are live
            Assert.Equal(detached, pool.All<Account>().Select(a => a.Offset));
        }

        var result = PoolRepair.Run(path, LayoutName, apply: false, tempDirectory: _directory.FullName, freeDetached: true);
        Assert.All(result.Actions, a => Assert.Equal("free-unreachable", a.Kind));
        Assert.Equal(51, result.Actions.Count(a => a.Type == "Tests.Account"));
        Assert.All(result.Actions.Where(a => a.Type == "Tests.Account"), a => Assert.Contains(a.Offset, detached));
        Assert.All(result.Actions, a => Assert.Contains("the root does not reach it", a.Description));
    }

    [Fact]
    public void Collections_with_dangling_elements_bad_keys_and_wrong_counts_are_mended()
    {
        using var pool = PersistentPool.Create(PoolPath(), LayoutName, 8 << 20);
        var registry = pool.Root<Registry>();
        var doomed = pool.New<Account>();
        for (var i = 0; i < 10; i++)
        {
            registry.Accounts.Add(i == 3 ? doomed : pool.New<Account>());
            registry.ById[i] = i == 5 ? doomed : null;
            registry.Names[$"k{i}"] = $"v{i}";
            registry.Counters[i] = i;
        }

        pool.Delete(doomed); // a list element and a dictionary value now dangle
        var counters = registry.Counters.Offset;
        pool.Domain.WriteDurable(counters, 7L); // the dictionary's count: 7 where its table holds 10
        var names = registry.Names.Offset;
        var storage = pool.Domain.Read<long>(names + 16);
        var firstKey = Enumerable.Range(0, 64).Select(i => storage + i * 24L).First(e => pool.Domain.Read<ulong>(e) > 1) + 8;
        pool.Domain.WriteDurable(firstKey, registry.Accounts[0]!.Offset); // a string key that is an account

        var actions = PoolRepair.Repair(pool);

        Assert.Contains(actions, a => a is { Kind: "null-element", Type: "(list)" });
        Assert.Contains(actions, a => a is { Kind: "null-element", Type: "(dictionary)" });
        Assert.Contains(actions, a => a is { Kind: "remove-entry", Type: "(dictionary)" } && a.Offset == names);
        Assert.Contains(actions, a => a is { Kind: "recount-collection" } && a.Offset == counters);
        Assert.Contains(actions, a => a is { Kind: "free-unreachable", Type: "string" }); // the removed entry's value
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
        Assert.Null(registry.Accounts[3]);
        Assert.Equal(10, registry.Counters.Count);
        Assert.Equal(9, registry.Names.Count);
        Assert.Null(registry.ById[5]);
    }

    [Fact]
    public void A_collection_with_an_impossible_header_is_dropped_and_its_blocks_freed()
    {
        using var pool = PersistentPool.Create(PoolPath(), LayoutName, 8 << 20);
        var index = pool.Root<Index>();
        for (var i = 0; i < 2000; i++)
        {
            index.Numbers[i] = i;
        }

        index.Tags.Add(5);
        var header = index.Numbers.Offset;
        pool.Domain.WriteDurable(header + 56, 99); // the tree's height: impossible

        var actions = PoolRepair.Repair(pool);

        Assert.Contains(actions, a => a.Kind == "drop-collection" && a.Offset == header && a.Description.Contains("2000"));
        Assert.True(actions.Count(a => a.Kind == "free-unreachable") > 10); // the header and every node
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
        Assert.Empty(index.Numbers);
        Assert.Single(index.Tags);
    }

    [Fact]
    public void Repair_is_refused_while_the_pool_is_open_and_the_file_is_untouched()
    {
        var path = PoolPath();
        using var pool = PersistentPool.Create(path, LayoutName, 8 << 20);
        Assert.Throws<PoolLockedException>(() => PoolRepair.Run(path, LayoutName, apply: true));
        Assert.Single(_directory.GetFiles());
    }
}
