// Seed pools for the corruption fuzzer: small realistic pools in both durability modes, closed or caught mid-work.
using System.Buffers.Binary;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Robustness;

/// <summary>The fuzzer's root: references, a string, a number, and a <see cref="Registry"/> holding every collection kind.</summary>
internal sealed class FuzzRoot : PersistentObject, IPersistentObject<FuzzRoot>
{
    private FuzzRoot(ObjectHandle handle) : base(handle) { }

    // With a schema, so the seeds hold a schema record (and its schema word) for the fuzzer to damage.
    public static PersistentTypeInfo PersistentType { get; } = new(
        "Fuzz.Root", 64, 0xF022, 1,
        [
            new("Head", "reference", 0, 8, target: "Tests.Account", isNullable: true),
            new("Name", "string", 8, 8, isNullable: true),
            new("Registry", "reference", 16, 8, target: "Tests.Registry", isNullable: true),
            new("Total", "System.Int64", 24, 8),
            new("Spare", "reference", 32, 8, target: "Tests.Account", isNullable: true),
        ]);

    static FuzzRoot IPersistentObject<FuzzRoot>.Attach(ObjectHandle handle) => new(handle);

    public Account? Head { get => ReadReference<Account>(0); set => WriteReference(0, value); }

    public string? Name { get => ReadString(8); set => WriteString(8, value); }

    public Registry? Registry { get => ReadReference<Registry>(16); set => WriteReference(16, value); }

    public long Total { get => ReadField<long>(24); set => WriteField(24, value); }

    public Account? Spare { get => ReadReference<Account>(32); set => WriteReference(32, value); }
}

/// <summary>A place in a seed worth aiming damage at; <see cref="Weight"/> is its share of the aimed damage.</summary>
internal readonly record struct FuzzRegion(string Name, long Offset, long Length, int Weight);

/// <summary>An image to damage: a pool (with its regions), or a file that is no pool at all.</summary>
internal sealed record FuzzSeed(string Name, byte[] Image, IReadOnlyList<FuzzRegion> Regions)
{
    public override string ToString() => Name;
}

/// <summary>
/// Builds the seeds (closed pool files, the bytes a killed process leaves, simulated power failures just after a
/// commit point), and reads and writes their object graph the way a program would.
/// </summary>
internal static class FuzzPools
{
    public const string Layout = "fuzz";
    private const int LaneCount = 2;
    private const int LaneSize = 8192;
    private static readonly long PoolSize = PoolLayout.HeapStart(LaneCount, LaneSize) + 16L * PoolLayout.ChunkSize;

    /// <summary>Every seed, each checked to open; the mid-work ones hold committed logs that recovery replays.</summary>
    public static IReadOnlyList<FuzzSeed> Build(string directory)
    {
        var seeds = new List<FuzzSeed>();
        foreach (var mode in new[] { DurabilityMode.PowerFailure, DurabilityMode.ProcessCrash })
        {
            var tag = mode == DurabilityMode.PowerFailure ? "pf" : "pc";
            var path = Path.Combine(directory, $"seed-{tag}.pool");
            byte[] killed;
            using (var pool = PersistentPool.Create(path, Layout, PoolSize, Options(mode)))
            {
                Populate(pool);
                MidWork(pool);
                killed = pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray(); // what kill -9 leaves
            }

            if (mode == DurabilityMode.ProcessCrash)
            {
                Log.ClearedLogs.ResealLast(killed); // killed before its last commit cleared its log
            }

            seeds.Add(Seed($"{tag}-closed", TestFiles.ReadAllBytes(path), expectLogs: false));
            seeds.Add(Seed($"{tag}-killed", killed, expectLogs: true));
            File.Delete(path);
            var crashes = CrashImages(mode);
            seeds.Add(Seed($"{tag}-sim-early", crashes[0], expectLogs: true));
            seeds.Add(Seed($"{tag}-sim-late", crashes[^1], expectLogs: true));
        }

        return seeds;
    }

    private static PoolCreateOptions Options(DurabilityMode mode) =>
        new() { Durability = mode, LaneCount = LaneCount, LaneSize = LaneSize };

    /// <summary>A simulated pool's durable content right after each drain of <see cref="MidWork"/>: power failures there.</summary>
    private static List<byte[]> CrashImages(DurabilityMode mode)
    {
        var domain = new SimulatedDomain(PoolSize);
        var images = new List<byte[]>();
        using (var pool = PersistentPool.Create(domain, Layout, Options(mode)))
        {
            Populate(pool);
            domain.AfterDrain = d => images.Add(d.CrashNonePersisted());
            MidWork(pool);
            domain.AfterDrain = null;
        }

        var recovering = images.Where(image => Open(image, out var recovered) && recovered > 0).ToList();
        Assert.True(recovering.Count >= 2, $"only {recovering.Count} of {images.Count} crash images hold logs to replay");
        return recovering;
    }

