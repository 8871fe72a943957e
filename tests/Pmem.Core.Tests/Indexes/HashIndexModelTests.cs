// HashIndexModelTests -- randomized operations on hashed and sorted indexes checked against a model of the values, and the model that runs them.
using System.Runtime.InteropServices;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>
/// Random News, setters, Deletes and transactions on members and on values of several encodings: after each, every
/// lookup of every hashed index answers what a sorted index and the model (<see cref="HashModel"/>) answer.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file pools: see PoolFileTests
public sealed class HashIndexModelTests : HashIndexTestBase
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Random_member_operations_give_every_lookup_the_answers_of_a_sorted_index_and_a_model(int seed)
    {
        using (var pool = NewPool("hashed.pool"))
        {
            HashModel.Run<HashedMember, HashedClub>(pool, HashModel.MemberFields<HashedMember>(hashed: true), seed, steps: 250);
        }

        using (var pool = NewPool("sorted.pool"))
        {
            HashModel.Run<SortedMember, SortedClub>(pool, HashModel.MemberFields<SortedMember>(hashed: false), seed, steps: 250);
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_operations_on_values_of_several_encodings_give_every_lookup_the_answers_of_a_sorted_index_and_a_model(int seed)
    {
        using (var pool = NewPool("hashed.pool"))
        {
            HashModel.Run<HashedStamp, HashedStampBook>(pool, HashModel.StampFields<HashedStamp>(), seed, steps: 250);
        }

        using (var pool = NewPool("sorted.pool"))
        {
            HashModel.Run<SortedStamp, SortedStampBook>(pool, HashModel.StampFields<SortedStamp>(), seed, steps: 250);
        }
    }
}

/// <summary>
/// The randomized model of an indexed class: random News, setters, Deletes and transactions (committed, rolled back,
/// or refused by a unique index) applied to a pool and to a model of the values, after each of which every lookup of
/// every index (Find, TryFind, Range with each bound kind, From, To, Reversed, enumeration, Count) must answer what
/// the model's sorted entries answer, as a sorted index does.
/// </summary>
internal static class HashModel
{
    /// <summary>One indexed property: the values operations pick, its setter and getter, and its lookups' check.</summary>
    internal sealed record Field<T>(
        string Name,
        object?[] Domain,
        object? Default,
        Action<T, object?> Set,
        Func<T, object?> Get,
        IComparer<object?> Order,
        bool Unique,
        Func<object?, bool> IsExempt,
        Action<PersistentPool, List<(object? Value, long Offset)>, Random> AssertLookups);

    internal static Field<T> Of<T, TKey>(string name, TKey?[] domain, Action<T, TKey?> set, Func<T, TKey?> get, IComparer<TKey> order, bool unique = false, Func<TKey, bool>? isExempt = null)
        where T : PersistentObject, IPersistentObject<T>
        where TKey : notnull
    {
        var boxedOrder = Comparer<object?>.Create((a, b) => order.Compare((TKey)a!, (TKey)b!));
        return new Field<T>(
            name,
            [.. domain.Select(value => (object?)value)],
            default(TKey),
            (obj, value) => set(obj, (TKey?)value),
            obj => get(obj),
            boxedOrder,
            unique,
            value => isExempt?.Invoke((TKey)value!) ?? false,
            (pool, entries, random) => AssertLookups<T, TKey>(pool, name, entries.ConvertAll(e => ((TKey)e.Value!, e.Offset)), order, [.. domain.Where(v => v is not null).Select(v => v!)], random));
    }

    private static readonly Guid[] s_keys =
    [
        Guid.Empty,
        new("00000001-0000-0000-0000-000000000000"),
        new("ffffffff-0000-0000-0000-000000000001"),
        new("00000000-0000-0000-8000-000000000000"),
        new("7fffffff-ffff-ffff-ffff-ffffffffffff"),
    ];

    private static readonly string?[] s_names =
    [
        null, "", "a", "ab", "b", "name 1", "name 2", "Name 1", "ä",
        "a long name that runs past any prefix the index keeps, ending in 1",
        "a long name that runs past any prefix the index keeps, ending in 2",
    ];

    internal static Field<T>[] MemberFields<T>(bool hashed) where T : PersistentObject, IPersistentObject<T>, IMemberFields =>
    [
        Of<T, long>("Number", [.. Enumerable.Range(0, 40).Select(i => (long)i), -5L, long.MaxValue], (m, v) => m.Number = v, m => m.Number, Comparer<long>.Default, unique: true, isExempt: v => v == 0),
        Of<T, string>("Name", s_names, (m, v) => m.Name = v, m => m.Name, StringComparer.Ordinal),
        Of<T, Tide>("Tide", [Tide.Low, Tide.Slack, Tide.High], (m, v) => m.Tide = v, m => m.Tide, Comparer<Tide>.Default) with
        {
            // The enum's index read by its underlying type too.
            AssertLookups = (pool, entries, random) =>
            {
                AssertLookups<T, Tide>(pool, "Tide", entries.ConvertAll(e => ((Tide)e.Value!, e.Offset)), Comparer<Tide>.Default, [Tide.Low, Tide.Slack, Tide.High, (Tide)1], random);
                AssertLookups<T, short>(pool, "Tide", entries.ConvertAll(e => ((short)(Tide)e.Value!, e.Offset)), Comparer<short>.Default, [-2, 0, 3, -3, 4], random);
            },
        },
        Of<T, Guid>("Key", s_keys, (m, v) => m.Key = v, m => m.Key, Comparer<Guid>.Default),
    ];

    private static readonly DateTimeOffset s_instant = new(2025, 6, 1, 8, 30, 0, TimeSpan.Zero);
    private static readonly DateTime s_time = new(2025, 6, 1, 8, 30, 0);

    internal static Field<T>[] StampFields<T>() where T : PersistentObject, IPersistentObject<T>, IStampFields =>
    [
        Of<T, decimal>(
            "Amount",
            [0m, 0.0m, decimal.Negate(0.00m), 1m, 1.0m, 1.00m, -1.5m, -1.50m, 2.5m, 2.50000m, 10000000000m, 10000000000.000m,
             0.1234567890123456789012345670m, 0.123456789012345678901234567m, decimal.MaxValue, decimal.MinValue, 0.0000000000000000000000000001m],
            (s, v) => s.Amount = v, s => s.Amount, Comparer<decimal>.Default),
        // Unique: encodings of 0 other than all-zero bytes (0.00m, -0m) are left out: beside a default 0 a sorted unique index
        // refuses them (it exempts only all-zero bytes), a hashed one accepts them (it normalizes before its exemption).
        Of<T, decimal>("Code", [0m, 5m, 5.0m, 5.00m, -5m, 7.25m, 7.250m, 1000m, 1000.0m], (s, v) => s.Code = v, s => s.Code, Comparer<decimal>.Default, unique: true, isExempt: v => IsZeroBytes(v)),
        Of<T, DateTimeOffset>(
            "At",
            [.. new[] { s_instant, s_instant.AddTicks(1), s_instant.AddDays(-3) }.SelectMany(at => new[] { at, at.ToOffset(TimeSpan.FromHours(2)), at.ToOffset(TimeSpan.FromMinutes(-330)), at.ToOffset(TimeSpan.FromHours(14)) }), default],
            (s, v) => s.At = v, s => s.At, Comparer<DateTimeOffset>.Default),
        Of<T, DateTime>(
            "When",
            [.. new[] { s_time, s_time.AddTicks(-1), s_time.AddYears(-30) }.SelectMany(t => new[] { DateTime.SpecifyKind(t, DateTimeKind.Unspecified), DateTime.SpecifyKind(t, DateTimeKind.Utc), DateTime.SpecifyKind(t, DateTimeKind.Local) }), default],
            (s, v) => s.When = v, s => s.When, Comparer<DateTime>.Default),
        Of<T, string>("Label", s_names, (s, v) => s.Label = v, s => s.Label, StringComparer.Ordinal),
    ];

    private static bool IsZeroBytes<TKey>(TKey value) where TKey : unmanaged => MemoryMarshal.AsBytes(new ReadOnlySpan<TKey>(in value)).IndexOfAnyExcept((byte)0) < 0;

    /// <summary>Runs <paramref name="steps"/> random operations on a new pool's root list of <typeparamref name="T"/>, checking every index after each.</summary>
    internal static void Run<T, TRoot>(PersistentPool pool, Field<T>[] fields, int seed, int steps)
        where T : PersistentObject, IPersistentObject<T>
        where TRoot : PersistentObject, IPersistentObject<TRoot>, IClubOf<T>
    {
        var random = new Random(seed);
        var model = new Dictionary<long, object?[]>();
        var objects = new Dictionary<long, T>();
        var log = new List<string>();

        object? Pick(Field<T> field) => field.Domain[random.Next(field.Domain.Length)];

        // Whether setting the field to value on the object at self would be refused (another holder of an equal, non-exempt value).
        bool Refused(Dictionary<long, object?[]> values, int f, long self, object? value) =>
            fields[f].Unique && value is not null && !fields[f].IsExempt(value) &&
            values.Any(pair => pair.Key != self && pair.Value[f] is { } other && fields[f].Order.Compare(other, value) == 0);

        // One setter on the pool and the working values; false when the unique index refused it (the pool then threw).
        bool Set(Dictionary<long, object?[]> values, long offset, int f, object? value)
        {
            if (Refused(values, f, offset, value))
            {
                var error = Assert.Throws<PersistentUniqueConstraintException>(() => fields[f].Set(objects[offset], value));
                Assert.Equal(fields[f].Name, error.PropertyName);
                return false;
            }

            fields[f].Set(objects[offset], value);
            values[offset][f] = value;
            return true;
        }

        long RandomObject() => objects.Keys.ElementAt(random.Next(objects.Count));

        // New: made, filled with some random values, and listed in one transaction (all refused with it).
        bool New(Dictionary<long, object?[]> values)
        {
            var obj = pool.New<T>();
            objects[obj.Offset] = obj;
            values[obj.Offset] = [.. fields.Select(f => f.Default)];
            pool.Root<TRoot>().Members.Add(obj);
            for (var f = 0; f < fields.Length; f++)
            {
                if (random.Next(3) != 0 && !Set(values, obj.Offset, f, Pick(fields[f])))
                {
                    log.Add($"  new {obj.Offset} refused");
                    return false;
                }
            }

            log.Add($"  new {obj.Offset} ({string.Join(", ", values[obj.Offset])})");
            return true;
        }

        void Delete(Dictionary<long, object?[]> values, long offset)
        {
            pool.Root<TRoot>().Members.Remove(objects[offset]);
            pool.Delete(objects[offset]);
            values.Remove(offset);
        }

        Dictionary<long, object?[]> Copy() => model.ToDictionary(pair => pair.Key, pair => (object?[])pair.Value.Clone());

        void InTransaction(Func<Dictionary<long, object?[]>, bool> work, bool commit)
        {
            var working = Copy();
            var known = objects.Keys.ToHashSet();
            var accepted = true;
            var thrown = Record.Exception(() =>
            {
                using var tx = pool.BeginTransaction();
                accepted = work(working);
                if (accepted && commit)
                {
                    tx.Commit();
                }
            });

            Assert.Null(thrown); // a refused setter's exception was expected (and caught) inside; the transaction then rolls back whole

            if (accepted && commit)
            {
                model = working;
            }

            foreach (var offset in objects.Keys.Where(o => !known.Contains(o) && !model.ContainsKey(o)).ToList())
            {
                objects.Remove(offset); // made in a transaction that did not commit
            }
        }

        for (var i = 0; i < 30; i++)
        {
            InTransaction(New, commit: true);
        }

        AssertAgrees();
        for (var step = 0; step < steps; step++)
        {
            var roll = random.Next(100);
            if (roll < 12 || model.Count < 5)
            {
                log.Add("new");
                InTransaction(New, commit: random.Next(5) != 0);
            }
            else if (roll < 60)
            {
                // A setter on its own: refused ones change nothing.
                var (offset, f) = (RandomObject(), random.Next(fields.Length));
                var value = Pick(fields[f]);
                log.Add($"set {offset}.{fields[f].Name} = {value}");
                var working = Copy();
                if (Set(working, offset, f, value))
                {
                    model = working;
                }
            }
            else if (roll < 70)
            {
                var offset = RandomObject();
                log.Add($"delete {offset}");
                InTransaction(values => { Delete(values, offset); return true; }, commit: true);
                objects.Remove(offset);
            }
            else
            {
                // Several changes in one transaction, committed or rolled back.
                var commit = random.Next(4) != 0;
                log.Add($"transaction ({(commit ? "commit" : "rollback")})");
                InTransaction(values =>
                {
                    var count = random.Next(2, 6);
                    for (var k = 0; k < count; k++)
                    {
                        if (random.Next(8) == 0)
                        {
                            if (!New(values))
                            {
                                return false;
                            }

                            continue;
                        }

                        if (random.Next(10) == 0 && values.Count > 1)
                        {
                            var victim = values.Keys.ElementAt(random.Next(values.Count));
                            log.Add($"  delete {victim}");
                            Delete(values, victim);
                            continue;
                        }

                        var existing = values.Keys.ElementAt(random.Next(values.Count));
                        var f = random.Next(fields.Length);
                        var picked = Pick(fields[f]);
                        log.Add($"  set {existing}.{fields[f].Name} = {picked}");
                        if (!Set(values, existing, f, picked))
                        {
                            return false;
                        }
                    }

                    return true;
                }, commit);
                foreach (var offset in objects.Keys.Where(o => !model.ContainsKey(o)).ToList())
                {
                    objects.Remove(offset);
                }
            }

            AssertAgrees();
            if (step % 50 == 49)
            {
                AssertFieldsAndSound();
            }
        }

        AssertFieldsAndSound();

        void AssertAgrees()
        {
            for (var f = 0; f < fields.Length; f++)
            {
                var entries = model.Where(pair => pair.Value[f] is not null).Select(pair => (pair.Value[f], pair.Key)).ToList();
                try
                {
                    fields[f].AssertLookups(pool, entries, random);
                }
                catch (Exception e)
                {
                    var report = pool.Check();
                    throw new Xunit.Sdk.XunitException(
                        $"{fields[f].Name} after {log.Count} steps (last: {string.Join("; ", log.TakeLast(12))}), {model.Count} objects in the model, " +
                        $"{pool.Root<TRoot>().Members.Count} listed; check: {(report.IsConsistent ? "clean" : string.Join("; ", report.Errors))}, " +
                        $"{report.Unreachable.Count} unreachable, {report.DetachedObjects} detached: {e.Message}");
                }
            }
        }

        void AssertFieldsAndSound()
        {
            Assert.Equal(model.Keys.Order(), pool.Root<TRoot>().Members.Select(m => m!.Offset).Order());
            foreach (var (offset, values) in model)
            {
                for (var f = 0; f < fields.Length; f++)
                {
                    Assert.True(
                        (values[f] is null && fields[f].Get(objects[offset]) is null) || Equals(values[f], fields[f].Get(objects[offset])),
                        $"{offset}.{fields[f].Name} holds {fields[f].Get(objects[offset])}, the model {values[f]}");
                }
            }

            SortedDictionaryTests.AssertSound(pool);
        }
    }

    /// <summary>Every lookup of one index against the model's entries (value, object), sorted as a sorted index sorts them.</summary>
    internal static void AssertLookups<T, TKey>(PersistentPool pool, string property, List<(TKey Value, long Offset)> model, IComparer<TKey> order, TKey[] probes, Random random)
        where T : PersistentObject, IPersistentObject<T>
        where TKey : notnull
    {
        var index = pool.Index<T, TKey>(property);
        var sorted = model.OrderBy(e => e.Value, order).ThenBy(e => (ulong)e.Offset).ToList();
        void Same(IEnumerable<(TKey Value, long Offset)> expected, IEnumerable<T> actual, string what)
        {
            var (want, got) = (expected.Select(e => e.Offset).ToArray(), actual.Select(o => o.Offset).ToArray());
            Assert.True(want.SequenceEqual(got), $"{property}: {what} gave [{string.Join(", ", got)}], expected [{string.Join(", ", want)}]");
        }

        Assert.Equal(sorted.Count, index.Count);
        Same(sorted, index, "enumeration");
        Same(Enumerable.Reverse(sorted), index.Reversed(), "Reversed()");
        foreach (var probe in probes)
        {
            var equal = sorted.Where(e => order.Compare(e.Value, probe) == 0).ToList();
            Same(equal, index.Find(probe), $"Find({probe})");
            Assert.Equal(equal.Count > 0, index.TryFind(probe, out var first));
            Assert.Equal(equal.Count > 0 ? equal[0].Offset : 0, first?.Offset ?? 0);
        }

        for (var pair = 0; pair < 3; pair++)
        {
            var (low, high) = (probes[random.Next(probes.Length)], probes[random.Next(probes.Length)]);
            if (pair == 0)
            {
                high = low; // a range of one value
            }

            foreach (var (lowInclusive, highInclusive) in new[] { (true, true), (true, false), (false, true), (false, false) })
            {
                var inRange = sorted.Where(e =>
                    (lowInclusive ? order.Compare(e.Value, low) >= 0 : order.Compare(e.Value, low) > 0) &&
                    (highInclusive ? order.Compare(e.Value, high) <= 0 : order.Compare(e.Value, high) < 0)).ToList();
                Same(inRange, index.Range(low, high, lowInclusive, highInclusive), $"Range({low}, {high}, {lowInclusive}, {highInclusive})");
                Same(Enumerable.Reverse(inRange), index.Range(low, high, lowInclusive, highInclusive, descending: true), $"Range({low}, {high}, {lowInclusive}, {highInclusive}, descending)");
            }

            foreach (var inclusive in new[] { true, false })
            {
                var from = sorted.Where(e => inclusive ? order.Compare(e.Value, low) >= 0 : order.Compare(e.Value, low) > 0).ToList();
                Same(from, index.From(low, inclusive), $"From({low}, {inclusive})");
                Same(Enumerable.Reverse(from), index.From(low, inclusive, descending: true), $"From({low}, {inclusive}, descending)");
                var to = sorted.Where(e => inclusive ? order.Compare(e.Value, high) <= 0 : order.Compare(e.Value, high) < 0).ToList();
                Same(to, index.To(high, inclusive), $"To({high}, {inclusive})");
                Same(Enumerable.Reverse(to), index.To(high, inclusive, descending: true), $"To({high}, {inclusive}, descending)");
            }
        }
    }
}
