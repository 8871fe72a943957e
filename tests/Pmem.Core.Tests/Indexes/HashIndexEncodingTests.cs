// HashIndexEncodingTests -- hashed indexes normalize equal values of several encodings (decimal scales, DateTimeOffset offsets, DateTime kinds) as a sorted index compares them.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Hashed indexes over values with several encodings of one value (decimal, <see cref="DateTimeOffset"/>, <see cref="DateTime"/>):
/// every lookup finds what a sorted index over the same objects finds; a unique hashed decimal refuses an equal value of
/// another encoding; a key never depends on a value's padding bytes.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class HashIndexEncodingTests : HashIndexTestBase
{
    [Fact]
    public void Equal_values_of_other_encodings_are_found_as_the_sorted_index_finds_them()
    {
        using var hashed = NewPool("hashed.pool");
        using var sorted = NewPool("sorted.pool");
        var utc = new DateTime(2024, 3, 1, 12, 0, 0, DateTimeKind.Utc);
        var instant = new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var stamps = new (decimal Amount, DateTimeOffset At, DateTime When, string Label)[]
        {
            (1.0m, instant, utc, "a"),
            (1.00m, instant.ToOffset(TimeSpan.FromHours(2)), DateTime.SpecifyKind(utc, DateTimeKind.Local), "b"),
            (1m, instant.ToOffset(TimeSpan.FromHours(-5)), DateTime.SpecifyKind(utc, DateTimeKind.Unspecified), "c"),
            (2.50m, instant.AddTicks(1), utc.AddTicks(1), "d"),
            (-0.0m, instant.AddHours(-1).ToOffset(TimeSpan.FromMinutes(330)), utc.AddHours(-1), "e"),
            (0m, instant.AddHours(1), utc.AddHours(1), "f"),
        };

        void Fill<T, TRoot>(PersistentPool pool)
            where T : PersistentObject, IPersistentObject<T>, IStampFields
            where TRoot : PersistentObject, IPersistentObject<TRoot>, IClubOf<T>
        {
            using var tx = pool.BeginTransaction();
            foreach (var (amount, at, when, label) in stamps)
            {
                var stamp = pool.New<T>();
                stamp.Amount = amount;
                stamp.At = at;
                stamp.When = when;
                stamp.Label = label;
                pool.Root<TRoot>().Members.Add(stamp);
            }

            tx.Commit();
        }

        Fill<HashedStamp, HashedStampBook>(hashed);
        Fill<SortedStamp, SortedStampBook>(sorted);
        string Labels<T>(IEnumerable<T> found) where T : IStampFields => string.Join(",", found.Select(s => s.Label).Order(StringComparer.Ordinal));
        void Agree<TKey>(string property, TKey value, string expected) where TKey : notnull
        {
            var fromHashed = hashed.Index<HashedStamp, TKey>(property);
            var fromSorted = sorted.Index<SortedStamp, TKey>(property);
            Assert.True(fromHashed.IsHashed);
            Assert.Equal(expected, Labels(fromSorted.Find(value)));
            Assert.Equal(expected, Labels(fromHashed.Find(value)));
            Assert.Equal(expected.Length > 0, fromHashed.TryFind(value, out var first));
            Assert.Equal(expected, Labels(fromHashed.Range(value, value, upperInclusive: true)));
            if (first is not null)
            {
                Assert.Equal(fromHashed.Find(value)[0], first);
                Assert.Contains(first.Label!, expected);
            }
        }

        Agree(nameof(IStampFields.Amount), 1m, "a,b,c");
        Agree(nameof(IStampFields.Amount), 1.000m, "a,b,c");
        Agree(nameof(IStampFields.Amount), 2.5m, "d");
        Agree(nameof(IStampFields.Amount), 2.5000m, "d");
        Agree(nameof(IStampFields.Amount), 0m, "e,f");
        Agree(nameof(IStampFields.Amount), decimal.Negate(0.00m), "e,f");
        Agree(nameof(IStampFields.Amount), 3m, "");
        Agree(nameof(IStampFields.At), instant, "a,b,c");
        Agree(nameof(IStampFields.At), instant.ToOffset(TimeSpan.FromHours(9)), "a,b,c");
        Agree(nameof(IStampFields.At), instant.AddTicks(1).ToOffset(TimeSpan.FromHours(-3)), "d");
        Agree(nameof(IStampFields.At), instant.AddHours(-1), "e");
        Agree(nameof(IStampFields.At), new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.FromHours(3)), ""); // the same clock time, another instant (09:00Z) 
        Agree(nameof(IStampFields.When), utc, "a,b,c");
        Agree(nameof(IStampFields.When), DateTime.SpecifyKind(utc, DateTimeKind.Local), "a,b,c");
        Agree(nameof(IStampFields.When), DateTime.SpecifyKind(utc, DateTimeKind.Unspecified), "a,b,c");
        Agree(nameof(IStampFields.When), utc.AddTicks(1), "d");

        // A value moved between encodings of itself stays where it is; ranges and order agree too.
        var b = hashed.Index<HashedStamp, string>(nameof(IStampFields.Label)).Find("b")[0];
        b.Amount = 1.0000m;
        b.At = instant.ToOffset(TimeSpan.FromHours(-8));
        b.When = DateTime.SpecifyKind(utc, DateTimeKind.Utc);
        var sb = sorted.Index<SortedStamp, string>(nameof(IStampFields.Label)).Find("b")[0];
        sb.Amount = 1.0000m;
        sb.At = instant.ToOffset(TimeSpan.FromHours(-8));
        sb.When = DateTime.SpecifyKind(utc, DateTimeKind.Utc);
        Agree(nameof(IStampFields.Amount), 1m, "a,b,c");
        Agree(nameof(IStampFields.At), instant, "a,b,c");
        Agree(nameof(IStampFields.When), utc, "a,b,c");
        Assert.Equal(
            sorted.Index<SortedStamp, decimal>(nameof(IStampFields.Amount)).Range(0m, 2.5m).Select(s => s.Amount).ToArray(),
            hashed.Index<HashedStamp, decimal>(nameof(IStampFields.Amount)).Range(0m, 2.5m).Select(s => s.Amount).ToArray());
        Assert.Equal(
            sorted.Index<SortedStamp, DateTimeOffset>(nameof(IStampFields.At)).Reversed().Select(s => s.At.UtcTicks).ToArray(),
            hashed.Index<HashedStamp, DateTimeOffset>(nameof(IStampFields.At)).Reversed().Select(s => s.At.UtcTicks).ToArray());
        SortedDictionaryTests.AssertSound(hashed);
        SortedDictionaryTests.AssertSound(sorted);
    }

    [Fact]
    public void A_value_equal_to_the_default_is_exempt_from_a_unique_index_in_any_order()
    {
        // An outside tester's case: 1.50m - 1.50m (0.00m) was refused beside an object holding the default 0m, while
        // the other order (0.00m first, then a new object) was taken: exempt only by bytes, compared by value.
        void Exempt<T, TRoot>(PersistentPool pool)
            where T : PersistentObject, IPersistentObject<T>, IStampFields
            where TRoot : PersistentObject, IPersistentObject<TRoot>, IClubOf<T>
        {
            var a = pool.New<T>();
            var b = pool.New<T>();
            a.Code = 1.50m - 1.50m;
            b.Code = decimal.Negate(0m);
            var c = pool.New<T>(); // after them: the default beside two equal values
            foreach (var stamp in (T[])[a, b, c])
            {
                pool.Root<TRoot>().Members.Add(stamp);
            }
            Assert.Equal((0m, 0m, 0m), (a.Code, b.Code, c.Code));
            Assert.Equal("0.00", a.Code.ToString(System.Globalization.CultureInfo.InvariantCulture));

            a.Code = 5m;
            var error = Assert.Throws<PersistentUniqueConstraintException>(() => b.Code = 5.00m);
            Assert.Equal(a.Offset, error.ExistingObject);
            Assert.EndsWith("holds 5 already", error.Message); // the holder's value as it holds it, not the one written
            SortedDictionaryTests.AssertSound(pool);
        }

        using var hashed = NewPool("hashed.pool");
        using var sorted = NewPool("sorted.pool");
        Exempt<HashedStamp, HashedStampBook>(hashed);
        Exempt<SortedStamp, SortedStampBook>(sorted);
    }

    [Fact]
    public void A_hashed_unique_decimal_refuses_an_equal_value_of_another_encoding()
    {
        using var pool = NewPool();
        HashedStamp NewStamp(decimal code)
        {
            using var tx = pool.BeginTransaction();
            var stamp = pool.New<HashedStamp>();
            stamp.Code = code;
            pool.Root<HashedStampBook>().Members.Add(stamp);
            tx.Commit();
            return stamp;
        }

        var five = NewStamp(5m);
        var other = NewStamp(7m);
        var error = Assert.Throws<PersistentUniqueConstraintException>(() => other.Code = 5.00m);
        Assert.Equal(five.Offset, error.ExistingObject);
        Assert.Equal(7m, other.Code);
        Assert.Throws<PersistentUniqueConstraintException>(() => NewStamp(5.0m));
        five.Code = 5.000m; // the same object: another encoding of its own value
        Assert.Equal([five.Offset], pool.Index<HashedStamp, decimal>(nameof(IStampFields.Code)).Find(5m).Select(s => s.Offset));
        Assert.Equal(2, pool.Index<HashedStamp, decimal>(nameof(IStampFields.Code)).Count);
        SortedDictionaryTests.AssertSound(pool);
    }

    [Fact]
    public void DateTimeOffset_values_stay_found_through_many_changes_once_the_code_is_optimized()
    {
        // A DateTimeOffset has padding between its offset and its instant: a hashed key must not depend on those bytes,
        // whatever a copy of the value leaves in them (optimized code copies the fields, not the padding). Fails at once
        // with DOTNET_TieredCompilation=0; with tiered compilation only once the table's code is optimized.
        using var pool = NewPool();
        var instant = new DateTimeOffset(2025, 6, 1, 8, 30, 0, TimeSpan.Zero);
        DateTimeOffset[] values = [default, instant, instant.ToOffset(TimeSpan.FromHours(14)), instant.ToOffset(TimeSpan.FromMinutes(-330)), instant.AddTicks(1), instant.AddTicks(1).ToOffset(TimeSpan.FromHours(2))];
        var stamps = new List<HashedStamp>();
        using (var tx = pool.BeginTransaction())
        {
            for (var i = 0; i < 40; i++)
            {
                var stamp = pool.New<HashedStamp>();
                pool.Root<HashedStampBook>().Members.Add(stamp);
                stamps.Add(stamp);
            }

            tx.Commit();
        }

        var byAt = pool.Index<HashedStamp, DateTimeOffset>(nameof(IStampFields.At));
        var random = new Random(5);
        for (var i = 0; i < 6_000; i++)
        {
            var value = values[random.Next(values.Length)];
            if (i % 10 == 0)
            {
                // A New (filed under the default value) and a Delete, in one transaction.
                using var tx = pool.BeginTransaction();
                var victim = stamps[random.Next(stamps.Count)];
                pool.Root<HashedStampBook>().Members.Remove(victim);
                pool.Delete(victim);
                stamps.Remove(victim);
                var stamp = pool.New<HashedStamp>();
                pool.Root<HashedStampBook>().Members.Add(stamp);
                stamp.At = value;
                stamps.Add(stamp);
                tx.Commit();
            }
            else
            {
                stamps[random.Next(stamps.Count)].At = value;
            }

            var expected = stamps.Where(s => s.At == value).Select(s => s.Offset).Order().ToArray();
            var found = byAt.Find(value).Select(s => s.Offset).ToArray();
            Assert.True(expected.SequenceEqual(found), $"step {i}: Find({value:O}) gave {found.Length} objects, {expected.Length} hold it");
        }

        Assert.Equal(40, byAt.Count);
        SortedDictionaryTests.AssertSound(pool);
    }
}
