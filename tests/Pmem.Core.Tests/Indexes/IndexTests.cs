using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;
using Pmem.Tooling;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Indexed properties: setters, New and Delete keep the index equal to the objects (checked by <see cref="PersistentPool.Check"/>,
/// which compares every entry with its object); unique indexes refuse a second holder of a value; lookups by value,
/// range and order; indexes built when a program adds them and dropped when it removes them; compaction and repair.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class IndexTests : IDisposable
{
    private readonly string _directory = Directory.CreateDirectory(
        Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"pmem-index-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PoolPath => Path.Combine(_directory, "club.pool");

    private static PoolOpenOptions Program<T>() where T : PersistentObject, IPersistentObject<T> => new() { Types = [T.PersistentType, Club.PersistentType] };

    private PersistentPool NewPool() => PersistentPool.Create(PoolPath, "tests", 8 << 20);

    [Fact]
    public void A_root_of_an_indexed_class_is_in_its_indexes_from_its_creation()
    {
        // An outside tester's case: Root<T>() left the root out of the indexes; Find(0) missed it and Check reported
        // "the index of Item.Key holds 1 entries for 2 objects" on a fresh pool, used as documented.
        using (var pool = NewPool())
        {
            var root = pool.Root<Member>();
            var other = pool.New<Member>();
            Assert.Equal(new[] { root.Offset, other.Offset }.Order(), pool.Index<Member, Tide>(nameof(Member.Tide)).Find(Tide.Slack).Select(m => m.Offset).Order());
            var report = pool.Check();
            Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
            root.Number = 7;
            Assert.Equal(root.Offset, pool.Index<Member, long>(nameof(Member.Number)).Find(7).Single().Offset);
        }

        using var reopened = PersistentPool.Open(PoolPath, "tests", Program<Member>());
        var again = reopened.Check();
        Assert.True(again.IsConsistent, string.Join("; ", again.Errors));
        Assert.Equal(2, reopened.Index<Member, Tide>(nameof(Member.Tide)).Count);
    }

    private static Member Add(PersistentPool pool, long number, string? name, Tide tide = Tide.Slack, long score = 0)
    {
        using var tx = pool.BeginTransaction();
        var member = pool.New<Member>();
        member.Number = number;
        member.Name = name;
        member.Tide = tide;
        member.Score = score;
        member.Key = new Guid((int)number, 0, 0, new byte[8]);
        pool.Root<Club>().Members.Add(member);
        tx.Commit();
        return member;
    }

    private static long[] Numbers(IEnumerable<Member> members) => members.Select(m => m.Number).ToArray();

    [Fact]
    public void Setters_new_and_delete_keep_every_index_equal_to_the_objects()
    {
        using var pool = NewPool();
        var ada = Add(pool, 1, "ada", Tide.High);
        var bob = Add(pool, 2, "bob", Tide.Low);
        var cyd = Add(pool, 3, "ada", Tide.High);
        var byName = pool.Index<Member, string>(nameof(Member.Name));
        var byNumber = pool.Index<Member, long>(nameof(Member.Number));
        var byTide = pool.Index<Member, Tide>(nameof(Member.Tide));
        Assert.Equal([1, 3], Numbers(byName.Find("ada")));
        Assert.Equal([2], Numbers(byName.Find("bob")));
        Assert.Empty(byName.Find("zed"));
        Assert.True(byNumber.TryFind(2, out var found));
        Assert.Equal(bob, found);
        Assert.Equal([2, 1, 3], Numbers(byTide)); // Low (-2) first: the enum's signed order
        Assert.Equal([1, 3], Numbers(pool.Index<Member, short>(nameof(Member.Tide)).Find((short)Tide.High)));

        ada.Name = "zoe"; // moves its entry
        Assert.Equal([3], Numbers(byName.Find("ada")));
        Assert.Equal([1], Numbers(byName.Find("zoe")));
        bob.Name = null; // null strings are not indexed
        Assert.Equal(2, byName.Count);
        Assert.Equal(3, byNumber.Count);

        pool.Root<Club>().Members.Remove(cyd);
        pool.Delete(cyd);
        Assert.Empty(byName.Find("ada"));
        Assert.Equal([1, 2], Numbers(byNumber));

        var fresh = pool.New<Member>(); // default values: in the value indexes at once, not the string's
        pool.Root<Club>().Members.Add(fresh);
        Assert.Equal([0], Numbers(byNumber.Find(0)));
        Assert.Equal(3, byTide.Count);
        Assert.Equal(1, byName.Count);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void Range_lookups_follow_the_value_order_with_inclusive_and_exclusive_bounds()
    {
        using var pool = NewPool();
        for (var i = 1; i <= 50; i++)
        {
            Add(pool, i * 10, $"name {i % 7}");
        }

        var byNumber = pool.Index<Member, long>(nameof(Member.Number));
        Assert.Equal([100, 110, 120], Numbers(byNumber.Range(100, 130)));
        Assert.Equal([110, 120, 130], Numbers(byNumber.Range(100, 130, lowerInclusive: false, upperInclusive: true)));
        Assert.Equal([130, 120, 110, 100], Numbers(byNumber.Range(100, 130, upperInclusive: true, descending: true)));
        Assert.Equal([480, 490, 500], Numbers(byNumber.From(475)));
        Assert.Equal([10, 20], Numbers(byNumber.To(30)));
        Assert.Empty(byNumber.Range(130, 100));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => i * 10L).Reverse(), Numbers(byNumber.Reversed()));
        var names = pool.Index<Member, string>(nameof(Member.Name)).Select(m => m.Name!).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        Assert.Equal(7, pool.Index<Member, string>(nameof(Member.Name)).Find("name 0").Count); // 7, 14, … 49
    }

    [Fact]
    public void A_unique_index_refuses_a_second_holder_and_changes_nothing()
    {
        using var pool = NewPool();
        var ada = Add(pool, 1, "ada");
        var bob = Add(pool, 2, "bob");
        var error = Assert.Throws<PersistentUniqueConstraintException>(() => bob.Number = 1);
        Assert.Equal(ada.Offset, error.ExistingObject);
        Assert.Equal("Number", error.PropertyName);
        Assert.Equal(2, bob.Number);

        // Inside a transaction the violation rolls it back whole.
        Assert.ThrowsAny<Exception>(() =>
        {
            using var tx = pool.BeginTransaction();
            bob.Score = 77;
            bob.Number = 1;
            tx.Commit();
        });
        Assert.Equal((2, 0), (bob.Number, bob.Score));

        // The default value is exempt: new objects never collide before their key is set.
        var a = pool.New<Member>();
        var b = pool.New<Member>();
        pool.Root<Club>().Members.Add(a);
        pool.Root<Club>().Members.Add(b);
        Assert.Equal(2, pool.Index<Member, long>(nameof(Member.Number)).Find(0).Count);
        bob.Number = 1_000; // frees 2
        a.Number = 2;
        Assert.Equal([2], Numbers(pool.Index<Member, long>(nameof(Member.Number)).Find(2)));
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void A_rolled_back_transaction_leaves_the_indexes_as_they_were()
    {
        using var pool = NewPool();
        var ada = Add(pool, 1, "ada");
        using (var tx = pool.BeginTransaction())
        {
            ada.Name = "zoe";
            var extra = pool.New<Member>();
            extra.Number = 5;
            pool.Root<Club>().Members.Add(extra);
            Assert.Equal([1], Numbers(pool.Index<Member, string>(nameof(Member.Name)).Find("zoe"))); // the transaction sees its own changes
        }

        Assert.Equal([1], Numbers(pool.Index<Member, string>(nameof(Member.Name)).Find("ada")));
        Assert.Empty(pool.Index<Member, long>(nameof(Member.Number)).Find(5));
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void Indexes_survive_a_reopen_and_follow_the_program_when_it_adds_removes_or_changes_them()
    {
        using (var pool = NewPool())
        {
            Assert.Equal(PoolLayout.FormatVersion, pool.FormatVersion);
            for (var i = 0; i < 3_000; i++)
            {
                Add(pool, i, $"m{i % 10}", score: i % 100);
            }
        }

        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<Member>()))
        {
            Assert.Equal(300, pool.Index<Member, string>(nameof(Member.Name)).Find("m3").Count);
            SortedDictionaryTests.AssertSound(pool);
        }

        // The next program indexes Score and no longer Name: built and dropped at open, nothing leaked.
        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<MemberReindexed>()))
        {
            Assert.Equal(30, pool.Index<MemberReindexed, long>(nameof(MemberReindexed.Score)).Find(42).Count);
            Assert.Null(pool.LiveIndexes.FirstOrDefault(index => index.Property.Name == "Name"));
            var member = pool.Index<MemberReindexed, long>(nameof(MemberReindexed.Score)).Find(42)[0];
            member.Score = 4_200;
            member.Name = "renamed"; // no longer indexed: a plain write
            Assert.Single(pool.Index<MemberReindexed, long>(nameof(MemberReindexed.Score)).Find(4_200));
            SortedDictionaryTests.AssertSound(pool);
        }

        // Making Score unique while values repeat refuses the open, and the pool stays as it was: its ordinary Score
        // index is kept (it was dropped before the unique one failed to build; a read-only open shows what is stored).
        var error = Assert.Throws<PersistentUniqueConstraintException>(() => PersistentPool.Open(PoolPath, "tests", Program<MemberUniqueScore>()).Dispose());
        Assert.Equal("Score", error.PropertyName);
        using (var pool = PersistentPool.OpenReadOnly(PoolPath, "tests", Program<MemberReindexed>()))
        {
            Assert.Contains(pool.LiveIndexes, index => index.Property.Name == "Score" && !index.Slot.IsUnique);
            Assert.Equal(29, pool.Index<MemberReindexed, long>(nameof(MemberReindexed.Score)).Find(42).Count);
        }

        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<Member>()))
        {
            Assert.Equal(300, pool.Index<Member, string>(nameof(Member.Name)).Find("m3").Count);
            Assert.Null(pool.LiveIndexes.FirstOrDefault(index => index.Property.Name == "Score"));
            SortedDictionaryTests.AssertSound(pool);
        }
    }

    [Fact]
    public void Check_finds_an_index_that_disagrees_with_its_objects_and_repair_rebuilds_it()
    {
        using (var pool = NewPool())
        {
            for (var i = 0; i < 20; i++)
            {
                Add(pool, i, $"m{i}");
            }

            var victim = pool.Index<Member, long>(nameof(Member.Number)).Find(7)[0];
            pool.WriteValue(victim.Offset, 700L); // behind the index's back
            var report = pool.Check();
            Assert.Contains(report.Errors, e => e.Contains("Number") && e.Contains("another value"));

            var steps = PoolRepair.Repair(pool);
            Assert.Equal(["drop-index", "rebuild-index"], steps.Where(step => step.Kind.Contains("index")).Select(step => step.Kind));
            Assert.Contains("unique index of Tests.Member.Number rebuilt", steps.Last().Description);
            var after = pool.Check();
            Assert.True(after.IsConsistent, string.Join("; ", after.Errors));
            Assert.Single(pool.Index<Member, long>(nameof(Member.Number)).Find(700)); // in this pool, before any reopen
            Assert.Empty(pool.Index<Member, long>(nameof(Member.Number)).Find(7));
            SortedDictionaryTests.AssertSound(pool);
        }

        using (var pool = PersistentPool.Open(PoolPath, "tests", Program<Member>()))
        {
            Assert.Single(pool.Index<Member, long>(nameof(Member.Number)).Find(700)); // rebuilt from the objects
            SortedDictionaryTests.AssertSound(pool);
        }
    }

    [Fact]
    public void A_repair_of_the_file_rebuilds_its_indexes_without_the_program_and_its_next_open_builds_nothing()
    {
        long blocks;
        using (var pool = NewPool())
        {
            for (var i = 0; i < 50; i++)
            {
                Add(pool, i, $"m{i % 5}");
            }

            // What pools written before roots were filed look like: an object of the class missing from its index.
            var victim = pool.Index<Member, string>(nameof(Member.Name)).Find("m3")[0];
            pool.WriteString(victim.Offset + 8, "m9");
            Assert.Contains(pool.Check().Errors, e => e.Contains("Name"));
        }

        var result = PoolRepair.Run(PoolPath, "tests", apply: true); // as pmem check --repair --apply: no program classes
        Assert.Equal(["drop-index", "rebuild-index"], result.Actions.Where(a => a.Kind.Contains("index")).Select(a => a.Kind));
        File.Delete(result.BackupPath!);
        using (var tool = PersistentPool.Open(PoolPath, "tests"))
        {
            var report = tool.Check();
            Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
            Assert.Empty(report.Unreachable);
            Assert.Equal(0, report.DetachedObjects);
            blocks = report.AllocatedObjects;
        }

        using var program = PersistentPool.Open(PoolPath, "tests", Program<Member>());
        Assert.Equal(blocks, program.Check().AllocatedObjects); // the open found every index built: it built none
        Assert.Single(program.Index<Member, string>(nameof(Member.Name)).Find("m9"));
        Assert.Equal(9, program.Index<Member, string>(nameof(Member.Name)).Find("m3").Count);
    }

    [Fact]
    public void A_unique_index_whose_objects_now_repeat_a_value_stays_dropped_and_the_repair_says_which()
    {
        long first, second;
        using (var pool = NewPool())
        {
            for (var i = 0; i < 10; i++)
            {
                Add(pool, i + 1, $"m{i}");
            }

            first = pool.Index<Member, long>(nameof(Member.Number)).Find(3)[0].Offset;
            second = pool.Index<Member, long>(nameof(Member.Number)).Find(4)[0].Offset;
            pool.WriteValue(second, 3L); // damage: two holders of a unique value
        }

        var result = PoolRepair.Run(PoolPath, "tests", apply: true);
        var kept = Assert.Single(result.Actions, a => a.Kind == "index-not-rebuilt");
        var (low, high) = (Math.Min(first, second), Math.Max(first, second)); // found in the order of the heap's scan
        Assert.Contains($"the objects at {low} and {high} both hold 3", kept.Description);
        File.Delete(result.BackupPath!);
        using (var tool = PersistentPool.Open(PoolPath, "tests"))
        {
            Assert.True(tool.Check().IsConsistent);
        }

        // The program declaring it unique is refused, naming the holder, until one of the two changes.
        var refused = Assert.Throws<PersistentUniqueConstraintException>(() => PersistentPool.Open(PoolPath, "tests", Program<Member>()).Dispose());
        Assert.Equal(low, refused.ExistingObject);
    }

    [Fact]
    public void Index_on_a_disposed_pool_throws_at_once_as_documented()
    {
        var pool = NewPool();
        Add(pool, 1, "m1");
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Index<Member, long>(nameof(Member.Number)));
    }

    [Fact]
    public void A_compacted_pool_gets_its_indexes_rebuilt()
    {
        using (var pool = NewPool())
        {
            for (var i = 0; i < 500; i++)
            {
                Add(pool, i, $"m{i % 5}");
            }
        }

        PoolCompaction.Compact(PoolPath, "tests");
        using var compacted = PersistentPool.Open(PoolPath, "tests", Program<Member>());
        Assert.Equal(100, compacted.Index<Member, string>(nameof(Member.Name)).Find("m4").Count);
        Assert.Equal([250], Numbers(compacted.Index<Member, long>(nameof(Member.Number)).Find(250)));
        SortedDictionaryTests.AssertSound(compacted);
    }

    [Fact]
    public void Threads_changing_indexed_properties_at_once_keep_the_index_whole()
    {
        using var pool = NewPool();
        var members = Enumerable.Range(0, 40).Select(i => Add(pool, i + 1, "start")).ToArray();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            for (var i = 0; i < 300; i++)
            {
                var member = members[t * 10 + random.Next(10)];
                member.Name = $"t{t} n{random.Next(20)}";
                member.Tide = (Tide)(random.Next(3) switch { 0 => -2, 1 => 0, _ => 3 });
                _ = pool.Index<Member, string>(nameof(Member.Name)).Find($"t{(t + 1) % 4} n1");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(40, pool.Index<Member, string>(nameof(Member.Name)).Count);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void Index_names_a_property_that_is_not_indexed_or_of_another_type()
    {
        using var pool = NewPool();
        Assert.Contains("Number, Name, Tide, Key", Assert.Throws<ArgumentException>(() => pool.Index<Member, long>(nameof(Member.Score))).Message);
        Assert.Contains("System.Int64", Assert.Throws<ArgumentException>(() => pool.Index<Member, int>(nameof(Member.Number))).Message);
    }
}
