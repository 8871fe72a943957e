using Pmem.Heap;
using Pmem.Memory;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Pool;

/// <summary>
/// A reference that outlives its object: the block's generation tells a deleted object from the one that reuses its
/// block, in fields, collections, checks, repairs, compaction, and across reopening; older pools keep working.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed class DanglingReferenceTests : IDisposable
{
    private const string LayoutName = "dangling";
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-dangling-");

    private string PoolPath => Path.Combine(_directory.FullName, "test.pool");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>Deletes <paramref name="victim"/> and allocates accounts until one takes its block (in or out of a transaction).</summary>
    private static Account ReuseBlockOf(PersistentPool pool, Account victim, bool inTransaction)
    {
        var offset = victim.Offset;
        pool.Delete(victim);
        var spare = new List<Account>();
        for (var i = 0; i < 20_000; i++)
        {
            Account next;
            if (inTransaction)
            {
                using var tx = pool.BeginTransaction();
                next = pool.New<Account>();
                tx.Commit();
            }
            else
            {
                next = pool.New<Account>();
            }

            if (next.Offset == offset)
            {
                return next;
            }

            spare.Add(next);
        }

        throw new InvalidOperationException("the block was never reused");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_reference_to_a_deleted_object_whose_block_holds_a_new_one_throws(bool inTransaction)
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        var root = pool.Root<Ledger>();
        var old = pool.New<Account>();
        old.Balance = 7;
        root.First = old;

        var reused = ReuseBlockOf(pool, old, inTransaction);
        reused.Balance = 99;

        var error = Assert.Throws<PersistentDanglingReferenceException>(() => root.First);
        Assert.Equal(reused.Offset, error.Target);
        Assert.Contains("deleted", error.Message);
        Assert.IsAssignableFrom<PersistentTypeMismatchException>(error); // callers that caught the old exception still do

        root.First = reused; // a reference written now names the new object
        Assert.Equal(99, root.First!.Balance);
        Assert.Equal(reused, root.First);
    }

    [Fact]
    public void A_reference_to_a_deleted_object_whose_block_is_free_throws()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        var root = pool.Root<Ledger>();
        var old = pool.New<Account>();
        root.Second = old;
        pool.Delete(old);

        var error = Assert.Throws<PersistentDanglingReferenceException>(() => root.Second);
        Assert.Contains("no object is allocated", error.Message);
    }

    [Fact]
    public void List_elements_and_dictionary_values_detect_a_reused_block()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        var registry = pool.Root<Registry>();
        var kept = pool.New<Account>();
        var old = pool.New<Account>();
        registry.Accounts.Add(kept);
        registry.Accounts.Add(old);
        registry.ById[1] = old;

        var reused = ReuseBlockOf(pool, old, inTransaction: false);

        Assert.Equal(kept, registry.Accounts[0]);
        Assert.Throws<PersistentDanglingReferenceException>(() => registry.Accounts[1]);
        Assert.Throws<PersistentDanglingReferenceException>(() => registry.ById[1]);
        Assert.DoesNotContain(reused, registry.Accounts.Take(1)); // (enumerating past the stale slot would throw)
        Assert.Equal(-1, registry.Accounts.IndexOf(reused)); // the slot names the deleted object, not its successor
        Assert.Equal(0, registry.Accounts.IndexOf(kept));
    }

    [Fact]
    public void Check_reports_a_reused_target_and_repair_nulls_the_reference()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        var root = pool.Root<Ledger>();
        var old = pool.New<Account>();
        root.First = old;
        var reused = ReuseBlockOf(pool, old, inTransaction: true);
        root.Second = reused; // keeps the new object reachable: only the stale edge is wrong

        var report = pool.Check();
        var error = Assert.Single(report.Errors);
        Assert.Contains("whose object was deleted", error);

        var steps = PoolRepair.Repair(pool);
        Assert.Contains(steps, step => step.Kind == "null-reference");
        Assert.Null(root.First);
        Assert.Equal(reused, root.Second);
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_reference_word_with_a_generation_and_offset_0_is_damage_for_check_reads_and_repair_alike()
    {
        // Only a word of 0 is null; bits above the offset with no offset are damage (a flipped bit), not a null.
        var domain = MemoryDomain.Create(8 << 20);
        using var pool = PersistentPool.Create(domain, LayoutName);
        var root = pool.Root<Ledger>();
        root.First = pool.New<Account>();
        var slot = root.Offset; // Ledger.First
        domain.WriteDurable(slot, BlockGeneration.Reference(0, 7));

        Assert.Throws<PersistentDanglingReferenceException>(() => root.First);
        var error = Assert.Single(pool.Check().Errors);
        Assert.Contains("points to 0", error);

        var steps = PoolRepair.Repair(pool);
        Assert.Contains(steps, step => step.Kind == "null-reference");
        Assert.Equal(0L, domain.Read<long>(slot));
        Assert.Null(root.First);
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void Deleting_through_a_handle_kept_past_its_object_leaves_the_new_object_alone()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        pool.Root<Ledger>();
        var old = pool.New<Account>();
        var stale = pool.All<Account>().Single(); // a second handle to the same object
        var reused = ReuseBlockOf(pool, old, inTransaction: false);
        reused.Balance = 5;

        Assert.Throws<PersistentDanglingReferenceException>(() => pool.Delete(stale));
        Assert.Equal(5, reused.Balance);
        pool.Delete(reused);
    }

    [Fact]
    public void A_handle_used_after_its_delete_throws_rather_than_reach_the_blocks_next_object()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        pool.Root<Ledger>();
        var freed = pool.New<Account>();
        pool.Delete(freed);
        Assert.Throws<PersistentDanglingReferenceException>(() => freed.Balance); // its block free

        var old = pool.New<Account>();
        old.Owner = "old";
        var reused = ReuseBlockOf(pool, old, inTransaction: false);
        reused.Balance = 5;
        reused.Owner = "new";

        Assert.Throws<PersistentDanglingReferenceException>(() => old.Balance);
        Assert.Throws<PersistentDanglingReferenceException>(() => old.Balance = 666);
        Assert.Throws<PersistentDanglingReferenceException>(() => old.Owner);
        Assert.Throws<PersistentDanglingReferenceException>(() => old.Owner = "x"); // would have freed the new object's string
        Assert.Throws<PersistentDanglingReferenceException>(() => old.Next = reused);
        Assert.Throws<PersistentDanglingReferenceException>(() => pool.Delete(old));
        Assert.Equal(5, reused.Balance);
        Assert.Equal("new", reused.Owner);
        Assert.Equal(old.Offset, reused.Offset); // what the handle still tells: its identity
        Assert.True(pool.Check().IsConsistent);
        pool.Delete(reused);
    }

    [Fact]
    public void A_collection_handle_kept_past_its_owners_delete_throws_rather_than_change_the_blocks_next_object()
    {
        // An outside tester's case: the generated getter caches its collection handle, so the deleted wrapper's list
        // kept its header, which the block's next object then reused: old.Values.Clear() emptied the new one's list.
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        pool.Root<Ledger>();
        var old = pool.New<Registry>();
        var numbers = old.Numbers; // cached, as generated code caches it
        numbers.Add(1);
        var offset = old.Offset;
        pool.Delete(old);
        Assert.Throws<PersistentDanglingReferenceException>(() => numbers.Count); // its block free

        Registry? reused = null;
        var spare = new List<Registry>();
        for (var i = 0; i < 20_000 && reused is null; i++)
        {
            var next = pool.New<Registry>();
            if (next.Offset == offset)
            {
                reused = next;
            }
            else
            {
                spare.Add(next);
            }
        }

        Assert.NotNull(reused);
        reused.Numbers.Add(100);
        reused.Numbers.Add(200);
        Assert.Throws<PersistentDanglingReferenceException>(() => numbers.Count);
        Assert.Throws<PersistentDanglingReferenceException>(() => numbers.Clear());
        Assert.Throws<PersistentDanglingReferenceException>(() => numbers.Add(666));
        Assert.Throws<PersistentDanglingReferenceException>(() => old.Counters[1] = 1);
        Assert.Equal([100L, 200L], reused.Numbers);
    }

    [Fact]
    public void A_deleted_object_cannot_be_stored_in_a_field_or_a_collection()
    {
        // An outside tester's case: both were accepted, and Check then found a reference to a freed (or reused) block.
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        var registry = pool.Root<Registry>();
        var deleted = pool.New<Account>();
        var holder = pool.New<Account>();
        registry.Accounts.Add(holder);
        pool.Delete(deleted);
        Assert.Throws<PersistentDanglingReferenceException>(() => holder.Next = deleted);
        Assert.Throws<PersistentDanglingReferenceException>(() => registry.Accounts.Add(deleted));
        Assert.Throws<PersistentDanglingReferenceException>(() => registry.ById[1] = deleted);
        Assert.False(registry.Accounts.Remove(deleted)); // looking it up is fine: it is not there
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_handle_stays_usable_until_its_delete_commits_and_after_one_rolled_back()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(8 << 20), LayoutName);
        pool.Root<Ledger>();
        var account = pool.New<Account>();
        using (pool.BeginTransaction())
        {
            pool.Delete(account);
            account.Balance = 1; // freed only at commit: still the transaction's to use
        }

        account.Balance = 2; // rolled back: the object lives on
        Assert.Equal(2, account.Balance);
        using (var tx = pool.BeginTransaction())
        {
            pool.Delete(account);
            Assert.Equal(2, account.Balance);
            tx.Commit();
        }

        Assert.Throws<PersistentDanglingReferenceException>(() => account.Balance);
        Assert.True(pool.Check().IsConsistent);
    }

    [Theory]
    [InlineData(DurabilityMode.PowerFailure)]
    [InlineData(DurabilityMode.ProcessCrash)]
    public void Generations_outlive_reopening_and_compaction(DurabilityMode mode)
    {
        long reusedOffset;
        using (var pool = PersistentPool.Create(PoolPath, LayoutName, 8 << 20, new PoolCreateOptions { Durability = mode }))
        {
            var root = pool.Root<Ledger>();
            var old = pool.New<Account>();
            root.First = old;
            var live = pool.New<Account>();
            live.Balance = 3;
            root.Second = live;
            pool.Delete(old);
        }

        // The next session reuses the block: its generation came from the header word the first session left.
        using (var pool = PersistentPool.Open(PoolPath, LayoutName))
        {
            var root = pool.Root<Ledger>();
            var offset = BlockGeneration.TargetOf(pool.Domain.Read<long>(root.Offset));
            var reused = pool.New<Account>();
            for (var i = 0; reused.Offset != offset && i < 20_000; i++)
            {
                reused = pool.New<Account>();
            }

            Assert.Equal(offset, reused.Offset);
            reusedOffset = reused.Offset;
            Assert.Throws<PersistentDanglingReferenceException>(() => root.First);
            Assert.Equal(3, root.Second!.Balance);
        }

        // Compaction refuses a pool that does not check clean: the stale reference must be mended first.
        var refused = Assert.Throws<PoolCorruptedException>(() => PoolCompaction.Compact(PoolPath, LayoutName));
        Assert.Contains("whose object was deleted", refused.Message);
        using (var pool = PersistentPool.Open(PoolPath, LayoutName))
        {
            var root = pool.Root<Ledger>();
            root.First = null;
            var reused = pool.All<Account>().Single(a => a.Offset == reusedOffset);
            Assert.True(reused.Generation > 1);
            root.First = reused;
        }

        // The copy keeps every block's generation, so the references it copies (written for generation 2 and up) stay valid.
        PoolCompaction.Compact(PoolPath, LayoutName);
        using (var compacted = PersistentPool.Open(PoolPath, LayoutName))
        {
            Assert.True(compacted.Check().IsConsistent);
            var root = compacted.Root<Ledger>();
            Assert.Equal(3, root.Second!.Balance);
            var moved = root.First!;
            Assert.True(moved.Generation > 1);
            Assert.Equal(BlockGeneration.Reference(moved.Offset, moved.Generation), compacted.Domain.Read<long>(root.Offset));
            compacted.Delete(moved);
            var next = compacted.New<Account>();
            for (var i = 0; next.Offset != moved.Offset && i < 20_000; i++)
            {
                next = compacted.New<Account>();
            }

            Assert.Throws<PersistentDanglingReferenceException>(() => root.First);
        }
    }

    [Fact]
    public void A_large_objects_reused_chunks_are_told_apart()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(16 << 20), LayoutName);
        var root = pool.Root<BigRecord>();
        var old = pool.New<BigRecord>();
        root.Next = old;
        var offset = old.Offset;
        pool.Delete(old);
        var reused = pool.New<BigRecord>();

        Assert.Equal(offset, reused.Offset); // the freed chunks are the first that fit
        Assert.Throws<PersistentDanglingReferenceException>(() => root.Next);
        root.Next = reused;
        Assert.Equal(reused, root.Next);
    }

    [Fact]
    public void A_version_5_pool_moves_to_generations_when_opened_for_writing_and_its_old_references_still_read()
    {
        using (var pool = PersistentPool.Create(PoolPath, LayoutName, 8 << 20))
        {
            var root = pool.Root<Ledger>();
            root.First = pool.New<Account>();
            root.First!.Balance = 11;
            Assert.NotEqual(0, BlockGeneration.OfReference(pool.Domain.Read<long>(root.Offset)));
        }

        TestFiles.WriteAllBytes(PoolPath, AsVersion5(TestFiles.ReadAllBytes(PoolPath)));
        var before = TestFiles.ReadAllBytes(PoolPath);
        using (var readOnly = PersistentPool.OpenReadOnly(PoolPath, LayoutName))
        {
            Assert.Equal(5u, readOnly.FormatVersion);
            Assert.Equal(11, readOnly.Root<Ledger>().First!.Balance);
        }

        Assert.Equal(before, TestFiles.ReadAllBytes(PoolPath)); // read-only: nothing written

        using var upgraded = PersistentPool.Open(PoolPath, LayoutName);
        Assert.Equal(PoolLayout.UpgradeVersion, upgraded.FormatVersion);
        var ledger = upgraded.Root<Ledger>();
        Assert.Equal(11, ledger.First!.Balance); // a reference without a generation is not checked, and reads
        var reused = ReuseBlockOf(upgraded, ledger.First!, inTransaction: false);
        Assert.NotEqual(0, reused.Generation);
        ledger.Second = reused;
        Assert.Equal(reused, ledger.Second);
        Assert.Equal(reused, ledger.First); // written before generations: a reuse cannot be told (documented)
        Assert.True(upgraded.Check().IsConsistent);
    }

    /// <summary>Strips every generation (allocation headers and the root's references) and marks the header version 5, as a version-5 release leaves a pool.</summary>
    private static byte[] AsVersion5(byte[] image)
    {
        var words = new List<long>();
        long ledger;
        using (var pool = PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName))
        {
            var heap = ((Pmem.Transactions.ITransactionalPool)pool).Heap;
            heap.ForEachAllocated((block, _) => words.Add(heap.TypeWordOffset(block)));
            ledger = pool.Root<Ledger>().Offset;
        }

        foreach (var word in words)
        {
            BitConverter.TryWriteBytes(image.AsSpan((int)word), BitConverter.ToUInt32(image, (int)word) & 0xFFFF);
        }

        foreach (var field in new[] { ledger, ledger + 8 })
        {
            BitConverter.TryWriteBytes(image.AsSpan((int)field), BlockGeneration.TargetOf(BitConverter.ToInt64(image, (int)field)));
        }

        return OlderFormat.AsVersion(image, 5);
    }
}

/// <summary>An object too large for a run: it lives in a span of chunks (hand-written as the generator writes it).</summary>
internal sealed class BigRecord : PersistentObject, IPersistentObject<BigRecord>
{
    private BigRecord(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.BigRecord", 40_960, 0xB16, [new(0, PersistentFieldKind.Reference)]);

    static BigRecord IPersistentObject<BigRecord>.Attach(ObjectHandle handle) => new(handle);

    public BigRecord? Next { get => ReadReference<BigRecord>(0); set => WriteReference(0, value); }
}
