// The migration-copy fuzzer: damaged V1 pool files opened by the V2 program, whose migration runs in a copy of the file.
using System.Buffers.Binary;
using System.Diagnostics;
using Pmem.Heap;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Robustness;

namespace Pmem.Tests.Schema;

/// <summary>
/// Damages V1 pool files (<see cref="FuzzDamage"/>, aimed at the header, type table and schema records, the lane slots
/// and the logs they name outside themselves, chunk headers and bitmaps, and the objects) and opens each with the V2
/// program on an ordinary file system, where the migration runs in <c>&lt;file&gt;.migrating</c> and is renamed over
/// the file. An open either throws an exception the README documents, leaving no copy, the same inode and the bytes as
/// they were (or, when the copy's migration failed, changed only where recovery writes: the watermark R, the lanes, the
/// chunk header lines); or succeeds, leaving no copy, a pool whose <see cref="PersistentPool.Check"/> does not throw,
/// that closes and reopens. Damage the open cannot see is acceptable only when Check reports it: a pool Check calls
/// consistent must read through V2 without an exception, and a migrated pool that reports damage must come from an
/// original that (opened read-only by V1) reports damage too. Each case runs on its own thread and counts as a hang
/// past <see cref="CaseTimeout"/>.
/// </summary>
/// <remarks>
/// A failure is reported as its case (<c>seed/index</c>), template and damage; <c>PMEM_MIGRATION_FUZZ_CASE=seed/index</c>
/// runs that case alone, <c>PMEM_MIGRATION_FUZZ_SEED</c> picks another base seed, <c>PMEM_MIGRATION_FUZZ_VERBOSE=1</c>
/// prints every case's outcome. <see cref="Cases"/> cases, ten times more with <c>PMEM_CRASH_CAMPAIGN=long</c>.
/// </remarks>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks (see PoolFileTests)
public sealed partial class MigrationCopyFuzzTests : IDisposable
{
    private const int Cases = 300;
    private const int DefaultSeed = 1;
    private const int ForgedPercent = 20; // cases that also get a forged header or chunk header (one that passes its check)
    private const int MaxHangs = 3; // a hung case's thread cannot be stopped: past this many, stop rather than pile them up
    private const long ReferenceMask = (1L << 48) - 1; // a reference word's offset bits (the high 16 carry a generation)
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(30);

    private readonly string _directory = Directory.CreateDirectory(
        Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"pmem-migration-fuzz-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Damaged_pools_migrating_through_a_copy_are_refused_unchanged_or_open_sound()
    {
        var clock = Stopwatch.StartNew();
        var templates = new[] { PlainTemplate(), ExternalLogTemplate() };
        foreach (var template in templates)
        {
            MigratesUndamaged(template);
        }

        var isLong = string.Equals(Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable), "long", StringComparison.OrdinalIgnoreCase);
        var seed = int.TryParse(Environment.GetEnvironmentVariable("PMEM_MIGRATION_FUZZ_SEED"), out var chosen) ? chosen : DefaultSeed;
        var only = Environment.GetEnvironmentVariable("PMEM_MIGRATION_FUZZ_CASE");
        var cases = Cases * (isLong ? 10 : 1);
        var verbose = Environment.GetEnvironmentVariable("PMEM_MIGRATION_FUZZ_VERBOSE") is "1";
        var failures = new List<CaseFailure>();
        var outcomes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int run = 0, hangs = 0;
        for (var i = 0; i < cases && hangs < MaxHangs; i++)
        {
            var name = $"{seed}/{i}";
            if (only is not null && only != name)
            {
                continue;
            }

            var template = templates[i % templates.Length];
            var random = new Random(unchecked(seed * 1_000_003 + i));
            var (bytes, damage) = FuzzDamage.Apply(template.Seed, random);
            if (random.Next(100) < ForgedPercent)
            {
                damage += "; " + Forge(bytes, template, random);
            }

            var file = Path.Combine(_directory, $"case-{i}.pool");
            var fuzzCase = new MigrationCase($"{name} ({template.Seed.Name})", damage, bytes, file, template);
            var thread = new Thread(fuzzCase.Run) { IsBackground = true, Name = $"migration fuzz {name}" };
            thread.Start();
            var finished = thread.Join(CaseTimeout);
            failures.AddRange(fuzzCase.TakeFailures());
            run++;
            if (!finished)
            {
                hangs++;
                failures.Add(new CaseFailure(fuzzCase.Name, damage, $"{fuzzCase.Step}: hang", $"no return after {CaseTimeout.TotalSeconds:0} s"));
                Count(outcomes, "hang");
                continue;
            }

            Count(outcomes, fuzzCase.Outcome);
            if (verbose)
            {
                Console.WriteLine($"[migration fuzz] {fuzzCase.Name}: {fuzzCase.Outcome}{fuzzCase.Note} <- {damage}");
            }

            File.Delete(file);
            File.Delete(PersistentPool.MigrationCopyPath(file)); // (checked absent by the case; a leftover is reported there)
        }

        var summary = Summarize(failures, hangs >= MaxHangs);
        var lines = new List<string> { $"[migration fuzz] seed {seed}: {run} damaged pools in {clock.Elapsed.TotalSeconds:0.0} s" };
        lines.AddRange(outcomes.Select(pair => $"[migration fuzz] {pair.Value,5} × {pair.Key}"));
        var tally = string.Join(Environment.NewLine, lines);
        Console.WriteLine(tally);
        Pmem.Tests.Crash.TestSummary.Add(Pmem.Tests.Crash.TestSummary.DamagedPools, run);
        TestContext.Current.TestOutputHelper?.WriteLine(tally);
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        if (failures.Count > 0)
        {
            Assert.Fail(tally + Environment.NewLine + summary);
        }
    }

