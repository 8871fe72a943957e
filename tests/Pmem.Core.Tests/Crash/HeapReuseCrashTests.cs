using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

/// <summary>
/// Crash campaigns over a heap whose free memory is never zero: the pool is created on a domain durably full of
/// 0xA5 (a reused file or device), and the workload carves runs of several size classes and large groups out of those
/// chunks, fills them, frees them, and carves them again for other size classes, so every block, bitmap and type word
/// the allocator hands out was garbage or another class's data before.
/// </summary>
/// <remarks>
/// Invariant, on every image: the heap is sound (<see cref="PoolCrashTests.AssertHeapIsSound"/>: consistent, nothing
/// unreachable), every reachable value is one the workload wrote, and objects allocated after recovery — a run block
/// of two size classes and a large group — read as zeroed over their whole size.
/// </remarks>
public sealed class HeapReuseCrashTests
{
    private const byte Garbage = 0xA5;
    private const int BigChars = 8000;   // 16 008 bytes: the 16 KiB class, 15 blocks per run
    private const int MediumChars = 3000; // 6 008 bytes: the 6 KiB class

    private static readonly long PoolLength = PoolCrashTests.SmallPoolLength + 6 * PoolLayout.ChunkSize;

    private static string Big(int i) => new((char)('A' + i), BigChars);

    private static string Medium(int i) => new((char)('a' + i), MediumChars);

    private static string Short(int i) => $"short {i}";

    private static Func<SimulatedDomain> GarbageSetup(Action<PersistentPool> keep) => () =>
    {
        var domain = new SimulatedDomain(PoolLength);
        domain.Fill(0, Garbage, PoolLength); // durable before the campaign watches
        var pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
        pool.Root<Yard>();
        keep(pool);
        return domain;
    };

    private static void Workload(PersistentPool pool)
    {
        var yard = pool.Root<Yard>();

        // Runs of the 64-byte and 16 KiB classes carved from garbage chunks: accounts with big strings.
        for (var i = 0; i < 12; i += 3)
        {
            using var tx = pool.BeginTransaction();
            for (var j = i; j < i + 3; j++)
            {
                var account = pool.New<Account>();
                account.Balance = j;
                account.Owner = Big(j);
                account.Next = yard.Accounts;
                yard.Accounts = account;
            }

            tx.Commit();
        }

        // A run of the 1 KiB class: kilos (prepared blocks) linked in transactions.
        for (var i = 1; i <= 10; i++)
        {
            using var tx = pool.BeginTransaction();
            var kilo = pool.New<Kilo>();
            kilo.Value = i;
            kilo.Tail = -i;
            kilo.Next = yard.Kilos;
            yard.Kilos = kilo;
            tx.Commit();
        }

        // A large group over garbage, written all over, then freed: its chunk is reused below.
        using (var tx = pool.BeginTransaction())
        {
            var slab = pool.New<Slab>();
            slab.Value = 1;
            slab.Tail = 1;
            yard.Slab = slab;
            tx.Commit();
        }

        using (var tx = pool.BeginTransaction())
        {
            pool.Delete(yard.Slab!);
            yard.Slab = null;
            tx.Commit();
        }

        // Short strings replace the big ones: the 16 KiB run empties and becomes a free chunk again.
        for (var account = yard.Accounts; account is not null; account = account.Next)
        {
            account.Owner = Short((int)account.Balance);
        }

        // Medium strings: a run of the 6 KiB class carved from the chunks the 16 KiB run and the large group left.
        for (var account = yard.Accounts; account is not null; account = account.Next)
        {
            if (account.Balance % 2 == 0)
            {
                account.Owner = Medium((int)account.Balance);
            }
        }

        // Half the kilos freed, then new ones in their blocks (zeroed again over the old content).
        using (var tx = pool.BeginTransaction())
        {
            Kilo? previous = null;
            for (var kilo = yard.Kilos; kilo is not null; kilo = kilo.Next)
            {
                if (kilo.Value % 2 == 0)
                {
                    if (previous is null)
                    {
                        yard.Kilos = kilo.Next;
                    }
                    else
                    {
                        previous.Next = kilo.Next;
                    }

                    pool.Delete(kilo);
                }
                else
                {
                    previous = kilo;
                }
            }

            tx.Commit();
        }

        for (var i = 11; i <= 16; i++)
        {
            using var tx = pool.BeginTransaction();
            var kilo = pool.New<Kilo>();
            kilo.Value = i;
            kilo.Next = yard.Kilos;
            yard.Kilos = kilo;
            tx.Commit();
        }

        // A large group again, over the freed one's content.
        using (var tx = pool.BeginTransaction())
        {
            var slab = pool.New<Slab>();
            slab.Value = 2;
            yard.Slab = slab;
            tx.Commit();
        }
    }

