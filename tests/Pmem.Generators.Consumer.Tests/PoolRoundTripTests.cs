using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>
/// Generated classes used in real pools: every supported property type written through generated setters and
/// collection getters, the pool crashed (simulated) and reopened from the image, everything read back.
/// </summary>
public sealed class PoolRoundTripTests
{
    private const string Layout = "consumer";
    private const long PoolSize = 4 << 20;

    private static readonly Guid SomeGuid = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
    private static readonly Guid OtherGuid = Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7");
    private static readonly DateTime SomeDate = new(2026, 11, 25, 10, 30, 15, 123, DateTimeKind.Utc);
    private static readonly DateTimeOffset SomeOffsetDate = new(2026, 11, 25, 11, 30, 15, TimeSpan.FromHours(1));
    private static readonly Int128 BigSigned = Int128.MinValue + 12345;
    private static readonly UInt128 BigUnsigned = UInt128.MaxValue - 6789;

    /// <summary>
    /// "none": only what was made durable survives, so every generated setter and collection change must be durable
    /// when it returns. "all": every store survives (the live content).
    /// </summary>
    [Theory]
    [InlineData("none")]
    [InlineData("all")]
    public void Every_property_type_survives_a_crash_and_reopen(string persisted)
    {
        var image = WithNewPool(pool =>
        {
            var root = pool.Root<Everything>();
            WriteEverything(pool, root);
            AssertEverything(root); // the live pool first
        }, persisted);

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), Layout);
        AssertEverything(reopened.Root<Everything>());
    }

    [Fact]
    public void Nullable_properties_set_back_to_null_read_null_after_reopen()
    {
        var image = WithNewPool(pool =>
        {
            var root = pool.Root<Everything>();
            WriteEverything(pool, root);
            root.NullableFlag = null;
            root.NullableInt32 = null;
            root.NullableInt64 = null;
            root.NullableDouble = null;
            root.NullableDecimal = null;
            root.NullableGuid = null;
            root.NullableDateTime = null;
            root.NullableDateTimeOffset = null;
            root.NullableTimeSpan = null;
            root.NullableInt128 = null;
            root.NullableTier = null;
            root.Name = null;
            root.Owner = null;
        }, "none");

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), Layout);
        var root = reopened.Root<Everything>();
        Assert.Null(root.NullableFlag);
        Assert.Null(root.NullableInt32);
        Assert.Null(root.NullableInt64);
        Assert.Null(root.NullableDouble);
        Assert.Null(root.NullableDecimal);
        Assert.Null(root.NullableGuid);
        Assert.Null(root.NullableDateTime);
        Assert.Null(root.NullableDateTimeOffset);
        Assert.Null(root.NullableTimeSpan);
        Assert.Null(root.NullableInt128);
        Assert.Null(root.NullableTier);
        Assert.Null(root.Name);
        Assert.Null(root.Owner);

        // Neighbouring fields are untouched by the null writes.
        Assert.Equal(-1234567890123L, root.Int64);
        Assert.Equal(string.Empty, root.Empty);
    }

    [Fact]
    public void A_new_object_reads_zero_null_and_empty_collections()
    {
        WithNewPool(pool =>
        {
            var root = pool.Root<Everything>();
            Assert.False(root.Flag);
            Assert.Equal(0L, root.Int64);
            Assert.Equal(0m, root.Decimal);
            Assert.Equal(Guid.Empty, root.Guid);
            Assert.Equal(Tier.Bronze, root.Tier);
            Assert.Null(root.NullableInt64);
            Assert.Null(root.NullableGuid);
            Assert.Null(root.Name);
            Assert.Null(root.Owner);
            Assert.Empty(root.Numbers);
            Assert.Empty(root.Customers);
            Assert.Empty(root.Notes);
            Assert.Empty(root.CustomersById);
        }, "none");
    }

    [Fact]
    public void Transaction_commit_keeps_and_rollback_discards_generated_writes()
    {
        var image = WithNewPool(pool =>
        {
            var root = pool.Root<Everything>();
            using (var tx = pool.BeginTransaction())
            {
                root.Int64 = 1;
                root.NullableDecimal = 1.5m;
                root.Name = "committed";
                root.Numbers.Add(1);
                root.Labels[1] = "one";
                tx.Commit();
            }

            using (var tx = pool.BeginTransaction())
            {
                root.Int64 = 2;
                root.NullableDecimal = null;
                root.Name = "rolled back";
                root.Owner = pool.New<Customer>();
                root.Numbers.Add(2);
                root.Labels[1] = "uno";
                root.Labels[2] = "two";

                // The transaction reads its own writes before it ends.
                Assert.Equal(2L, root.Int64);
                Assert.Equal("rolled back", root.Name);
                Assert.Equal([1, 2], root.Numbers);
            }

            AssertCommittedOnly(root);
        }, "none");

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), Layout);
        AssertCommittedOnly(reopened.Root<Everything>());

        static void AssertCommittedOnly(Everything root)
        {
            Assert.Equal(1L, root.Int64);
            Assert.Equal(1.5m, root.NullableDecimal);
            Assert.Equal("committed", root.Name);
            Assert.Null(root.Owner);
            Assert.Equal([1], root.Numbers);
            Assert.Equal([KeyValuePair.Create(1, (string?)"one")], root.Labels.ToList());
        }
    }

    [Fact]
    public void A_reference_read_as_another_persistent_type_throws()
    {
        var image = WithNewPool(pool =>
        {
            var customer = pool.New<Customer>();
            customer.Name = "Alice";
            pool.Root<Holder>().Target = customer;
        }, "none");

        // The program changed the reference's declared type; the layout hash cannot see that (a reference is an offset).
        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), Layout);
        var holder = reopened.Root<HolderOfAccount>();

        Assert.Throws<PersistentTypeMismatchException>(() => holder.Target);
        Assert.Equal("Alice", reopened.Root<Holder>().Target?.Name);
    }

    /// <summary>Creates a pool on a simulated domain, runs <paramref name="use"/>, and returns the crash image.</summary>
    private static byte[] WithNewPool(Action<PersistentPool> use, string persisted)
    {
        var domain = new SimulatedDomain(PoolSize);
        using var pool = PersistentPool.Create(domain, Layout);
        use(pool);
        return persisted == "none" ? domain.CrashNonePersisted() : domain.CrashAllPersisted();
    }

    private static void WriteEverything(PersistentPool pool, Everything root)
    {
        var alice = pool.New<Customer>();
        alice.Name = "Alice";
        var bob = pool.New<Customer>();
        bob.Name = "Bob";

        root.Flag = true;
        root.Byte = 250;
        root.SByte = -120;
        root.Int16 = -30000;
        root.UInt16 = 65000;
        root.Char = 'ß';
        root.Half = (Half)1.5;
        root.Int32 = -2_000_000_000;
        root.UInt32 = 4_000_000_000;
        root.Single = 3.25f;
        root.Int64 = -1234567890123L;
        root.UInt64 = ulong.MaxValue - 1;
        root.Double = Math.PI;
        root.Decimal = 12345.6789m;
        root.Guid = SomeGuid;
        root.DateTime = SomeDate;
        root.DateTimeOffset = SomeOffsetDate;
        root.TimeSpan = TimeSpan.FromMinutes(90.5);
        root.Int128 = BigSigned;
        root.UInt128 = BigUnsigned;
        root.Tier = Tier.Gold;

        root.NullableFlag = false;
        root.NullableInt32 = -7;
        root.NullableInt64 = long.MinValue;
        root.NullableDouble = -0.5;
        root.NullableDecimal = -99.99m;
        root.NullableGuid = OtherGuid;
        root.NullableDateTime = SomeDate.AddDays(1);
        root.NullableDateTimeOffset = SomeOffsetDate.AddHours(-3);
        root.NullableTimeSpan = TimeSpan.FromTicks(-1);
        root.NullableInt128 = Int128.MaxValue;
        root.NullableTier = Tier.Silver;

        root.Name = "Everything — ünïcödé";
        root.Empty = string.Empty;
        root.Owner = alice;

        root.Numbers.Add(3);
        root.Numbers.Add(1);
        root.Numbers.Add(4);
        root.Tiers.Add(Tier.Silver);
        root.Tiers.Add(Tier.Bronze);
        root.Tags.Add("red");
        root.Tags.Add(null);
        root.Tags.Add(string.Empty);
        root.Customers.Add(alice);
        root.Customers.Add(null);
        root.Customers.Add(bob);

        root.Prices[SomeGuid] = 9.99m;
        root.Prices[OtherGuid] = 0.01m;
        root.Labels[1] = "one";
        root.Labels[2] = null;
        root.CustomersById[10] = alice;
        root.CustomersById[20] = bob;
        root.Updated["alice"] = SomeDate;
        root.Notes["greeting"] = "hello";
        root.Notes["nothing"] = null;
        root.CustomersByName["bob"] = bob;
    }

    private static void AssertEverything(Everything root)
    {
        Assert.True(root.Flag);
        Assert.Equal((byte)250, root.Byte);
        Assert.Equal((sbyte)-120, root.SByte);
        Assert.Equal((short)-30000, root.Int16);
        Assert.Equal((ushort)65000, root.UInt16);
        Assert.Equal('ß', root.Char);
        Assert.Equal((Half)1.5, root.Half);
        Assert.Equal(-2_000_000_000, root.Int32);
        Assert.Equal(4_000_000_000u, root.UInt32);
        Assert.Equal(3.25f, root.Single);
        Assert.Equal(-1234567890123L, root.Int64);
        Assert.Equal(ulong.MaxValue - 1, root.UInt64);
        Assert.Equal(Math.PI, root.Double);
        Assert.Equal(12345.6789m, root.Decimal);
        Assert.Equal(SomeGuid, root.Guid);
        Assert.Equal(SomeDate, root.DateTime);
        Assert.Equal(DateTimeKind.Utc, root.DateTime.Kind);
        Assert.Equal(SomeOffsetDate, root.DateTimeOffset);
        Assert.Equal(SomeOffsetDate.Offset, root.DateTimeOffset.Offset);
        Assert.Equal(TimeSpan.FromMinutes(90.5), root.TimeSpan);
        Assert.Equal(BigSigned, root.Int128);
        Assert.Equal(BigUnsigned, root.UInt128);
        Assert.Equal(Tier.Gold, root.Tier);

        Assert.False(root.NullableFlag);
        Assert.Equal(-7, root.NullableInt32);
        Assert.Equal(long.MinValue, root.NullableInt64);
        Assert.Equal(-0.5, root.NullableDouble);
        Assert.Equal(-99.99m, root.NullableDecimal);
        Assert.Equal(OtherGuid, root.NullableGuid);
        Assert.Equal(SomeDate.AddDays(1), root.NullableDateTime);
        Assert.Equal(SomeOffsetDate.AddHours(-3), root.NullableDateTimeOffset);
        Assert.Equal(TimeSpan.FromTicks(-1), root.NullableTimeSpan);
        Assert.Equal(Int128.MaxValue, root.NullableInt128);
        Assert.Equal(Tier.Silver, root.NullableTier);

        Assert.Equal("Everything — ünïcödé", root.Name);
        Assert.Equal(string.Empty, root.Empty);
        Assert.Equal("Alice", root.Owner?.Name);

        Assert.Equal([3, 1, 4], root.Numbers);
        Assert.Equal([Tier.Silver, Tier.Bronze], root.Tiers);
        Assert.Equal(["red", null, string.Empty], root.Tags);
        Assert.Equal(["Alice", null, "Bob"], root.Customers.Select(customer => customer?.Name));

        Assert.Equal(2, root.Prices.Count);
        Assert.Equal(9.99m, root.Prices[SomeGuid]);
        Assert.Equal(0.01m, root.Prices[OtherGuid]);
        Assert.Equal([(1, "one"), (2, null)], root.Labels.OrderBy(pair => pair.Key).Select(pair => (pair.Key, pair.Value)));
        Assert.Equal([(10L, "Alice"), (20L, "Bob")], root.CustomersById.OrderBy(pair => pair.Key).Select(pair => (pair.Key, pair.Value?.Name)));
        Assert.Equal([KeyValuePair.Create("alice", SomeDate)], root.Updated.ToList());
        Assert.Equal([("greeting", "hello"), ("nothing", null)], root.Notes.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => (pair.Key, pair.Value)));
        Assert.Equal("Bob", Assert.Single(root.CustomersByName).Value?.Name);
        Assert.False(root.Notes.ContainsKey("missing"));
    }
}
