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

/// <summary>A key held by two entries of one table (a damaged or half-copied table): check finds it, repair keeps the one lookups find.</summary>
public sealed class DictionaryDuplicateKeyTests
{
    private const string LayoutName = "tests";

    /// <summary>The image of a pool filled by <paramref name="fill"/> and closed (no log left to replay over the damage).</summary>
    private static MemoryDomain Pool(Action<Registry> fill, out long header, Func<Registry, long> dictionary)
    {
        var created = MemoryDomain.Create(4 << 20);
        created.KeepImage = true;
        using (var pool = PersistentPool.Create(created, LayoutName))
        {
            var root = pool.Root<Registry>();
            fill(root);
            header = dictionary(root);
        }

        return MemoryDomain.FromImage(created.ImageAtDispose!);
    }

    /// <summary>A pool whose root's Counters hold 0 → 0, 1 → 10, … 39 → 390.</summary>
    private static MemoryDomain CountersPool(out long header) => Pool(root =>
    {
        for (var i = 0; i < 40; i++)
        {
            root.Counters[i] = i * 10;
        }
    }, out header, root => root.Counters.Offset);

    private static long Slot(MemoryDomain domain, long header, long slot, int entrySize) =>
        domain.Read<long>(header + CollectionLayout.StorageOffset) + slot * entrySize;

    /// <summary>The slot of the entry whose key slot holds <paramref name="key"/>, and the first empty slot after it.</summary>
    private static (long Entry, long EndOfRun) Find(MemoryDomain domain, long header, Func<long, bool> isKey, int entrySize)
    {
        var capacity = domain.Read<long>(header + CollectionLayout.CapacityOffset);
        for (long slot = 0; slot < capacity; slot++)
        {
            var entry = Slot(domain, header, slot, entrySize);
            if (domain.Read<ulong>(entry) > 1 && isKey(entry + 8))
            {
                var end = slot;
                while (domain.Read<ulong>(Slot(domain, header, end, entrySize)) != 0)
                {
                    end = (end + 1) % capacity;
                }

                return (entry, Slot(domain, header, end, entrySize));
            }
        }

        throw new InvalidOperationException("no such key");
    }

    [Fact]
    public void A_raw_key_in_two_entries_is_reported_and_repair_keeps_the_entry_lookups_find()
    {
        var domain = CountersPool(out var header);

        // A second entry of key 7 at the end of its probe run, value 999; the counts include it.
        var (entry, end) = Find(domain, header, key => domain.Read<long>(key) == 7, 24);
        domain.Copy(end, domain.GetSpan(entry, 24).ToArray());
        domain.Write(end + 16, 999L);
        domain.Write(header + CollectionLayout.CountOffset, 41L);
        domain.Write(header + CollectionLayout.UsedOffset, domain.Read<long>(header + CollectionLayout.UsedOffset) + 1);
        using var pool = PersistentPool.Open(domain, LayoutName);
        var counters = pool.Root<Registry>().Counters;
        Assert.Equal(70, counters[7]);
        Assert.Equal(2, counters.Count(pair => pair.Key == 7)); // what the damage does to enumeration

        var error = Assert.Single(pool.Check().Errors);
        Assert.Contains($"the dictionary at {header} holds one key in two entries, at {entry} and {end}", error, StringComparison.Ordinal);

        var step = Assert.Single(PoolRepair.Repair(pool));
        Assert.Equal("rebuild-dictionary", step.Kind);
        Assert.Contains("1 entry of a key held earlier dropped", step.Description, StringComparison.Ordinal);
        Assert.True(pool.Check().IsConsistent, string.Join("; ", pool.Check().Errors));
        counters = pool.Root<Registry>().Counters;
        Assert.Equal(40, counters.Count);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => KeyValuePair.Create((long)i, i * 10L)), counters.OrderBy(pair => pair.Key));
    }

    [Fact]
    public void A_key_repeated_through_a_long_probe_run_is_found()
    {
        var domain = CountersPool(out var header);

        // Key 7's entry copied into the twelve slots after its run (more than a short run's pairwise comparison covers).
        var (entry, end) = Find(domain, header, key => domain.Read<long>(key) == 7, 24);
        var storage = domain.Read<long>(header + CollectionLayout.StorageOffset);
        var capacity = domain.Read<long>(header + CollectionLayout.CapacityOffset);
        for (var k = 0; k < 12; k++)
        {
            domain.Copy(storage + ((end - storage) / 24 + k) % capacity * 24, domain.GetSpan(entry, 24).ToArray());
        }

        using var pool = PersistentPool.Open(domain, LayoutName);
        Assert.Contains(pool.Check().Errors, error => error.Contains($"the dictionary at {header} holds one key in two entries, at {entry} and {end}", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_string_keys_with_equal_characters_in_separate_blocks_are_one_key()
    {
        var domain = Pool(root =>
        {
            for (var i = 0; i < 40; i++)
            {
                root.Names[$"name {i}"] = $"value {i}";
            }

            root.Names["dupA"] = "first";
            root.Names["dupB"] = "second";
        }, out var header, root => root.Names.Offset);

        bool Is(long keySlot, string text)
        {
            var block = domain.Read<long>(keySlot);
            return domain.Read<int>(block + StringLayout.LengthOffset) == text.Length &&
                domain.GetSpan(block + StringLayout.CharsOffset, text.Length * 2).SequenceEqual(MemoryMarshal.AsBytes(text.AsSpan()));
        }

        // dupB's entry becomes a second "dupA": its string's characters rewritten, dupA's hash, moved to the end of dupA's run.
        var (a, end) = Find(domain, header, key => Is(key, "dupA"), 24);
        var (b, _) = Find(domain, header, key => Is(key, "dupB"), 24);
        var moved = domain.GetSpan(b, 24).ToArray();
        domain.Write(b, 1UL); // a removed entry: the run it was in stays whole
        domain.Copy(end, moved);
        domain.Write(end, domain.Read<ulong>(a));
        var bKey = domain.Read<long>(end + 8);
        domain.Copy(bKey + StringLayout.CharsOffset, MemoryMarshal.AsBytes("dupA".AsSpan()).ToArray());
        domain.Write(header + CollectionLayout.UsedOffset, domain.Read<long>(header + CollectionLayout.UsedOffset) + 1);
        using var pool = PersistentPool.Open(domain, LayoutName);
        Assert.Equal("first", pool.Root<Registry>().Names["dupA"]);

        Assert.Contains(pool.Check().Errors, error => error.Contains($"holds one key in two entries, at {a} and {end}", StringComparison.Ordinal));
        var steps = PoolRepair.Repair(pool);
        Assert.Equal("rebuild-dictionary", steps[0].Kind);
        Assert.Equal(2, steps.Count(step => step.Kind == "free-unreachable")); // the dropped entry's key and value strings
        Assert.True(pool.Check().IsConsistent, string.Join("; ", pool.Check().Errors));
        var names = pool.Root<Registry>().Names;
        Assert.Equal(41, names.Count);
        Assert.Equal("first", names["dupA"]);
        Assert.False(names.ContainsKey("dupB"));
    }
}