    private static void AssertZeroed(PersistentPool pool, long offset, int size, string what)
    {
        var bytes = pool.Domain.GetSpan(offset, size);
        var at = bytes.IndexOfAnyExcept((byte)0);
        if (at >= 0)
        {
            Assert.Fail($"the new {what} at {offset} holds {bytes[at]:x2} at +{at}");
        }
    }

    private static void CheckImage(byte[] image)
    {
        using var pool = PoolCrashTests.OpenImage(image);
        PoolCrashTests.AssertHeapIsSound(pool);
        var yard = pool.Root<Yard>();
        var accounts = 0;
        for (var account = yard.Accounts; account is not null; account = account.Next)
        {
            Assert.True(++accounts <= 12, "the account list has a cycle");
            var i = (int)account.Balance;
            Assert.InRange(i, 0, 11);
            Assert.True(account.Owner == Big(i) || account.Owner == Short(i) || account.Owner == Medium(i), $"account {i} holds a torn or foreign string");
            Assert.Equal(i == 0 ? null : (long?)(i - 1), account.Next?.Balance); // pushed in order: newest first
        }

        Assert.Equal(0, accounts % 3); // three per transaction

        var kilos = 0;
        for (var kilo = yard.Kilos; kilo is not null; kilo = kilo.Next)
        {
            Assert.True(++kilos <= 16, "the kilo list has a cycle");
            Assert.InRange(kilo.Value, 1, 16);
            Assert.True(kilo.Tail == (kilo.Value <= 10 ? -kilo.Value : 0), $"kilo {kilo.Value} has tail {kilo.Tail}");
            for (var word = 16; word < Kilo.PersistentType.Size - 8; word += 8)
            {
                Assert.True(pool.Domain.Read<long>(kilo.Offset + word) == 0, $"kilo {kilo.Value} holds garbage at +{word}");
            }
        }

        var found = yard.Slab;
        if (found is not null)
        {
            Assert.True(found.Value is 1 or 2, $"the slab holds {found.Value}");
            Assert.Equal(found.Value == 1 ? 1 : 0, found.Tail);
        }

        // New objects over whatever the image left free: a 64-byte and a 1 KiB run block and a large group.
        using (var tx = pool.BeginTransaction())
        {
            var account = pool.New<Account>();
            var kilo = pool.New<Kilo>();
            var slab = found is null ? pool.New<Slab>() : null;
            AssertZeroed(pool, account.Offset, Account.PersistentType.Size, "account");
            AssertZeroed(pool, kilo.Offset, Kilo.PersistentType.Size, "kilo");
            if (slab is not null)
            {
                AssertZeroed(pool, slab.Offset, Slab.PersistentType.Size, "slab");
                yard.Slab = slab;
            }

            account.Owner = Medium(20);
            account.Next = yard.Accounts;
            yard.Accounts = account;
            kilo.Value = 99;
            kilo.Next = yard.Kilos;
            yard.Kilos = kilo;
            tx.Commit();
        }

        PoolCrashTests.AssertHeapIsSound(pool);
    }

