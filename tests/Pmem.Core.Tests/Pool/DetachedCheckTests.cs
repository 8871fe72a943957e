using Pmem.Heap;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Indexes;
using Pmem.Tooling;
using Pmem.Transactions;

namespace Pmem.Tests.Pool;

/// <summary>
/// Objects the root does not reach are live (All&lt;T&gt;() and indexes find them): the check walks and counts them as
/// detached, a repair mends and keeps them, and only what nothing holds is a leak.
/// </summary>
public sealed class DetachedCheckTests
{
    private const string LayoutName = "tests";

    private static PersistentPool NewPool() => PersistentPool.Create(MemoryDomain.Create(4 << 20), LayoutName);

    [Fact]
    public void Objects_the_root_does_not_reach_are_checked_and_counted_as_detached()
    {
        using var pool = NewPool();
        var root = pool.Root<Account>();
        root.Owner = "root";
        var named = pool.New<Account>();
        named.Owner = "found by All<Account>()";
        var linking = pool.New<Account>();
        linking.Next = root; // a detached object may point into the root's graph
        var dangling = pool.New<Account>();
        var doomed = pool.New<Account>();
        dangling.Next = doomed;
        pool.Delete(doomed);

        var report = pool.Check();

        Assert.Equal(new Dictionary<string, long> { ["Tests.Account"] = 3, ["string"] = 1 }, report.Detached);
        Assert.Empty(report.Unreachable);
        Assert.Equal(report.AllocatedObjects, report.ReachableObjects + report.DetachedObjects);
        Assert.StartsWith($"{report.AllocatedObjects} allocated: {report.ReachableObjects} reachable from the root, 4 detached, 0 unreachable; 1 error(s), the first: ", report.ToString());
        var error = Assert.Single(report.Errors); // walked like the rest: its dangling reference is found
        Assert.Contains($"the Tests.Account at {dangling.Offset} points to {doomed.Offset}", error);

        var fromRoot = pool.CheckFromRoot();
        Assert.Equal(new[] { named.Offset, linking.Offset, dangling.Offset, pool.Domain.Read<long>(named.Offset + 8) }.Order(), fromRoot.Unreachable);
        Assert.Empty(fromRoot.Errors);
        Assert.Empty(fromRoot.Detached);
    }

    [Fact]
    public void A_string_nothing_holds_is_unreachable_and_a_repair_frees_it_keeping_the_detached_objects()
    {
        using var pool = NewPool();
        pool.Root<Account>().Owner = "root";
        var root = pool.Root<Account>();
        var detached = pool.New<Account>();
        detached.Owner = "kept";
        var leaked = pool.Domain.Read<long>(root.Offset + 8);
        pool.Domain.WriteDurable(root.Offset + 8, 0L); // the root forgets its string: nothing holds it

        var report = pool.Check();

        Assert.True(report.IsConsistent);
        Assert.False(report.IsClean);
        Assert.Equal([leaked], report.Unreachable);
        Assert.Equal(2, report.DetachedObjects);
        var action = Assert.Single(PoolRepair.Repair(pool));
        Assert.Equal(("free-unreachable", leaked, "string"), (action.Kind, action.Offset, action.Type));
        Assert.Contains("nothing holds it", action.Description);
        Assert.True(pool.Check().IsClean);
        Assert.Equal("kept", Assert.Single(pool.All<Account>(), a => a.Offset == detached.Offset).Owner);
    }

    [Fact]
    public void A_detached_object_with_a_dangling_reference_is_mended_and_kept_unless_detached_objects_are_freed()
    {
        using var pool = NewPool();
        pool.Root<Account>();
        var holder = pool.New<Account>();
        holder.Owner = "holder";
        var doomed = pool.New<Account>();
        holder.Next = doomed;
        pool.Delete(doomed);

        var mended = PoolRepair.Repair(pool);

        var action = Assert.Single(mended);
        Assert.Equal(("null-reference", holder.Offset), (action.Kind, action.Offset));
        Assert.Null(holder.Next);
        Assert.Equal("holder", holder.Owner);
        Assert.True(pool.Check().IsClean);

        var freed = PoolRepair.Repair(pool, freeDetached: true);

        Assert.Equal(["Tests.Account", "string"], freed.Select(a => a.Type).Order(StringComparer.Ordinal));
        Assert.All(freed, a => Assert.Equal("free-unreachable", a.Kind));
        Assert.All(freed, a => Assert.Contains("the root does not reach it", a.Description));
        Assert.Single(pool.All<Account>()); // the root
        var report = pool.Check();
        Assert.True(report.IsClean);
        Assert.Empty(report.Detached);
    }

