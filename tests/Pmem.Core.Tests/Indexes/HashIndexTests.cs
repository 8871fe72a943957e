// HashIndexTests -- hashed indexes: lookups, setters, New and Delete, values moving between one and several holders, unique, rollback, threads.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Hashed indexes (<see cref="IndexedAttribute.Hashed"/>): setters, New and Delete keep the table and its shared tree
/// equal to the objects (checked by <see cref="PersistentPool.Check"/>); lookups answer what a sorted index answers; a
/// value moves between one holder and several; unique hashed indexes refuse a second holder; a rolled back transaction
/// leaves the indexes as they were; threads changing hashed properties at once keep them whole. Encodings:
/// <see cref="HashIndexEncodingTests"/>; the randomized model: <see cref="HashIndexModelTests"/>; reopen, kind
/// switches, check, repair, compaction, read-only: <see cref="HashIndexLifecycleTests"/>.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class HashIndexTests : HashIndexTestBase
{
    private static void Remove(PersistentPool pool, HashedMember member)
    {
        using var tx = pool.BeginTransaction();
        pool.Root<HashedClub>().Members.Remove(member);
        pool.Delete(member);
        tx.Commit();
    }

    /// <summary>The count of values the hashed index of <paramref name="property"/> marks as shared (its directory entry's word).</summary>
    private static long SharedValues(PersistentPool pool, string property) =>
        pool.ReadValue<long>(pool.LiveIndexes.Single(index => index.Property.Name == property).Slot.SharedValuesWord);

    [Fact]
    public void Setters_new_and_delete_keep_every_hashed_index_equal_to_the_objects()
    {
        using var pool = NewPool();
        var ada = Add(pool, 1, "ada", Tide.High);
        var bob = Add(pool, 2, "bob", Tide.Low);
        var cyd = Add(pool, 3, "ada", Tide.High);
        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        var byNumber = pool.Index<HashedMember, long>(nameof(HashedMember.Number));
        var byTide = pool.Index<HashedMember, Tide>(nameof(HashedMember.Tide));
        Assert.True(byName.IsHashed);
        Assert.False(byName.IsUnique);
        Assert.True(byNumber.IsHashed);
        Assert.True(byNumber.IsUnique);
        Assert.All(pool.LiveIndexes, index => Assert.True(index.Slot.IsHashed, index.Property.Name));
        Assert.Equal([1, 3], Numbers(byName.Find("ada")));
        Assert.Equal([2], Numbers(byName.Find("bob")));
        Assert.Empty(byName.Find("zed"));
        Assert.False(byName.TryFind("zed", out _));
        Assert.True(byNumber.TryFind(2, out var found));
        Assert.Equal(bob, found);
        Assert.True(byName.TryFind("ada", out var firstAda));
        Assert.Equal(Math.Min(ada.Offset, cyd.Offset), firstAda.Offset); // the first by offset
        Assert.Equal([2, 1, 3], Numbers(byTide)); // Low (-2) first: the enum's signed order
        Assert.Equal([1, 3], Numbers(pool.Index<HashedMember, short>(nameof(HashedMember.Tide)).Find((short)Tide.High)));
        Assert.Equal([3], Numbers(pool.Index<HashedMember, Guid>(nameof(HashedMember.Key)).Find(new Guid(3, 0, 0, new byte[8]))));

        ada.Name = "zoe"; // moves its entry out of a shared value
        Assert.Equal([3], Numbers(byName.Find("ada")));
        Assert.Equal([1], Numbers(byName.Find("zoe")));
        bob.Name = null; // null strings are not indexed
        Assert.Empty(byName.Find("bob"));
        Assert.Equal(2, byName.Count);
        Assert.Equal(3, byNumber.Count);
        Assert.Throws<ArgumentNullException>(() => byName.Find(null!));
        bob.Name = "bob"; // back in
        Assert.Equal([2], Numbers(byName.Find("bob")));
        bob.Name = null;

        pool.Root<HashedClub>().Members.Remove(cyd);
        pool.Delete(cyd);
        Assert.Empty(byName.Find("ada"));
        Assert.Equal([1, 2], Numbers(byNumber));
        Assert.Equal([1, 2], Numbers(byNumber.Find(1).Concat(byNumber.Find(2))));

        var fresh = pool.New<HashedMember>(); // default values: in the value indexes at once, not the string's
        pool.Root<HashedClub>().Members.Add(fresh);
        Assert.Equal([0], Numbers(byNumber.Find(0)));
        Assert.Equal(3, byTide.Count);
        Assert.Equal(1, byName.Count);
        Assert.Equal(2, byTide.Find(Tide.Slack).Count + byTide.Find(Tide.Low).Count);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void A_value_goes_from_one_holder_to_shared_to_one_holder_and_is_gone_when_its_last_object_leaves()
    {
        using var pool = NewPool();
        var a = Add(pool, 1, "solo");
        var b = Add(pool, 2, "other");
        var c = Add(pool, 3, "third");
        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        void Expect(string name, params long[] numbers)
        {
            Assert.Equal(numbers, Numbers(byName.Find(name)));
            Assert.Equal(numbers.Length > 0, byName.TryFind(name, out var first));
            if (numbers.Length > 0)
            {
                Assert.Equal(byName.Find(name)[0], first);
            }
        }

        Expect("solo", 1);
        Assert.Equal(0, SharedValues(pool, "Name"));

        b.Name = "solo"; // one holder → shared
        Expect("solo", Numbers(new[] { a, b }.OrderBy(m => (ulong)m.Offset)));
        Assert.Equal(1, SharedValues(pool, "Name"));
        c.Name = "solo"; // a third holder joins the shared value
        Assert.Equal(3, byName.Find("solo").Count);
        Assert.Equal(3, byName.Count);
        SortedDictionaryTests.AssertSound(pool);

        a.Name = "moved"; // shared with two left
        c.Name = null; // shared with one left: still marked shared
        Expect("solo", 2);
        Expect("moved", 1);
        Assert.Equal(1, SharedValues(pool, "Name"));
        Assert.Equal(2, byName.Count);
        SortedDictionaryTests.AssertSound(pool);

        a.Name = "solo"; // back to two holders, through the shared tree
        Expect("solo", Numbers(new[] { a, b }.OrderBy(m => (ulong)m.Offset)));
        Assert.Equal(1, SharedValues(pool, "Name"));
        a.Name = "gone";
        Remove(pool, b); // the last holder leaves: the value is gone, and so is its mark
        Expect("solo");
        Assert.Equal(0, SharedValues(pool, "Name"));
        SortedDictionaryTests.AssertSound(pool);

        c.Name = "solo"; // a single holder again, as at first
        Expect("solo", 3);
        Assert.Equal(0, SharedValues(pool, "Name"));
        Assert.Equal(2, byName.Count);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void Two_thousand_objects_share_one_value_and_every_new_object_shares_the_default()
    {
        using var pool = NewPool();
        var members = new List<HashedMember>();
        for (var batch = 0; batch < 4; batch++)
        {
            using var tx = pool.BeginTransaction();
            for (var i = 0; i < 500; i++)
            {
                var member = pool.New<HashedMember>(); // Number 0, Tide Slack, Key empty: shared default values
                member.Name = "crowd";
                pool.Root<HashedClub>().Members.Add(member);
                members.Add(member);
            }

            tx.Commit();
        }

        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        var byNumber = pool.Index<HashedMember, long>(nameof(HashedMember.Number));
        var byKey = pool.Index<HashedMember, Guid>(nameof(HashedMember.Key));
        var byOffset = members.Select(m => m.Offset).Order().ToArray();
        Assert.Equal(byOffset, byName.Find("crowd").Select(m => m.Offset));
        Assert.Equal(byOffset, byNumber.Find(0).Select(m => m.Offset)); // the unique index's default value is exempt
        Assert.Equal(byOffset, byKey.Find(Guid.Empty).Select(m => m.Offset));
        Assert.Equal(2_000, pool.Index<HashedMember, Tide>(nameof(HashedMember.Tide)).Find(Tide.Slack).Count);
        Assert.True(byName.TryFind("crowd", out var first));
        Assert.Equal(byOffset[0], first.Offset);
        Assert.Equal(1, SharedValues(pool, "Name"));
        SortedDictionaryTests.AssertSound(pool);

        // Every other member gets a number of its own and leaves the crowd; the rest stay in it.
        for (var i = 0; i < members.Count; i += 2)
        {
            members[i].Number = i + 1;
            members[i].Name = $"own {i}";
        }

        Assert.Equal(1_000, byName.Find("crowd").Count);
        Assert.Equal(1_000, byNumber.Find(0).Count);
        Assert.Equal([1_001L], Numbers(byNumber.Find(1_001)));
        Assert.Equal(2_000, byName.Count);
        Assert.Equal(2_000, byNumber.Count);
        Assert.Equal(Enumerable.Range(0, 1_000).Select(i => (long)(2 * i) + 1), Numbers(byNumber.From(1)));
        SortedDictionaryTests.AssertSound(pool);

        // The crowd leaves entirely: the value, its mark and its shared tree entries are gone.
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 1; i < members.Count; i += 2)
            {
                members[i].Name = null;
            }

            tx.Commit();
        }

        Assert.Empty(byName.Find("crowd"));
        Assert.Equal(1_000, byName.Count);
        Assert.Equal(0, SharedValues(pool, "Name"));
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void A_hashed_unique_index_refuses_a_second_holder_and_changes_nothing()
    {
        using var pool = NewPool();
        var ada = Add(pool, 1, "ada");
        var bob = Add(pool, 2, "bob");
        var byNumber = pool.Index<HashedMember, long>(nameof(HashedMember.Number));
        var error = Assert.Throws<PersistentUniqueConstraintException>(() => bob.Number = 1);
        Assert.Equal(ada.Offset, error.ExistingObject);
        Assert.Equal("Number", error.PropertyName);
        Assert.Equal(2, bob.Number);
        Assert.Equal([1], Numbers(byNumber.Find(1)));
        Assert.Equal([2], Numbers(byNumber.Find(2)));
        Assert.Equal(2, byNumber.Count);
        SortedDictionaryTests.AssertSound(pool);

        // Inside a transaction the violation rolls it back whole.
        Assert.ThrowsAny<Exception>(() =>
        {
            using var tx = pool.BeginTransaction();
            bob.Score = 77;
            bob.Name = "ada"; // a shared value, in the transaction only
            bob.Number = 1;
            tx.Commit();
        });
        Assert.Equal((2, 0, "bob"), (bob.Number, bob.Score, bob.Name));
        using (var tx = pool.BeginTransaction())
        {
            bob.Score = 78;
            Assert.Throws<PersistentUniqueConstraintException>(() => bob.Number = 1);
            Assert.False(tx.IsActive); // caught, the violation still rolled the transaction back, as documented
        }

        Assert.Equal(0, bob.Score);
        Assert.Equal([1], Numbers(pool.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("ada")));
        Assert.Equal(0, SharedValues(pool, "Name"));

        // A New whose key collides rolls back with its transaction: no object, no entry.
        Assert.Throws<PersistentUniqueConstraintException>(() => Add(pool, 2, "copy"));
        Assert.Equal(2, byNumber.Count);
        Assert.Empty(pool.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("copy"));
        Assert.Equal(2, pool.Root<HashedClub>().Members.Count);
        SortedDictionaryTests.AssertSound(pool);

        // The default value is exempt: new objects never collide before their key is set.
        var a = pool.New<HashedMember>();
        var b = pool.New<HashedMember>();
        var c = pool.New<HashedMember>();
        pool.Root<HashedClub>().Members.Add(a);
        pool.Root<HashedClub>().Members.Add(b);
        pool.Root<HashedClub>().Members.Add(c);
        Assert.Equal(3, byNumber.Find(0).Count);
        bob.Number = 0; // back to the default: a fourth holder of 0
        Assert.Equal(4, byNumber.Find(0).Count);
        a.Number = 2; // 2 is free now
        Assert.Equal([2], Numbers(byNumber.Find(2)));
        Assert.Equal(a.Offset, Assert.Throws<PersistentUniqueConstraintException>(() => b.Number = 2).ExistingObject);
        Assert.Equal(3, byNumber.Find(0).Count);
        Assert.Equal(5, byNumber.Count);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void A_descending_range_of_one_shared_value_lists_its_objects_in_descending_offset_order()
    {
        using var pool = NewPool();
        var members = Enumerable.Range(1, 5).Select(i => Add(pool, i, "same")).ToList();
        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        var ascending = members.Select(m => m.Offset).Order().ToArray();
        Assert.Equal(ascending, byName.Range("same", "same", upperInclusive: true).Select(m => m.Offset));
        Assert.Equal(ascending.Reverse(), byName.Reversed().Select(m => m.Offset));
        Assert.Equal(ascending.Reverse(), byName.Range("same", "same", upperInclusive: true, descending: true).Select(m => m.Offset));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Deleting_an_object_made_in_the_same_transaction_takes_its_entries_out(bool hashed)
    {
        using var pool = NewPool();
        if (hashed)
        {
            Run<HashedMember, HashedClub>();
        }
        else
        {
            Run<SortedMember, SortedClub>();
        }

        void Run<TMember, TClub>()
            where TMember : PersistentObject, IPersistentObject<TMember>, IMemberFields
            where TClub : PersistentObject, IPersistentObject<TClub>, IClubOf<TMember>
        {
            Add<TMember, TClub>(pool, 1, "kept");
            using (var tx = pool.BeginTransaction())
            {
                var member = pool.New<TMember>();
                member.Number = 2;
                member.Name = "short-lived";
                pool.Root<TClub>().Members.Add(member);
                pool.Root<TClub>().Members.Remove(member);
                pool.Delete(member);
                tx.Commit();
            }

            Assert.Empty(pool.Index<TMember, string>("Name").Find("short-lived"));
            Assert.Empty(pool.Index<TMember, long>("Number").Find(2));
            Assert.Equal(1, pool.Index<TMember, long>("Number").Count);
            SortedDictionaryTests.AssertSound(pool);
        }
    }

    [Fact]
    public void A_rolled_back_transaction_leaves_the_hashed_indexes_as_they_were()
    {
        using var pool = NewPool();
        var ada = Add(pool, 1, "ada");
        var bob = Add(pool, 2, "shared");
        var cyd = Add(pool, 3, "shared");
        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        using (var tx = pool.BeginTransaction())
        {
            ada.Name = "shared"; // single → shared joins
            bob.Name = "zoe";
            cyd.Name = null; // the shared value keeps one holder
            var extra = pool.New<HashedMember>();
            extra.Number = 5;
            extra.Name = "zoe"; // a new shared value
            pool.Root<HashedClub>().Members.Add(extra);
            Assert.Equal(2, byName.Find("zoe").Count); // the transaction sees its own changes
            Assert.Equal([1], Numbers(byName.Find("shared")));
            Assert.Empty(byName.Find("ada"));
            Assert.Equal(2, SharedValues(pool, "Name"));
        }

        Assert.Equal([1], Numbers(byName.Find("ada")));
        Assert.Equal([2, 3], Numbers(byName.Find("shared")).Order());
        Assert.Empty(byName.Find("zoe"));
        Assert.Empty(pool.Index<HashedMember, long>(nameof(HashedMember.Number)).Find(5));
        Assert.Equal(3, byName.Count);
        Assert.Equal(1, SharedValues(pool, "Name"));
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void Threads_changing_hashed_properties_at_once_keep_the_index_whole()
    {
        using var pool = NewPool();
        var members = Enumerable.Range(0, 40).Select(i => Add(pool, i + 1, "start")).ToArray();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            for (var i = 0; i < 300; i++)
            {
                var member = members[t * 10 + random.Next(10)];
                member.Name = random.Next(4) == 0 ? "common" : $"t{t} n{random.Next(20)}"; // "common" is shared across the threads
                member.Tide = (Tide)(random.Next(3) switch { 0 => -2, 1 => 0, _ => 3 });
                _ = pool.Index<HashedMember, string>(nameof(HashedMember.Name)).Find($"t{(t + 1) % 4} n1");
                _ = pool.Index<HashedMember, string>(nameof(HashedMember.Name)).TryFind("common", out _);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        Assert.Equal(40, byName.Count);
        foreach (var member in members)
        {
            Assert.Contains(member, byName.Find(member.Name!));
        }

        SortedDictionaryTests.AssertSound(pool);
    }
}