    [Fact]
    public void Reusing_garbage_and_other_classes_chunks_keeps_the_heap_sound_and_new_objects_zeroed_at_every_crash()
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            GarbageSetup(p => pool = p),
            _ => Workload(pool!),
            PoolCrashTests.OnOwnThread((image, point) => CheckImage(image)),
            new CrashCampaignOptions { ImagesPerPoint = 20 });

        PoolCrashTests.Report(nameof(Reusing_garbage_and_other_classes_chunks_keeps_the_heap_sound_and_new_objects_zeroed_at_every_crash), result);
    }

    /// <summary>
    /// Collections' internal blocks (hash tables, list storage) carved from garbage: the slots a transaction does not
    /// write must read as empty at every crash, so the zeroes of a new internal block must be as durable as its commit.
    /// </summary>
    [Fact]
    public void Collection_storage_carved_from_garbage_reads_empty_where_nothing_was_written_at_every_crash()
    {
        PersistentPool? pool = null;
        var result = CrashCampaign.Run(
            () =>
            {
                var domain = new SimulatedDomain(PoolLength);
                domain.Fill(0, Garbage, PoolLength);
                pool = PersistentPool.Create(domain, PoolCrashTests.LayoutName, PoolCrashTests.SmallPool);
                pool.Root<Registry>();
                return domain;
            },
            _ =>
            {
                var registry = pool!.Root<Registry>();
                for (var i = 0; i < 40; i += 5)
                {
                    using var tx = pool.BeginTransaction();
                    for (var k = i; k < i + 5; k++)
                    {
                        registry.Counters[k] = k * k; // tables grow: each rehash is a new table over garbage
                        registry.Numbers.Add(k);
                    }

                    tx.Commit();
                }
            },
            PoolCrashTests.OnOwnThread((image, _) =>
            {
                using var reopened = PoolCrashTests.OpenImage(image);
                PoolCrashTests.AssertHeapIsSound(reopened);
                var registry = reopened.Root<Registry>();
                var count = registry.Numbers.Count;
                Assert.Equal(0, count % 5); // five per transaction
                Assert.Equal(Enumerable.Range(0, count).Select(k => (long)k), registry.Numbers);
                Assert.Equal(count, registry.Counters.Count);
                Assert.Equal(Enumerable.Range(0, count).Select(k => KeyValuePair.Create((long)k, (long)k * k)), registry.Counters.OrderBy(pair => pair.Key));
                Assert.All(Enumerable.Range(count, 40 - count), k => Assert.False(registry.Counters.ContainsKey(k), $"key {k} was never committed"));
            }),
            new CrashCampaignOptions { ImagesPerPoint = 4 });

        PoolCrashTests.Report(nameof(Collection_storage_carved_from_garbage_reads_empty_where_nothing_was_written_at_every_crash), result);
    }
}

/// <summary>The root of <see cref="HeapReuseCrashTests"/>: a list of accounts, a list of kilos, a large object and a string.</summary>
internal sealed class Yard : PersistentObject, IPersistentObject<Yard>
{
    private Yard(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Yard", 64, 0x7A2D,
        [new(0, PersistentFieldKind.Reference), new(8, PersistentFieldKind.Reference), new(16, PersistentFieldKind.Reference), new(24, PersistentFieldKind.String)]);

    static Yard IPersistentObject<Yard>.Attach(ObjectHandle handle) => new(handle);

    public Account? Accounts { get => ReadReference<Account>(0); set => WriteReference(0, value); }

    public Kilo? Kilos { get => ReadReference<Kilo>(8); set => WriteReference(8, value); }

    public Slab? Slab { get => ReadReference<Slab>(16); set => WriteReference(16, value); }

    public string? Name { get => ReadString(24); set => WriteString(24, value); }
}

/// <summary>A 1 KiB object (a run block of the 1 KiB class) with a word at each end.</summary>
internal sealed class Kilo : PersistentObject, IPersistentObject<Kilo>
{
    private Kilo(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.Kilo", 1024, 0x4B11, [new(0, PersistentFieldKind.Reference)]);

    static Kilo IPersistentObject<Kilo>.Attach(ObjectHandle handle) => new(handle);

    public Kilo? Next { get => ReadReference<Kilo>(0); set => WriteReference(0, value); }

    public long Value { get => ReadField<long>(8); set => WriteField(8, value); }

    public long Tail { get => ReadField<long>(1016); set => WriteField(1016, value); }
}

/// <summary>A 40 KiB object: larger than any run block, so it takes a large group of whole chunks.</summary>
internal sealed class Slab : PersistentObject, IPersistentObject<Slab>
{
    private Slab(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.Slab", 40960, 0x51AB, []);

    static Slab IPersistentObject<Slab>.Attach(ObjectHandle handle) => new(handle);

    public long Value { get => ReadField<long>(0); set => WriteField(0, value); }

    public long Tail { get => ReadField<long>(40952); set => WriteField(40952, value); }
}