    private static FuzzSeed Seed(string name, byte[] image, bool expectLogs)
    {
        Assert.True(Open(image, out var recovered), $"seed {name} does not open");
        Assert.True(!expectLogs || recovered > 0, $"seed {name} holds no committed log awaiting recovery");
        return new FuzzSeed(name, image, Regions(image));
    }

    private static bool Open(byte[] image, out int recovered)
    {
        using var pool = PersistentPool.Open(SimulatedDomain.FromImage(image), Layout);
        recovered = pool.RecoveredTransactions;
        var report = pool.Check();
        return report.IsConsistent && Read(pool) > 0;
    }

    private static void Populate(PersistentPool pool)
    {
        var root = pool.Root<FuzzRoot>();
        root.Name = "fuzz root";
        var registry = root.Registry = pool.New<Registry>();
        for (var i = 0; i < 12; i++)
        {
            using var tx = pool.BeginTransaction();
            var account = pool.New<Account>();
            (account.Balance, account.Owner, account.Amount, account.Id) = (i, $"owner {i}", i * 1.25m, new Guid(i, 1, 2, new byte[8]));
            account.Next = root.Head;
            root.Head = account;
            registry.Accounts.Add(account);
            registry.ById[i] = account;
            tx.Commit();
        }

        for (var i = 0; i < 48; i++)
        {
            registry.Numbers.Add(i * 7L);
        }

        for (var i = 0; i < 24; i++)
        {
            registry.Lines.Add(i % 5 == 0 ? null : $"line {i}");
            registry.Counters[i] = -i;
            registry.Names[$"key {i}"] = i % 7 == 0 ? null : $"value {i}";
        }

        for (var i = 0; i < 6; i++) // created and deleted: freed blocks, retired logs
        {
            var temporary = pool.New<Account>();
            temporary.Owner = $"temporary {i}";
            pool.Delete(temporary);
        }

        for (var i = 0; i < 16; i++) // indexed objects: the index directory and its trees, for the fuzzer to damage
        {
            using var tx = pool.BeginTransaction();
            var member = pool.New<Indexes.Member>();
            (member.Number, member.Name, member.Tide) = (i + 1, $"member {i % 4}", (Tide)(i % 2 == 0 ? 3 : -2));
            tx.Commit();
        }

        registry.Numbers.RemoveAt(3);
        registry.Lines.RemoveAt(1);
        registry.Names.Remove("key 2");
        using (var tx = pool.BeginTransaction())
        {
            var gone = root.Head!;
            root.Head = gone.Next;
            registry.Accounts.Remove(gone);
            registry.ById.Remove(gone.Balance);
            pool.Delete(gone);
            tx.Commit();
        }
    }

    /// <summary>Transactions touching every kind of data: the seeds' crash images are taken in here.</summary>
    private static void MidWork(PersistentPool pool)
    {
        var root = pool.Root<FuzzRoot>();
        var registry = root.Registry!;
        for (var i = 0; i < 6; i++)
        {
            using var tx = pool.BeginTransaction();
            root.Total += i;
            root.Name = $"round {i}";
            registry.Numbers.Add(1000 + i);
            registry.Counters[100 + i] = i;
            registry.Lines[2] = $"rewritten {i}";
            if (root.Spare is { } old)
            {
                pool.Delete(old);
            }

            root.Spare = pool.New<Account>();
            root.Spare.Owner = $"spare {i}";
            pool.Index<Indexes.Member, long>(nameof(Indexes.Member.Number)).Find(i + 1)[0].Name = $"round {i}";
            tx.Commit();
        }
    }

