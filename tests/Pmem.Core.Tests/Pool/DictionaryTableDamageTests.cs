// DictionaryTableDamageTests -- a dictionary's table damaged (capacity, stored hashes, free slots): check reports it, use refuses it, repair keeps every entry.
using System.Runtime.InteropServices;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tooling;

namespace Pmem.Tests.Pool;

/// <summary>
/// Damage to a dictionary's table that its header check once missed: a capacity that is not a power of two (inserts
/// probed forever), a flipped bit in a stored hash (the key unfindable, then duplicated), a table with no free slot.
/// Each is reported by <see cref="PersistentPool.Check"/>, refused with <see cref="PoolCorruptedException"/> on use,
/// and repaired without losing an entry.
/// </summary>
public sealed class DictionaryTableDamageTests
{
    private const string LayoutName = "tests";
    private const int Names = 40; // a table of 128 slots

    /// <summary>A pool whose root's Names dictionary holds <see cref="Names"/> entries, damaged by <paramref name="damage"/>, then reopened.</summary>
    private static PersistentPool Damaged(Action<MemoryDomain, long> damage, out long header)
    {
        byte[] image;
        using (var pool = PersistentPool.Create(MemoryDomain.Create(4 << 20), LayoutName))
        {
            var root = pool.Root<Registry>();
            for (var i = 0; i < Names; i++)
            {
                root.Names[$"name {i}"] = $"value {i}";
            }

            header = root.Names.Offset;
            image = ((MemoryDomain)pool.Domain).ToArray();
        }

        var domain = MemoryDomain.FromImage(image);
        damage(domain, header);
        return PersistentPool.Open(domain, LayoutName);
    }

    private static long Entry(MemoryDomain domain, long header, int slot) =>
        domain.Read<long>(header + CollectionLayout.StorageOffset) + slot * 24L; // hash, key, value: 8 bytes each

    private static string KeyAt(MemoryDomain domain, long entry)
    {
        var text = domain.Read<long>(entry + 8);
        var length = domain.Read<int>(text + StringLayout.LengthOffset);
        return new string(MemoryMarshal.Cast<byte, char>(domain.GetSpan(text + StringLayout.CharsOffset, length * 2)));
    }

    private static void AssertAllNamesKept(PersistentPool pool)
    {
        var names = pool.Root<Registry>().Names;
        Assert.Equal(Names, names.Count);
        for (var i = 0; i < Names; i++)
        {
            Assert.True(names.TryGetValue($"name {i}", out var value), $"name {i}");
            Assert.Equal($"value {i}", value);
        }

        Assert.Equal(Names, names.Count());
    }

    [Fact]
    public void A_capacity_that_is_not_a_power_of_two_is_reported_refused_and_restored_by_repair()
    {
        using var pool = Damaged((domain, header) =>
        {
            Assert.Equal(128L, domain.Read<long>(header + CollectionLayout.CapacityOffset));
            domain.Write(header + CollectionLayout.CapacityOffset, 100L); // the outside fuzzer's case: inserts looped forever
        }, out var header);

        Assert.Contains(pool.Check().Errors, error => error.Contains($"dictionary at {header} has a capacity of 100, not a power of two", StringComparison.Ordinal));
        var refused = Assert.Throws<PoolCorruptedException>(() => pool.Root<Registry>().Names["another"] = "value");
        Assert.Contains("not a power of two", refused.Message, StringComparison.Ordinal);

        var steps = PoolRepair.Repair(pool);

        // Entries past slot 100 are live: repair must not count them unreachable and free their strings.
        Assert.Contains(steps, step => step.Kind == "rebuild-dictionary");
        Assert.DoesNotContain(steps, step => step.Kind is "free-unreachable" or "drop-collection");
        Assert.True(pool.Check().IsConsistent, string.Join("; ", pool.Check().Errors));
        using var reopened = PersistentPool.Open(MemoryDomain.FromImage(((MemoryDomain)pool.Domain).ToArray()), LayoutName);
        AssertAllNamesKept(reopened);
        reopened.Root<Registry>().Names["another"] = "value";
        Assert.Equal(Names + 1, reopened.Root<Registry>().Names.Count);
    }

    [Fact]
    public void A_flipped_bit_in_a_stored_hash_is_reported_and_repair_rehashes_the_entry()
    {
        string? flippedKey = null;
        using var pool = Damaged((domain, header) =>
        {
            for (var slot = 0; flippedKey is null; slot++)
            {
                var entry = Entry(domain, header, slot);
                if (domain.Read<ulong>(entry) is var hash and > 1)
                {
                    domain.Write(entry, hash ^ (1UL << 6));
                    flippedKey = KeyAt(domain, entry);
                }
            }
        }, out var header);

        Assert.False(pool.Root<Registry>().Names.ContainsKey(flippedKey!)); // what the damage does to lookups
        Assert.Contains(pool.Check().Errors, error => error.Contains($"dictionary at {header} stores hash", StringComparison.Ordinal));

        var steps = PoolRepair.Repair(pool);

        Assert.Equal("rebuild-dictionary", Assert.Single(steps).Kind);
        Assert.True(pool.Check().IsConsistent, string.Join("; ", pool.Check().Errors));
        AssertAllNamesKept(pool);
        pool.Root<Registry>().Names[flippedKey!] = "again"; // overwrites: no duplicate key
        Assert.Equal(Names, pool.Root<Registry>().Names.Count);
    }

    [Fact]
    public void An_entry_moved_past_an_empty_slot_from_its_home_is_reported()
    {
        using var pool = Damaged((domain, header) =>
        {
            // Move one entry to the next empty slot after an empty one: its hash stays right, probing cannot reach it.
            var capacity = domain.Read<long>(header + CollectionLayout.CapacityOffset);
            for (var slot = 0; slot < capacity; slot++)
            {
                var entry = Entry(domain, header, slot);
                var next = Entry(domain, header, (int)((slot + 1) % capacity));
                var after = Entry(domain, header, (int)((slot + 2) % capacity));
                if (domain.Read<ulong>(entry) > 1 && (domain.Read<ulong>(entry) & (ulong)(capacity - 1)) == (ulong)slot &&
                    domain.Read<ulong>(next) == 0 && domain.Read<ulong>(after) == 0)
                {
                    domain.Copy(after, domain.GetSpan(entry, 24).ToArray());
                    domain.Copy(entry, new byte[24]);
                    return;
                }
            }

            Assert.Fail("no entry at its home slot followed by two empty slots");
        }, out var header);

        Assert.Contains(pool.Check().Errors, error => error.Contains($"dictionary at {header} holds its entry", StringComparison.Ordinal));
        Assert.Equal("rebuild-dictionary", Assert.Single(PoolRepair.Repair(pool)).Kind);
        AssertAllNamesKept(pool);
    }

    [Fact]
    public void An_insert_into_a_table_with_no_free_slot_throws_instead_of_probing_forever()
    {
        using var pool = Damaged((domain, header) =>
        {
            var capacity = domain.Read<long>(header + CollectionLayout.CapacityOffset);
            for (var slot = 0; slot < capacity; slot++)
            {
                if (domain.Read<ulong>(Entry(domain, header, slot)) == 0)
                {
                    domain.Write(Entry(domain, header, slot), 0x1000UL); // live-looking entries with null keys
                }
            }
        }, out var header);

        var refused = Assert.Throws<PoolCorruptedException>(() => pool.Root<Registry>().Names["another"] = "value");
        Assert.Contains($"dictionary at {header}", refused.Message, StringComparison.Ordinal);
        Assert.False(pool.Check().IsConsistent);
    }
}
