// String index keys with inline prefixes: the prefix code's order, lookups where prefixes decide and where they cannot, the former layout, damage.
using System.Text;
using Pmem.Memory;
using Pmem.Tests.Pool;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>
/// A string index keeps each key's first characters in its slot (<see cref="StringKeyPrefix"/>) and reads the string
/// only when two prefixes are full and equal. The code must order exactly as <see cref="string.CompareOrdinal(string, string)"/>
/// for every UTF-16 unit (ASCII, two- and three-byte codes, NUL, lone surrogates) and for strings cut at any byte.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class StringPrefixTests : IDisposable
{
    // Units at every boundary of the code: NUL, the last one-byte unit, the first two-byte ones, the last two-byte and
    // first three-byte ones, surrogates and the largest unit.
    private static readonly char[] Units = ['\0', 'a', 'b', 'z', '\u007E', '\u007F', '\u0080', '\u00FF', '\u0100', '\u3FFF', '\u4000', '\uD800', '\uDC00', '\uFFFF'];

    private readonly string _directory = Directory.CreateDirectory(
        Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"pmem-prefix-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PoolPath => Path.Combine(_directory, "club.pool");

    private static string RandomString(Random random)
    {
        var text = new StringBuilder(random.Next(3) == 0 ? "a shared beginning longer than any prefix " : "");
        for (var i = random.Next(0, 14); i > 0; i--)
        {
            text.Append(Units[random.Next(Units.Length)]);
        }

        return text.ToString();
    }

    private static byte[] Prefix(string text)
    {
        var prefix = new byte[StringKeyPrefix.Size];
        StringKeyPrefix.Encode(text, prefix);
        return prefix;
    }

    [Fact]
    public void Prefixes_order_as_ordinal_comparison_and_are_undecided_only_when_both_are_cut_and_equal()
    {
        var random = new Random(15);
        var undecided = 0;
        for (var i = 0; i < 50_000; i++)
        {
            var (a, b) = (RandomString(random), random.Next(4) == 0 ? "" : RandomString(random));
            if (random.Next(5) == 0)
            {
                b = a[..random.Next(a.Length + 1)] + RandomString(random); // a shared beginning of any length
            }

            var stored = Prefix(a);
            var c = StringKeyPrefix.Compare(stored, StringKeyPrefix.Of(b));
            if (c == StringKeyPrefix.Undecided)
            {
                undecided++;
                Assert.Equal(StringKeyPrefix.Truncated, stored[^1]);
                Assert.Equal(stored, Prefix(b));
            }
            else
            {
                Assert.True(Math.Sign(string.CompareOrdinal(a, b)) == Math.Sign(c), $"\"{Escape(a)}\" against \"{Escape(b)}\": prefix says {c}");
            }
        }

        Assert.InRange(undecided, 1, 49_999); // both outcomes met
        Assert.Equal(0, StringKeyPrefix.Compare(Prefix("customer-0123456"), StringKeyPrefix.Of("customer-0123456")));
        Assert.Equal(StringKeyPrefix.Truncated, Prefix(new string('x', 24))[^1]);
        Assert.Equal(23, Prefix(new string('x', 23))[^1]);
    }

    private static string Escape(string text) => string.Concat(text.Select(c => c is >= ' ' and < '\u007F' ? c.ToString() : $"\\u{(int)c:X4}"));

    /// <summary>Names whose order the prefixes decide, and names they cannot: long shared beginnings, non-ASCII units, one name a prefix of another.</summary>
    private static List<string> Names()
    {
        var random = new Random(3);
        var names = new HashSet<string>(StringComparer.Ordinal) { "", "\0", "a", "a\0", "ab", new string('q', 23), new string('q', 24), new string('q', 25) };
        while (names.Count < 400)
        {
            names.Add(RandomString(random));
        }

        return [.. names];
    }

    private static void Fill(PersistentPool pool, List<string> names)
    {
        for (var start = 0; start < names.Count; start += 100)
        {
            using var tx = pool.BeginTransaction();
            for (var i = start; i < Math.Min(start + 100, names.Count); i++)
            {
                foreach (var copy in new[] { 0, 1 }) // two holders of each name: a value's entries are a range
                {
                    var member = pool.New<Member>();
                    (member.Number, member.Name) = (i * 2 + copy, names[i]);
                    pool.Root<Club>().Members.Add(member);
                }
            }

            tx.Commit();
        }
    }

    private static int KeyOrderOfNames(PersistentPool pool) =>
        pool.Domain.Read<int>(pool.Domain.Read<long>(pool.LiveIndexes.Single(i => i.Property.Name == nameof(Member.Name)).Slot.TreeWord) + SortedLayout.KeyOrderOffset);

    /// <summary>Every name found with its two holders, and the range between each pair of neighbouring names (both bounds exclusive) empty.</summary>
    private static void AssertLookups(PersistentPool pool, List<string> names)
    {
        var index = pool.Index<Member, string>(nameof(Member.Name));
        Assert.Equal(names.Count * 2, index.Count);
        var sorted = names.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(sorted.SelectMany(n => new[] { n, n }), index.Select(m => m.Name));
        for (var i = 0; i < sorted.Count; i++)
        {
            var found = index.Find(sorted[i]);
            Assert.Equal(2, found.Count);
            Assert.All(found, m => Assert.Equal(sorted[i], m.Name));
            if (i + 1 < sorted.Count)
            {
                Assert.Empty(index.Range(sorted[i], sorted[i + 1], lowerInclusive: false, upperInclusive: false));
                Assert.Equal(4, index.Range(sorted[i], sorted[i + 1], lowerInclusive: true, upperInclusive: true).Count);
            }

            if (!names.Contains(sorted[i] + "\0\0"))
            {
                Assert.Empty(index.Find(sorted[i] + "\0\0")); // just above the name, below anything longer
            }
        }
    }

    [Fact]
    public void Lookups_among_names_the_prefixes_cannot_tell_apart_match_the_ordinal_order_and_the_pool_checks_sound()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(32 << 20), "tests");
        var names = Names();
        Fill(pool, names);
        Assert.Equal((int)(KeyOrder.OrdinalPrefixed | SortedLayout.ObjectOffsetOrder), KeyOrderOfNames(pool));
        AssertLookups(pool, names);

        // Renames move entries between leaves; removing every other holder merges them.
        using (var tx = pool.BeginTransaction())
        {
            foreach (var member in pool.Root<Club>().Members.Where(m => m!.Number % 4 == 1))
            {
                member!.Name = member.Name + "\uFFFF";
            }

            tx.Commit();
        }

        var index = pool.Index<Member, string>(nameof(Member.Name));
        Assert.All(index.Find(names[3] + "\uFFFF"), m => Assert.Equal(names[3] + "\uFFFF", m.Name));
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void The_former_layout_switch_changes_only_the_trees_its_own_thread_builds()
    {
        // Process-wide, it once made index tests running beside this class build unprefixed trees, then refuse them.
        var names = Names();
        StringIndexOperations.BuildsUnprefixedTrees = true;
        try
        {
            Exception? failure = null;
            var other = new Thread(() =>
            {
                try
                {
                    using var pool = PersistentPool.Create(PoolPath, "tests", 16 << 20);
                    Fill(pool, names);
                    Assert.Equal((int)(KeyOrder.OrdinalPrefixed | SortedLayout.ObjectOffsetOrder), KeyOrderOfNames(pool));
                    AssertLookups(pool, names);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            other.Start();
            other.Join();
            Assert.Null(failure);
        }
        finally
        {
            StringIndexOperations.BuildsUnprefixedTrees = false;
        }
    }

    [Fact]
    public void A_pool_whose_string_index_has_no_prefixes_is_read_as_it_is_and_rebuilt_with_prefixes_at_a_writable_open()
    {
        var names = Names();
        StringIndexOperations.BuildsUnprefixedTrees = true; // this thread's trees only
        try
        {
            using var pool = PersistentPool.Create(PoolPath, "tests", 16 << 20);
            Fill(pool, names);
            Assert.Equal((int)(KeyOrder.Ordinal | SortedLayout.ObjectOffsetOrder), KeyOrderOfNames(pool));
        }
        finally
        {
            StringIndexOperations.BuildsUnprefixedTrees = false; // the thread runs other tests next
        }

        using (var pool = PersistentPool.OpenReadOnly(PoolPath, "tests"))
        {
            Assert.Equal((int)(KeyOrder.Ordinal | SortedLayout.ObjectOffsetOrder), KeyOrderOfNames(pool)); // read in its own layout
            AssertLookups(pool, names);
        }

        // A read-only open by a program that knows the class brings its indexes in step in private pages only.
        var options = new PoolOpenOptions { Types = [Member.PersistentType, Club.PersistentType] };
        var before = TestFiles.ReadAllBytes(PoolPath);
        using (var pool = PersistentPool.OpenReadOnly(PoolPath, "tests", options))
        {
            AssertLookups(pool, names);
        }

        Assert.Equal(before, TestFiles.ReadAllBytes(PoolPath));
        using (var pool = PersistentPool.Open(PoolPath, "tests", options))
        {
            Assert.Equal((int)(KeyOrder.OrdinalPrefixed | SortedLayout.ObjectOffsetOrder), KeyOrderOfNames(pool));
            AssertLookups(pool, names);
            SortedDictionaryTests.AssertSound(pool); // the old tree freed, nothing leaked
        }
    }

    [Fact]
    public void Check_reports_a_key_whose_prefix_is_not_its_strings()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(32 << 20), "tests");
        Fill(pool, ["alpha", "beta", "gamma"]);
        var tree = pool.Domain.Read<long>(pool.LiveIndexes.Single(i => i.Property.Name == nameof(Member.Name)).Slot.TreeWord);
        var leaf = pool.Domain.Read<long>(tree + SortedLayout.RootOffset);
        var prefixByte = leaf + SortedLayout.EntriesOffset + 8 + 1; // the first key's second character
        pool.Domain.Write(prefixByte, (byte)('l' + 2));
        var report = pool.Check();
        Assert.Contains(report.Errors, e => e.Contains("prefix"));
    }

    [Fact]
    public void A_sorted_dictionary_of_the_former_string_layout_stays_in_it_and_new_ones_get_prefixes()
    {
        using var pool = PersistentPool.Create(MemoryDomain.Create(32 << 20), "tests");
        var old = pool.Root<Pmem.Tests.Objects.Index>();
        var former = new PersistentSortedDictionary<string, string?>(pool, old.Offset + 8, StringSortedKeys.Instance, StringCodec.Instance);
        var model = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        var names = Names();
        foreach (var name in names.Take(300))
        {
            former[name] = name.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            model[name] = former[name];
        }

        // The program's handle (prefixed keys) adopts the tree in the layout its header records, and changes it in that layout.
        var names2 = old.Names;
        foreach (var name in names.Skip(300))
        {
            names2[name] = "new";
            model[name] = "new";
        }

        foreach (var name in names.Where((_, i) => i % 3 == 0))
        {
            Assert.True(names2.Remove(name));
            model.Remove(name);
        }

        Assert.Equal(model, names2);
        Assert.Equal(model.Keys.Where(k => string.CompareOrdinal(k, "b") >= 0), names2.From("b").Select(p => p.Key));
        Assert.All(model, pair => Assert.Equal(pair.Value, names2[pair.Key]));
        Assert.Equal((int)KeyOrder.Ordinal, pool.Domain.Read<int>(names2.Offset + SortedLayout.KeyOrderOffset));

        var words = old.Words; // a new tree beside it
        foreach (var name in names)
        {
            Assert.True(words.Add(name));
        }

        Assert.Equal((int)KeyOrder.OrdinalPrefixed, pool.Domain.Read<int>(words.Offset + SortedLayout.KeyOrderOffset));
        Assert.Equal(names.Order(StringComparer.Ordinal), words.ToList()); // the set enumerates in key order
        Assert.All(names, name => Assert.Contains(name, (ISet<string>)words));
        SortedDictionaryTests.AssertSound(pool);
    }
}
