// The migration-copy fuzzer: damaged V1 pool files opened by the V2 program, whose migration runs in a copy of the file.
using System.Buffers.Binary;
using System.Diagnostics;
using System.Reflection;
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
public sealed class MigrationCopyFuzzTests : IDisposable
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

        var image = File.ReadAllBytes(path);
        File.Delete(path);
        return new Template(new FuzzSeed(name, image, Regions(image, options.LaneCount, options.LaneSize, offsets)), options.LaneCount, options.LaneSize, people);
    }

    /// <summary>The template itself migrates through a copy and checks sound: what the damage is measured against.</summary>
    private void MigratesUndamaged(Template template)
    {
        var path = Path.Combine(_directory, $"undamaged-{template.Seed.Name}.pool");
        File.WriteAllBytes(path, template.Seed.Image);
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

    /// <summary>A broken promise: which case and damage, a grouping key and what was found.</summary>
    internal sealed record CaseFailure(string Case, string Damage, string Key, string Detail);

    /// <summary>One damaged file, opened with the V2 program on its own thread; records its outcome and what went wrong.</summary>
    private sealed class MigrationCase(string name, string damage, byte[] bytes, string file, Template template)
    {
        private readonly List<CaseFailure> _failures = [];
        private volatile string _step = "start";

        public string Name { get; } = name;

        public string Step => _step;

        public string Outcome { get; private set; } = "?";

        /// <summary>What was thrown or changed, for the verbose listing.</summary>
        public string Note { get; private set; } = "";

        public List<CaseFailure> TakeFailures()
        {
            lock (_failures)
            {
                var taken = _failures.ToList();
                _failures.Clear();
                return taken;
            }
        }

        public void Run()
        {
            try
            {
                RunCase();
            }
            catch (Exception e)
            {
                Fail("harness", e);
            }
        }

        private void RunCase()
        {
            _step = "write";
            File.WriteAllBytes(file, bytes);
            var inode = Inode(file);
            var copy = PersistentPool.MigrationCopyPath(file);
            PersistentPool pool;
            _step = "open";
            try
            {
                pool = PersistentPool.Open(file, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2);
            }
            catch (Exception e)
            {
                Refused(e, inode, copy);
                return;
            }

            var migrated = pool.MigratedAtOpen.Count > 0;
            var replaced = Inode(file) != inode;
            if (File.Exists(copy))
            {
                Fail("open", "a successful open left the copy beside the file");
            }

            if (migrated != replaced)
            {
                Fail("open", migrated ? "the open migrated in place although a copy could be made" : "the file was replaced without a migration");
            }

            PoolCheckReport? report = null;
            try
            {
                _step = "check";
                try
                {
                    report = pool.Check();
                }
                catch (Exception e)
                {
                    Fail("check", e); // Check reports damage, it never throws
                }

                _step = "read";
                if (Guard("read", () => Read(pool)) is { } unreadable && report is { IsConsistent: true })
                {
                    // Damage the open cannot see is acceptable only when Check reports it.
                    Fail("read of a pool Check calls consistent", unreadable);
                }

                _step = "commit";
                Guard("commit", () => Commit(pool));
            }
            finally
            {
                _step = "dispose";
                try
                {
                    pool.Dispose();
                }
                catch (Exception e)
                {
                    Fail("dispose", e);
                }
            }

            var consistent = report is { IsConsistent: true };
            if (report is { IsConsistent: false } && migrated)
            {
                _step = "original check";
                OriginalChecks(report);
            }

            Outcome = $"opened, {(migrated ? "migrated in the copy" : "nothing migrated")}, {(consistent ? "consistent" : report is null ? "Check threw" : "Check reports damage")}";

            // A pool that opened (and was migrated and published) opens again with nothing left to migrate.
            _step = "reopen";
            try
            {
                using var again = PersistentPool.Open(file, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2);
                if (again.MigratedAtOpen.Count > 0)
                {
                    Fail("reopen", $"the reopened pool migrated again: {string.Join("; ", again.MigratedAtOpen)}");
                }
            }
            catch (Exception e) when (DocumentedErrors.Cover(e) && !consistent)
            {
                Outcome += ", reopen refused (" + e.GetType().Name + ")";
            }
            catch (Exception e)
            {
                Fail("reopen", e);
            }

            _step = "done";
        }

        /// <summary>
        /// The migrated pool reports damage: the damaged original, opened by the V1 program (read-only, so nothing
        /// migrates), must report damage too. A migration that turns a pool that checks consistent into one that does not
        /// made the damage.
        /// </summary>
        private void OriginalChecks(PoolCheckReport migrated)
        {
            var original = file + ".original";
            File.WriteAllBytes(original, bytes);
            try
            {
                using var pool = PersistentPool.OpenReadOnly(original, SchemaEvolutionTests.Layout, new PoolOpenOptions { Types = [PersonV1.PersistentType] });
                var report = pool.Check();
                Note += $" [original: {(report.IsConsistent ? "consistent" : string.Join("; ", report.Errors.Take(2)))}; migrated: {string.Join("; ", migrated.Errors.Take(2))}]";
                if (report.IsConsistent)
                {
                    Fail("check", $"the migrated pool reports {migrated.Errors.Count} error(s) the damaged original, opened by the V1 program, does not: {Short(string.Join("; ", migrated.Errors.Take(3)))}", "check: the migration made damage the original did not report");
                }
            }
            catch (Exception e) when (DocumentedErrors.Cover(e))
            {
                Note += $" [original refused read-only with V1: {e.GetType().Name}: {Short(e.Message)}]";
            }
            finally
            {
                File.Delete(original);
            }
        }

        /// <summary>A refused open: a documented exception, no copy left, the same file, the bytes as recovery may leave them.</summary>
        private void Refused(Exception e, ulong inode, string copy)
        {
            var stack = e.StackTrace ?? "";
            var inCopy = stack.Contains(".MigrateInCopy(", StringComparison.Ordinal) || stack.Contains(".MigrateCopy(", StringComparison.Ordinal);
            Outcome = $"refused, {e.GetType().Name}, {(inCopy ? "in the copy's migration" : "before any copy")}";
            Note = $" [{Short(e.Message)}]";
            if (!DocumentedErrors.Cover(e))
            {
                Fail("open", e);
            }

            _step = "after refusal";
            if (File.Exists(copy))
            {
                Fail("refusal", $"a refused open left {Path.GetFileName(copy)} beside the file ({e.GetType().Name}: {Short(e.Message)})");
            }

            var now = Inode(file);
            if (now != inode)
            {
                Fail("refusal", $"a refused open replaced the file (inode {inode} → {now}; {e.GetType().Name}: {Short(e.Message)})");
            }

            var after = File.ReadAllBytes(file);
            if (after.AsSpan().SequenceEqual(bytes))
            {
                return;
            }

            if (after.Length != bytes.Length)
            {
                Fail("refusal", $"a refused open changed the file's length from {bytes.Length} to {after.Length} ({e.GetType().Name}: {Short(e.Message)})");
                return;
            }

            // Before the copy nothing may change; a migration that failed in the copy leaves the file as recovery left
            // it, and recovery of a pool that opened writes only R, its lanes and chunk header lines.
            var changes = Changes(bytes, after);
            Note += $" changed: {string.Join(", ", changes.Take(8).Select(change => $"[{change.Offset}, +{change.Length}) {Where(change.Offset)}"))}";
            var wrong = inCopy ? changes.Where(change => !RecoveryWrites(change.Offset, change.Length)).ToList() : changes;
            if (wrong.Count > 0)
            {
                var described = string.Join(", ", wrong.Take(8).Select(change => $"[{change.Offset}, +{change.Length}) {Where(change.Offset)}"));
                Fail(
                    "refusal",
                    $"a refused open ({(inCopy ? "in the copy's migration" : "before any copy")}) changed {wrong.Count} range(s) {(inCopy ? "outside recovery's writes" : "")}: {described}{(wrong.Count > 8 ? ", …" : "")} ({e.GetType().Name}: {Short(e.Message)})",
                    $"refusal {(inCopy ? "in the copy" : "before the copy")} changed the file: {e.GetType().Name}");
            }
            else
            {
                Outcome += ", recovery's writes kept";
            }
        }

        /// <summary>The ranges where <paramref name="after"/> differs, neighbours within 8 bytes joined.</summary>
        private static List<(long Offset, long Length)> Changes(byte[] before, byte[] after)
        {
            var changes = new List<(long Offset, long Length)>();
            var i = 0;
            while (true)
            {
                i += before.AsSpan(i).CommonPrefixLength(after.AsSpan(i));
                if (i >= before.Length)
                {
                    break;
                }

                var last = i;
                for (var j = i + 1; j < before.Length && j - last <= 8; j++)
                {
                    if (before[j] != after[j])
                    {
                        last = j;
                    }
                }

                changes.Add((i, last + 1 - i));
                i = last + 1;
            }

            return changes;
        }

        private bool RecoveryWrites(long offset, long length)
        {
            var end = offset + length;
            if (offset >= PoolLayout.RetiredThroughOffset && end <= PoolLayout.RetiredThroughOffset + 8)
            {
                return true; // the watermark R
            }

            if (offset >= PoolLayout.LanesOffset && end <= template.HeapStart)
            {
                return true; // the lanes' slots
            }

            var inChunk = (offset - template.HeapStart) % PoolLayout.ChunkSize;
            return offset >= template.HeapStart && inChunk + (end - offset) <= PoolLayout.ChunkHeaderSize; // a chunk header line
        }

        private string Where(long offset) => offset switch
        {
            < PoolLayout.ChecksummedBytes + 8 => "header (checksummed)",
            < PoolLayout.HeaderSize => $"header word {offset & ~7L}",
            < PoolLayout.LanesOffset => $"type table entry {(offset - PoolLayout.TypeTableOffset) / PoolLayout.TypeEntrySize}",
            _ when offset < template.HeapStart => "lanes",
            _ => $"heap chunk {(offset - template.HeapStart) / PoolLayout.ChunkSize} + {(offset - template.HeapStart) % PoolLayout.ChunkSize}",
        };

        /// <summary>Runs <paramref name="action"/>: an undocumented exception is a failure, a documented one is returned.</summary>
        private Exception? Guard(string step, Action action)
        {
            try
            {
                action();
                return null;
            }
            catch (Exception e) when (!DocumentedErrors.Cover(e))
            {
                Fail(step, e);
                return e;
            }
            catch (Exception e)
            {
                Note += $" [{step} refused: {e.GetType().Name}: {Short(e.Message)}]"; // a documented refusal: fine
                return e;
            }
        }

        /// <summary>Reads the whole graph through V2 as a program would (collections capped).</summary>
        private static void Read(PersistentPool pool)
        {
            const int Cap = 100_000;
            var root = pool.Root<Directory<PersonV2>>();
            _ = (root.Title, root.First?.FullName);
            foreach (var person in root.People.Take(Cap))
            {
                if (person is not null)
                {
                    _ = (person.Age, person.Score, person.FullName, person.Count, person.Email, person.Friend?.FullName);
                    _ = person.Tags.Take(Cap).Count();
                }
            }

            foreach (var (age, person) in root.ByAge.Take(Cap))
            {
                _ = (age, person?.FullName);
            }
        }

        private static void Commit(PersistentPool pool)
        {
            var root = pool.Root<Directory<PersonV2>>();
            using var tx = pool.BeginTransaction();
            root.Title = "after the damage";
            var person = pool.New<PersonV2>();
            person.FullName = "new";
            root.People.Add(person);
            tx.Commit();
        }

        private void Fail(string step, Exception e)
        {
            var frames = new StackTrace(e, false).GetFrames().Select(f => f.GetMethod()).OfType<MethodBase>()
                .Select(m => $"{m.DeclaringType?.Name}.{m.Name}").Take(6).ToList();
            Add(new CaseFailure(Name, damage, $"{step}: {e.GetType().Name} in {frames.FirstOrDefault() ?? "?"}", $"{e.GetType().Name}: {Short(e.Message)} | {string.Join(" < ", frames)}{Environment.NewLine}{e}"));
        }

        private void Fail(string step, string what, string? key = null) =>
            Add(new CaseFailure(Name, damage, key ?? $"{step}: {what}", what));

        private void Add(CaseFailure failure)
        {
            lock (_failures)
            {
                _failures.Add(failure);
            }
        }

        private static string Short(string message)
        {
            message = message.ReplaceLineEndings(" ");
            return message.Length > 200 ? message[..200] + "…" : message;
        }
    }
}
