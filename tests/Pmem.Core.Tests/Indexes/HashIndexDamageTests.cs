// HashIndexDamageTests -- a hashed index's table capacity or counts damaged: use throws PoolCorruptedException (never hangs or sizes a list from a wild count).
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;
using Pmem.Tooling;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Damage an outside fuzzer found in hashed indexes: a table capacity that is not a power of two made the third
/// indexed set probe forever under the index lock; a shared tree count of int.MinValue or int.MaxValue made
/// enumerating the index throw ArgumentOutOfRangeException or OutOfMemoryException. Both are now
/// <see cref="PoolCorruptedException"/>, reported by check and mended by repair (which drops the index for a rebuild).
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class HashIndexDamageTests : HashIndexTestBase
{
    private static readonly PoolOpenOptions Program = new() { Types = [HashedMember.PersistentType, HashedClub.PersistentType] };

    private static IndexSlot NameSlot(PersistentPool pool) => pool.LiveIndexes.Single(index => index.Property.Name == nameof(HashedMember.Name)).Slot;

    /// <summary>A pool of 20 members, 5 sharing the name "shared", whose Name index <paramref name="damage"/> changes behind its back.</summary>
    private void CreateDamaged(Action<PersistentPool, IndexSlot> damage)
    {
        using var pool = NewPool();
        for (var i = 0; i < 20; i++)
        {
            Add(pool, i, i % 4 == 0 ? "shared" : $"m{i}");
        }

        damage(pool, NameSlot(pool));
    }

    [Fact]
    public void A_table_capacity_that_is_not_a_power_of_two_is_refused_instead_of_hanging_an_indexed_set()
    {
        CreateDamaged((pool, slot) =>
        {
            var table = pool.Domain.Read<long>(slot.TreeWord);
            Assert.Equal(32L, pool.Domain.Read<long>(table + CollectionLayout.CapacityOffset));
            pool.Domain.WriteDurable(table + CollectionLayout.CapacityOffset, 20L);
        });

        using (var pool = PersistentPool.Open(PoolPath, "tests", Program))
        {
            Assert.Contains(pool.Check().Errors, error => error.Contains("not a power of two", StringComparison.Ordinal));
            var members = pool.Root<HashedClub>().Members;
            var set = Task.Run(() =>
            {
                for (var i = 0; i < members.Count; i++)
                {
                    members[i]!.Name = $"renamed {i}";
                }
            });
            Assert.True(Task.WhenAny(set, Task.Delay(TimeSpan.FromSeconds(30))).Result == set, "an indexed set hung on the damaged table");
            Assert.IsType<PoolCorruptedException>(set.Exception?.InnerException);
            Assert.Throws<PoolCorruptedException>(() => pool.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("m1"));

            Assert.Contains(PoolRepair.Repair(pool), step => step.Kind == "drop-index");
        }

        using (var pool = PersistentPool.Open(PoolPath, "tests", Program))
        {
            Assert.Single(pool.Index<HashedMember, string>(nameof(HashedMember.Name)).Find("m1")); // rebuilt from the objects
            Assert.True(pool.Check().IsConsistent);
        }
    }

    [Theory]
    [InlineData(int.MinValue)]
    [InlineData(int.MaxValue)]
    public void A_wild_shared_tree_count_is_refused_with_PoolCorruptedException_when_enumerating(int damaged)
    {
        CreateDamaged((pool, slot) =>
        {
            var shared = pool.Domain.Read<long>(slot.SharedTreeWord);
            Assert.Equal(5L, pool.Domain.Read<long>(shared + CollectionLayout.CountOffset));
            pool.Domain.WriteDurable(shared + CollectionLayout.CountOffset, damaged); // the low half, as the fuzzer's u32 write
        });

        using var pool = PersistentPool.Open(PoolPath, "tests", Program);
        var byName = pool.Index<HashedMember, string>(nameof(HashedMember.Name));
        var refused = Assert.Throws<PoolCorruptedException>(() => byName.ToList());
        Assert.Contains(PoolPath, refused.Message, StringComparison.Ordinal);
        Assert.Contains("Name", refused.Message, StringComparison.Ordinal);
        Assert.Throws<PoolCorruptedException>(() => byName.Count);
        Assert.False(pool.Check().IsConsistent);
    }

    [Fact]
    public void A_shared_values_count_larger_than_the_table_is_refused()
    {
        CreateDamaged((pool, slot) => pool.Domain.WriteDurable(slot.SharedValuesWord, 1_000L));

        using var pool = PersistentPool.Open(PoolPath, "tests", Program);
        Assert.Throws<PoolCorruptedException>(() => pool.Index<HashedMember, string>(nameof(HashedMember.Name)).ToList());
    }
}