    /// <summary>Reads the whole graph as a program would (collections capped); returns how many values it read.</summary>
    public static long Read(PersistentPool pool)
    {
        const int Cap = 100_000;
        var root = pool.Root<FuzzRoot>();
        _ = (root.Total, root.Name);
        long read = 1;
        var seen = new HashSet<long>();
        void Visit(Account? account)
        {
            for (; account is not null && seen.Add(account.Offset) && seen.Count < Cap; account = account.Next, read++)
            {
                _ = (account.Balance, account.Owner, account.Counter, account.Id, account.Amount);
            }
        }

        Visit(root.Head);
        Visit(root.Spare);
        if (root.Registry is not { } registry)
        {
            return read;
        }

        foreach (var account in registry.Accounts.Take(Cap))
        {
            Visit(account);
        }

        read += registry.Numbers.Take(Cap).Count() + registry.Lines.Take(Cap).Count(line => line is not null);
        read += registry.Counters.Take(Cap).Count() + registry.Names.Take(Cap).Count(pair => pair.Value is not null);
        foreach (var (_, account) in registry.ById.Take(Cap))
        {
            Visit(account);
        }

        _ = (registry.Counters.TryGetValue(5, out _), registry.Names.ContainsKey("key 3"), registry.ById.ContainsKey(4));
        read += pool.Index<Indexes.Member, string>(nameof(Indexes.Member.Name)).Find("member 1").Count;
        read += pool.Index<Indexes.Member, long>(nameof(Indexes.Member.Number)).Range(2, 9).Count;
        read += pool.Index<Indexes.Member, Tide>(nameof(Indexes.Member.Tide)).Take(Cap).Count();
        return read;
    }

    /// <summary>One small transaction: a number, a string and a new object.</summary>
    public static void Commit(PersistentPool pool)
    {
        var root = pool.Root<FuzzRoot>();
        var member = pool.Index<Indexes.Member, long>(nameof(Indexes.Member.Number)).Find(3).FirstOrDefault(); // outside the transaction: may build
        using var tx = pool.BeginTransaction();
        if (member is not null)
        {
            member.Name = "after the damage";
        }

        root.Total++;
        root.Name = "after the damage";
        root.Spare = pool.New<Account>();
        tx.Commit();
    }

    /// <summary>The metadata of a pool image, found from its own bytes: header words, type table, log slots, chunks, objects.</summary>
    private static IReadOnlyList<FuzzRegion> Regions(byte[] image)
    {
        var regions = new List<FuzzRegion>();
        long Word(long offset) => offset >= 0 && offset + 8 <= image.Length ? BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan((int)offset)) : 0;
        void Add(string name, long offset, long length, int weight)
        {
            if (offset > 0 && offset < image.Length)
            {
                regions.Add(new FuzzRegion(name, offset, Math.Min(length, image.Length - offset), weight));
            }
        }

        regions.Add(new FuzzRegion("header", 0, PoolLayout.ChecksummedBytes + 8, 2));
        Add("header words", PoolLayout.PoolSizeOffset, 64, 8); // size, root, root type, type count, R, migration: outside the checksum
        var types = Math.Clamp(Word(PoolLayout.TypeCountOffset), 1, 16);
        Add("schema words", PoolLayout.SchemaWordsOffset, 8 * types, 3);
        for (var entry = 0; entry < types; entry++)
        {
            Add("schema record", Word(PoolLayout.SchemaWordOffset(entry)) & long.MaxValue, 192, 3);
        }

        if (Word(PoolLayout.IndexDirectoryOffset) is var directory and > 0)
        {
            Add("index directory", directory, IndexDirectory.HeaderSize + 8 * IndexDirectory.EntrySize, 3);
            for (var entry = 0; entry < 4; entry++)
            {
                Add("index tree", Word(IndexDirectory.EntryOffset(directory, entry)), 64, 2);
            }
        }

        Add("type table", PoolLayout.TypeTableOffset, PoolLayout.TypeEntrySize * Math.Clamp(Word(PoolLayout.TypeCountOffset), 1, 16), 3);
        var slotSize = LaneSize / 3 & ~63;
        for (var slot = 0; slot < LaneCount * 3; slot++)
        {
            var offset = PoolLayout.LanesOffset + slot / 3 * LaneSize + slot % 3 * slotSize;
            Add($"log {slot} header", offset, 64, 3);
            Add($"log {slot} entries", offset + 64, 512, 2);
        }

        for (var chunk = Word(PoolLayout.HeapOffsetOffset); chunk < image.Length; chunk += PoolLayout.ChunkSize)
        {
            Add("chunk header", chunk, 64, 1);
            Add("run bitmap", chunk + 64, 512, 2);
            Add("run types", chunk + 576, 16 << 10, 1);
        }

        var root = Word(PoolLayout.RootOffsetOffset);
        var registry = Word(root + 16);
        Add("root", root, 64, 4);
        Add("root name", Word(root + 8), 64, 1);
        Add("account", Word(root), 64, 2);
        Add("registry", registry, 64, 3);
        for (var i = 0; i < 6; i++)
        {
            var header = Word(registry + 8 * i);
            Add($"collection {i} header", header, 64, 3);
            Add($"collection {i} storage", Word(header + 16), 512, 2);
        }

        return regions;
    }
}
