using Pmem.Heap;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

public sealed class PoolTests
{
    private const string LayoutName = "tests";
    private const long PoolSize = 4 << 20;

    private static PersistentPool NewPool(long size = PoolSize, long capacity = 0, long maxSize = 0) =>
        PersistentPool.Create(MemoryDomain.Create(size, capacity), LayoutName, new PoolCreateOptions { MaxSize = maxSize });

    private static T AttachAt<T>(PersistentPool pool, long offset) where T : PersistentObject, IPersistentObject<T> =>
        T.Attach(new ObjectHandle(pool, offset));

    private static PersistentPool Reopen(PersistentPool pool)
    {
        var image = ((MemoryDomain)pool.Domain).ToArray();
        pool.Dispose();
        return PersistentPool.Open(MemoryDomain.FromImage(image), LayoutName);
    }

    [Fact]
    public void A_full_type_table_is_refused_naming_the_way_to_a_pool_with_only_the_layouts_in_use()
    {
        using var pool = NewPool();
        var root = pool.Root<Account>();
        var full = Assert.Throws<PoolException>(() =>
        {
            for (var i = 0; i <= PoolLayout.TypeTableCapacity; i++)
            {
                pool.TypeIndex(new PersistentTypeInfo($"Kind{i}", 64, (ulong)i + 1, []));
            }
        });
        Assert.Contains("the type table is full (256 types", full.Message);
        Assert.Contains("pmem export, then pmem import", full.Message);
        root.Balance = 1; // a type recorded before stays usable
        Assert.Equal(1, pool.Root<Account>().Balance);
    }

    [Fact]
    public void Values_of_every_width_survive_a_reopen()
    {
        var pool = NewPool();
        var root = pool.Root<Account>();
        var id = Guid.NewGuid();
        root.Balance = 42;
        root.Counter = -7;
        root.Id = id;
        root.Amount = 1234.5678m;
        root.Owner = "Ada";
        pool = Reopen(pool);
        var reopened = pool.Root<Account>();
        Assert.Equal((42L, -7, id, 1234.5678m, "Ada"), (reopened.Balance, reopened.Counter, reopened.Id, reopened.Amount, reopened.Owner));
        pool.Dispose();
    }

    [Fact]
    public void Root_is_created_once_and_keeps_its_identity()
    {
        using var pool = NewPool();
        var first = pool.Root<Account>();
        var second = pool.Root<Account>();
        Assert.Equal(first, second);
        Assert.Equal(1, pool.GetStatistics().ObjectsPerType["Tests.Account"]);
    }

    [Fact]
    public void Root_of_another_type_throws()
    {
        using var pool = NewPool();
        pool.Root<Account>();
        var error = Assert.Throws<PersistentTypeMismatchException>(() => pool.Root<Ledger>());
        Assert.Contains("Tests.Account", error.Message);
    }

    [Fact]
    public void Changed_layout_of_a_stored_type_is_refused()
    {
        using var pool = NewPool();
        pool.New<Account>();
        var error = Assert.Throws<PersistentLayoutMismatchException>(() => pool.New<AccountV2>());
        Assert.Equal("Tests.Account", error.TypeName);
    }

    [Fact]
    public void References_resolve_and_null_is_allowed()
    {
        using var pool = NewPool();
        var ledger = pool.Root<Ledger>();
        Assert.Null(ledger.First);
        var account = pool.New<Account>();
        account.Balance = 5;
        ledger.First = account;
        Assert.Equal(5, ledger.First!.Balance);
        ledger.First = null;
        Assert.Null(ledger.First);
    }

    [Fact]
    public void Reading_a_reference_as_the_wrong_type_throws()
    {
        using var pool = NewPool();
        var ledger = pool.Root<Ledger>();
        var other = pool.New<Ledger>();
        // Write a Ledger's offset into an Account-typed slot, as corrupted data or a buggy migration would.
        pool.Domain.WriteDurable(ledger.Offset + 0, other.Offset);
        var error = Assert.Throws<PersistentTypeMismatchException>(() => ledger.First);
        Assert.Contains("Tests.Ledger", error.Message);
    }