    private static void Count(SortedDictionary<string, int> outcomes, string outcome) =>
        outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;

    /// <summary>A damaged file's template: its bytes and regions, its lane configuration, how many people it holds.</summary>
    internal sealed record Template(FuzzSeed Seed, int LaneCount, int LaneSize, int People)
    {
        public long HeapStart => PoolLayout.HeapStart(LaneCount, LaneSize);
    }

    /// <summary>60 V1 people, one per transaction, closed cleanly: the logs in the slots are all retired.</summary>
    private Template PlainTemplate()
    {
        const int People = 60;
        var options = new PoolCreateOptions { LaneCount = 4, LaneSize = 3 * 8192 };
        return Build("plain", options, People, pool => SchemaEvolutionTests.FillV1(pool, People));
    }

    /// <summary>
    /// 100 V1 people in two small lanes, then three transactions touching every person, whose logs do not fit a slot:
    /// they lie in heap blocks that are reserved, not allocated, so in free chunks, which the copy leaves out but for
    /// what the slots' headers name.
    /// </summary>
    private Template ExternalLogTemplate()
    {
        const int People = 100;
        var options = new PoolCreateOptions { LaneCount = 2, LaneSize = 3 * 4096 };
        var template = Build("outside-slots", options, People, pool =>
        {
            SchemaEvolutionTests.FillV1(pool, People);
            for (var round = 0; round < 3; round++)
            {
                using var tx = pool.BeginTransaction();
                foreach (var person in pool.Root<Directory<PersonV1>>().People)
                {
                    person!.Count += 1;
                    person.Score += 1;
                }

                tx.Commit();
            }
        });

        var image = template.Seed.Image;
        var slotSize = template.LaneSize / 3 & ~63;
        var outside = Enumerable.Range(0, template.LaneCount * 3)
            .Select(slot => PoolLayout.LanesOffset + (long)slot / 3 * template.LaneSize + slot % 3 * slotSize)
            .Count(header => BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan((int)header + 40)) > 0);
        Assert.True(outside >= 1, "no slot of the template names a log outside it");
        return template;
    }

    private Template Build(string name, PoolCreateOptions options, int people, Action<PersistentPool> fill)
    {
        var path = Path.Combine(_directory, $"template-{name}.pool");
        var size = PoolLayout.HeapStart(options.LaneCount, options.LaneSize) + 8L * PoolLayout.ChunkSize;
        List<long> offsets;
        using (var pool = PersistentPool.Create(path, SchemaEvolutionTests.Layout, size, options))
        {
            Assert.Equal(FlushPath.Msync, pool.Domain.FlushPath); // an ordinary file: a migration runs in a copy
            fill(pool);
            offsets = [.. pool.Root<Directory<PersonV1>>().People.Select(person => person!.Offset)];
        }

        var image = TestFiles.ReadAllBytes(path);
        File.Delete(path);
        return new Template(new FuzzSeed(name, image, Regions(image, options.LaneCount, options.LaneSize, offsets)), options.LaneCount, options.LaneSize, people);
    }

    /// <summary>The template itself migrates through a copy and checks sound: what the damage is measured against.</summary>
    private void MigratesUndamaged(Template template)
    {
        var path = Path.Combine(_directory, $"undamaged-{template.Seed.Name}.pool");
        TestFiles.WriteAllBytes(path, template.Seed.Image);
        var inode = Inode(path);
        using (var pool = PersistentPool.Open(path, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            Assert.Single(pool.MigratedAtOpen);
            Assert.Equal(template.People, pool.Root<Directory<PersonV2>>().People.Count);
            SchemaEvolutionTests.AssertSound(pool);
        }

        Assert.NotEqual(inode, Inode(path));
        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(path)));
        File.Delete(path);
    }

    /// <summary>Where to aim the damage, found from the template's bytes and its people's offsets.</summary>
    private static List<FuzzRegion> Regions(byte[] image, int laneCount, int laneSize, IReadOnlyList<long> people)
    {
        var regions = new List<FuzzRegion>();
        long Word(long offset) => offset >= 0 && offset + 8 <= image.Length ? BinaryPrimitives.ReadInt64LittleEndian(image.AsSpan((int)offset)) : 0;
        long Reference(long offset) => Word(offset) & ReferenceMask;
        void Add(string name, long offset, long length, int weight)
        {
            if (offset > 0 && offset < image.Length && length > 0)
            {
                regions.Add(new FuzzRegion(name, offset, Math.Min(length, image.Length - offset), weight));
            }
        }

        regions.Add(new FuzzRegion("header", 0, PoolLayout.ChecksummedBytes + 8, 2));
        Add("header words", PoolLayout.PoolSizeOffset, 72, 8); // size, root, root type, type count, R, migration words, index directory
        var types = Math.Clamp(Word(PoolLayout.TypeCountOffset), 1, 16);
        Add("schema words", PoolLayout.SchemaWordsOffset, 8 * types, 3);
        for (var entry = 0; entry < types; entry++)
        {
            Add("schema record", Word(PoolLayout.SchemaWordOffset(entry)) & long.MaxValue, 192, 4);
        }

        Add("type table", PoolLayout.TypeTableOffset, PoolLayout.TypeEntrySize * types, 4);
        if (Word(PoolLayout.IndexDirectoryOffset) is var directory and > 0)
        {
            Add("index directory", directory, 256, 2);
        }

        var slotSize = laneSize / 3 & ~63;
        for (var slot = 0; slot < laneCount * 3; slot++)
        {
            var header = PoolLayout.LanesOffset + (long)slot / 3 * laneSize + slot % 3 * slotSize;
            Add($"log {slot} header", header, 64, 3);
            Add($"log {slot} external word", header + 40, 8, 1);
            Add($"log {slot} entries", header + 64, 512, 2);
            if (Word(header + 40) is var external and > 0)
            {
                Add($"log {slot} outside its slot", external, (uint)Word(header + 8), 4);
            }
        }

        for (var chunk = Word(PoolLayout.HeapOffsetOffset); chunk > 0 && chunk < image.Length; chunk += PoolLayout.ChunkSize)
        {
            Add("chunk header", chunk, 64, 1);
            Add("run bitmap", chunk + 64, 512, 2);
            Add("run types", chunk + 576, 16 << 10, 1);
        }

        var root = Reference(PoolLayout.RootOffsetOffset);
        Add("root", root, 64, 4);
        Add("root name", Reference(root + 16), 64, 1); // the title
        foreach (var (name, field) in new[] { ("people", 8L), ("by-age", 24L) })
        {
            var collection = Reference(root + field);
            Add($"collection {name} header", collection, 64, 3);
            Add($"collection {name} storage", Reference(collection + 16), 1024, 2);
        }

        if (people.Count > 0)
        {
            Add("people", people.Min(), people.Max() - people.Min() + 64, 6);
            foreach (var person in people.Take(4))
            {
                Add("person name", Reference(person + 8), 64, 1);
                Add("person tags", Reference(person + 32), 64, 1);
            }
        }

        return regions;
    }

    /// <summary>
    /// Damage that passes its check, to reach past it: a chunk header word re-encoded with another kind, size class or
    /// span; or a checksummed header field (version, lanes, heap offset, identity) changed and the checksum recomputed.
    /// </summary>
    private static string Forge(byte[] bytes, Template template, Random random)
    {
        var chunks = (int)((template.Seed.Image.Length - template.HeapStart) / PoolLayout.ChunkSize);
        if (random.Next(100) < 55 || bytes.Length < PoolLayout.HeaderSize)
        {
            var chunk = random.Next(chunks);
            var offset = template.HeapStart + (long)chunk * PoolLayout.ChunkSize;
            if (offset + 16 > bytes.Length)
            {
                return "(no chunk to forge)";
            }

            var kind = (ChunkKind)random.Next(1, 4);
            var sizeClass = (byte)(random.Next(8) == 0 ? random.Next(256) : random.Next(SizeClasses.Count));
            var span = random.Next(3) == 0 ? random.Next(1, chunks - chunk + 2) : 1;
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)offset), new ChunkHeader(kind, sizeClass, span).Encode());
            var described = $"forged chunk header @{offset} (chunk {chunk}) = {kind}, class {sizeClass}, span {span}";
            if (kind == ChunkKind.Large && random.Next(2) == 0)
            {
                var type = (uint)random.Next(0, 24);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)offset + ChunkHeader.LargeTypeOffset), type);
                described += $", large type {type}";
            }

            return described;
        }

        string field;
        switch (random.Next(7))
        {
            case 0:
                var version = (uint)random.Next((int)PoolLayout.OldestReadableVersion, (int)PoolLayout.FormatVersion + 1);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(PoolLayout.VersionOffset), version);
                field = $"version {version}";
                break;
            case 1:
                var lanes = random.Next(1, 9);
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(PoolLayout.LaneCountOffset), lanes);
                field = $"lane count {lanes}";
                break;
            case 2:
                var laneSize = 4096 * random.Next(1, 16);
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(PoolLayout.LaneSizeOffset), laneSize);
                field = $"lane size {laneSize}";
                break;
            case 3:
                var heap = random.Next(2) == 0 ? PoolLayout.HeapStart(random.Next(1, 9), 4096 * random.Next(1, 16)) : random.NextInt64(0, 1 << 22);
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(PoolLayout.HeapOffsetOffset), heap);
                field = $"heap offset {heap}";
                break;
            case 4:
                var header = (uint)(random.Next(2) == 0 ? PoolLayout.HeaderSize : random.Next());
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(PoolLayout.HeaderSizeOffset), header);
                field = $"header size {header}";
                break;
            default:
                var at = random.Next(PoolLayout.UuidOffset, PoolLayout.DurabilityOffset); // the pool's identity: uuid, creation time
                bytes[at] ^= (byte)(1 << random.Next(8));
                field = $"identity byte {at}";
                break;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(PoolLayout.HeaderChecksumOffset), PersistentPool.HeaderChecksum(bytes.AsSpan(0, PoolLayout.ChecksummedBytes), PoolLayout.Magic));
        return $"forged header: {field}, checksum recomputed";
    }

    internal static ulong Inode(string path) => LibC.FileStatus(path, out var info) == 0 ? info.Inode : 0;

    /// <summary>One line per distinct (step, exception type, throwing method), most frequent first, with one example in full.</summary>
    private static string Summarize(List<CaseFailure> failures, bool stoppedByHangs)
    {
        var groups = failures.GroupBy(f => f.Key).OrderByDescending(g => g.Count()).ToList();
        var lines = new List<string> { $"{failures.Count} failures in {groups.Count} groups{(stoppedByHangs ? $" (stopped after {MaxHangs} hangs)" : "")}:" };
        foreach (var group in groups)
        {
            var example = group.First();
            lines.Add($"{group.Count(),5} × {group.Key}");
            lines.Add($"        e.g. {example.Case}: {example.Damage}");
            lines.Add($"        {example.Detail}");
            lines.Add($"        all: {string.Join(", ", group.Select(f => f.Case.Split(' ')[0]).Take(20))}");
        }

        return string.Join(Environment.NewLine, lines);
    }
}
