// Check against the schema: a collection property whose word names a collection of another kind is damage.
using Pmem.Pool;
using Pmem.Tests.Pool;
using Pmem.Tests.Schema;
using Pmem.Tooling;

namespace Pmem.Tests.Tooling;

/// <summary>
/// Two collection words swapped (an outside fuzzer's damage): each names an allocated collection with one owner, so
/// the graph looked sound, but the program reads the property as its declared kind and refuses the other. Check now
/// compares each collection with its property's stored type, and repair drops what the program cannot read.
/// </summary>
public sealed class CollectionKindCheckTests
{
    private static byte[] Swapped(byte[] image, long first, long second)
    {
        var damaged = (byte[])image.Clone();
        var (a, b) = (BitConverter.ToInt64(image, (int)first), BitConverter.ToInt64(image, (int)second));
        BitConverter.GetBytes(b).CopyTo(damaged, (int)first);
        BitConverter.GetBytes(a).CopyTo(damaged, (int)second);
        return damaged;
    }

    [Fact]
    public void A_list_word_naming_a_sorted_dictionary_is_reported_and_repair_drops_both()
    {
        var image = SchemaEvolutionTests.WriteV1();
        long root;
        using (var pool = SchemaEvolutionTests.Open(image, new PoolOpenOptions()))
        {
            root = pool.Root<Directory<PersonV1>>().Offset;
            Assert.True(pool.Check().IsConsistent);
        }

        // Directory: People (list<reference>) at +8, ByAge (sorted<System.Int64,reference>) at +24.
        var damaged = Swapped(image, root + 8, root + 24);
        using var damagedPool = SchemaEvolutionTests.Open(damaged, new PoolOpenOptions());
        var errors = damagedPool.Check().Errors;
        Assert.Contains(errors, error => error.Contains($"Tests.Directory at {root}: its list property points to {BitConverter.ToInt64(image, (int)root + 24)}, a (sorted dictionary)", StringComparison.Ordinal));
        Assert.Contains(errors, error => error.Contains("its sorted collection property points to", StringComparison.Ordinal));

        PoolRepair.Repair(damagedPool);
        Assert.True(damagedPool.Check().IsConsistent, string.Join("; ", damagedPool.Check().Errors));
        Assert.Empty(damagedPool.Root<Directory<PersonV1>>().People); // unreadable as declared: dropped, not left to throw on every read
    }

    [Fact]
    public void A_list_of_strings_where_the_schema_has_a_list_of_references_is_reported()
    {
        var image = SchemaEvolutionTests.WriteV1();
        long root, person;
        using (var pool = SchemaEvolutionTests.Open(image, new PoolOpenOptions()))
        {
            var directory = pool.Root<Directory<PersonV1>>();
            (root, person) = (directory.Offset, directory.People[0]!.Offset);
        }

        // The directory's People (list<reference>) and a person's Tags (list<string>): one family, other element kinds.
        using var pool2 = SchemaEvolutionTests.Open(Swapped(image, root + 8, person + 32), new PoolOpenOptions());
        Assert.Contains(pool2.Check().Errors, error => error.Contains("a list of other element kinds (String where the schema has Reference)", StringComparison.Ordinal));
    }
}
