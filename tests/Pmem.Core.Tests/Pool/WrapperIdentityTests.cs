using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

/// <summary>The documented decision: wrappers are handles (equal by pool and offset), not identities.</summary>
public sealed class WrapperIdentityTests
{
    [Fact]
    public void Two_reads_of_one_reference_give_equal_but_distinct_wrappers()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        var root = pool.Root<Ledger>();
        root.First = pool.New<Account>();

        var first = root.First!;
        var again = root.First!;

        Assert.NotSame(first, again);
        Assert.Equal(first, again);
        Assert.Equal(first.GetHashCode(), again.GetHashCode());
        Assert.NotSame(pool.Root<Ledger>(), root);
        Assert.Equal(pool.Root<Ledger>(), root);
    }

    [Fact]
    public void Wrappers_of_different_objects_or_pools_differ()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        using var other = PersistentPool.Create(MemoryDomain.Create(4 << 20), "tests");
        var a = pool.New<Account>();
        var b = pool.New<Account>();
        var elsewhere = other.New<Account>();

        Assert.NotEqual(a, b);
        Assert.Equal(a.Offset, elsewhere.Offset); // the same first block in two fresh pools
        Assert.NotEqual<PersistentObject>(a, elsewhere);
    }
}