    [Fact]
    public void Detached_objects_a_repair_frees_leave_their_indexes_in_the_same_transaction()
    {
        // An outside tester's case: a repair interrupted between freeing indexed objects and rebuilding the index left
        // entries for freed objects behind.
        // A second tester's case: freed in offset order, batch by batch, a name could go before its member, whose
        // index removal then read a freed string (exit 3, the pool left damaged). Members are freed first now.
        using var pool = PersistentPool.Create(MemoryDomain.Create(16 << 20), LayoutName);
        pool.Root<Account>();
        for (var i = 0; i < 3_000; i++)
        {
            using var tx = pool.BeginTransaction();
            var member = pool.New<Member>(); // found by its indexes and All<Member>(), never linked
            member.Number = i;
            member.Name = $"member {i}";
            tx.Commit();
            if (i % 2 == 1)
            {
                pool.Delete(pool.All<Member>().First(m => m.Number == i - 1)); // holes: later names land below later members
            }
        }

        Assert.Equal(1_500, pool.Index<Member, long>(nameof(Member.Number)).Count);
        Assert.Empty(PoolRepair.Repair(pool)); // kept

        var actions = PoolRepair.Repair(pool, freeDetached: true);

        Assert.Equal(3_000, actions.Count(a => a.Kind == "free-unreachable")); // the members and their names
        Assert.DoesNotContain(actions, a => a.Kind is "drop-index" or "rebuild-index"); // the indexes never disagreed
        Assert.Equal(0, pool.Index<Member, long>(nameof(Member.Number)).Count);
        Assert.Empty(pool.Index<Member, string>(nameof(Member.Name)).Find("member 3"));
        Assert.True(pool.Check().IsClean, string.Join("; ", pool.Check().Errors));
    }

    [Fact]
    public void A_string_held_by_a_detached_and_a_rooted_object_has_two_owners_both_named()
    {
        using var pool = NewPool();
        var root = pool.Root<Account>();
        root.Owner = "shared";
        var detached = pool.New<Account>();
        pool.Domain.WriteDurable(detached.Offset + 8, pool.Domain.Read<long>(root.Offset + 8)); // Owner is at +8
        var text = pool.Domain.Read<long>(root.Offset + 8);

        var error = Assert.Single(pool.Check().Errors);

        Assert.Equal($"the string at {text} has two owners: the Tests.Account at {root.Offset} and the Tests.Account at {detached.Offset}", error);
        Assert.Empty(pool.CheckFromRoot().Errors); // from the root alone, one owner
    }

    [Fact]
    public void A_detached_object_that_cannot_be_read_is_freed_by_a_repair()
    {
        // Its type word names a class whose field lies past the pool's end: the mark of a damaged type word.
        using var pool = NewPool();
        pool.Root<Account>();
        pool.Delete(pool.New<Wide>()); // stores the wide type
        var last = pool.New<Account>();
        while (last.Offset + Wide.FieldOffset + 8 <= pool.Size)
        {
            last = pool.New<Account>();
        }

        Assert.True(((ITransactionalPool)pool).Heap.TryGetAllocated(last.Offset, out var block, out _));
        var typeWord = ((ITransactionalPool)pool).Heap.TypeWordOffset(block);
        var wide = pool.StoredTypes.Single(t => t.Name == "Tests.Wide").Index;
        pool.Domain.WriteDurable(typeWord, BlockGeneration.Header(wide, BlockGeneration.Of(pool.Domain.Read<uint>(typeWord))));

        var report = pool.Check();
        Assert.Contains(report.Errors, e => e.Contains($"Tests.Wide at {last.Offset}: field at +{Wide.FieldOffset} lies past the pool's end", StringComparison.Ordinal));

        var actions = PoolRepair.Repair(pool);

        var action = Assert.Single(actions);
        Assert.Equal(("free-unreadable", last.Offset, "Tests.Wide"), (action.Kind, action.Offset, action.Type));
        Assert.True(pool.Check().IsClean);
        Assert.False(((ITransactionalPool)pool).Heap.TryGetAllocated(last.Offset, out _, out _));
    }

    /// <summary>A class of one field far into a large block.</summary>
    private sealed class Wide : PersistentObject, IPersistentObject<Wide>
    {
        public const int FieldOffset = 65_528;

        private Wide(ObjectHandle handle) : base(handle) { }

        public static PersistentTypeInfo PersistentType { get; } = new("Tests.Wide", 65_536, 0x00D1_DE00, [new(FieldOffset, PersistentFieldKind.Reference)]);

        static Wide IPersistentObject<Wide>.Attach(ObjectHandle handle) => new(handle);
    }
}