    [Fact]
    public void A_reference_to_an_unallocated_offset_throws()
    {
        using var pool = NewPool();
        var ledger = pool.Root<Ledger>();
        pool.Domain.WriteDurable(ledger.Offset + 0, ledger.Offset + 64);
        Assert.Throws<PersistentDanglingReferenceException>(() => ledger.First); // a PersistentTypeMismatchException
    }

    [Fact]
    public void A_reference_to_another_pool_is_refused()
    {
        using var pool = NewPool();
        using var other = NewPool();
        var account = other.New<Account>();
        Assert.Throws<ArgumentException>(() => pool.Root<Ledger>().First = account);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(27)]
    [InlineData(5000)]
    [InlineData(40000)] // past the largest run class: a whole-chunk allocation
    public void Strings_of_any_length_round_trip(int length)
    {
        using var pool = NewPool();
        var text = new string(Enumerable.Range(0, length).Select(i => (char)('a' + i % 26)).ToArray());
        var root = pool.Root<Account>();
        root.Owner = text;
        Assert.Equal(text, root.Owner);
    }

    [Fact]
    public void Replacing_a_string_frees_the_old_one()
    {
        using var pool = NewPool();
        var root = pool.Root<Account>();
        root.Owner = "first";
        var before = pool.GetStatistics().ObjectCount;
        for (var i = 0; i < 100; i++)
        {
            root.Owner = $"value {i}";
        }

        Assert.Equal(before, pool.GetStatistics().ObjectCount);
        root.Owner = null;
        Assert.Null(root.Owner);
        Assert.Equal(before - 1, pool.GetStatistics().ObjectCount);
    }

    [Fact]
    public void Delete_frees_the_object_and_its_strings_but_not_what_it_references()
    {
        using var pool = NewPool();
        var ledger = pool.Root<Ledger>();
        var account = pool.New<Account>();
        var doomed = pool.New<Ledger>();
        doomed.Name = "owned";
        doomed.First = account;
        var before = pool.GetStatistics().ObjectCount;
        pool.Delete(doomed);
        Assert.Equal(before - 2, pool.GetStatistics().ObjectCount);
        ledger.First = account;
        Assert.True(pool.Check().IsConsistent);
        Assert.Throws<PersistentDanglingReferenceException>(() => pool.Delete(doomed)); // deleted already
    }

    [Fact]
    public void Grow_adds_room_and_survives_a_reopen()
    {
        var pool = NewPool(PoolSize, capacity: 16 << 20);
        pool.Grow(12 << 20);
        Assert.True(pool.Size >= 12 << 20);
        var big = new string('x', 3 << 20); // 6 MiB of UTF-16: only fits after growing
        pool.Root<Account>().Owner = big;
        pool = Reopen(pool);
        Assert.Equal(big, pool.Root<Account>().Owner);
        pool.Dispose();
    }

    [Fact]
    public void A_pool_with_a_maximum_size_grows_by_itself()
    {
        using var pool = NewPool(PoolSize, capacity: 32 << 20, maxSize: 32 << 20);
        pool.Root<Account>().Owner = new string('y', 5 << 20);
        Assert.True(pool.Size > PoolSize);
        Assert.True(pool.Check().IsConsistent);
    }

    [Fact]
    public void Statistics_count_objects_per_type()
    {
        using var pool = NewPool();
        pool.Root<Ledger>().Name = "root";
        for (var i = 0; i < 10; i++)
        {
            pool.New<Account>();
        }

        var stats = pool.GetStatistics();
        Assert.Equal(10, stats.ObjectsPerType["Tests.Account"]);
        Assert.Equal(1, stats.ObjectsPerType["Tests.Ledger"]);
        Assert.Equal(1, stats.ObjectsPerType["string"]);
        Assert.Equal(12, stats.ObjectCount);
        Assert.Equal(pool.Size, stats.PoolSize);
    }

    [Fact]
    public void Stored_types_record_name_size_and_fields()
    {
        using var pool = NewPool();
        pool.New<Ledger>();
        var type = Assert.Single(pool.StoredTypes);
        Assert.Equal(("Tests.Ledger", 128, 0x1ED6E5UL, 3), (type.Name, type.Size, type.LayoutHash, type.Fields.Count));
    }
}
