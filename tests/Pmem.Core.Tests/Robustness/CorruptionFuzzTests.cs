// The corruption fuzzer: every damaged pool is refused with a documented exception (unchanged), or opens and stays usable.
using System.Diagnostics;
using System.Reflection;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Robustness;

/// <summary>
/// Damages the seed pools of <see cref="FuzzPools"/> deterministically (<see cref="FuzzDamage"/>) and opens each
/// damaged copy, as a file or in a simulated domain. Open must succeed or throw a documented exception and then leave
/// the bytes as they were; an opened pool must check without throwing, read with only documented exceptions, commit a
/// transaction, close and reopen (a file from its closed bytes, a simulated domain from its bytes before the close, as
/// a crash then would leave them). Each case runs on its own thread and counts as a hang past <see cref="CaseTimeout"/>.
/// </summary>
/// <remarks>
/// A failure is reported as its case (<c>seed/index</c>) and damage; <c>PMEM_FUZZ_CASE=seed/index</c> runs that case
/// alone. The case count is fixed (<see cref="CasesPerSeed"/>, ten times more with <c>PMEM_CRASH_CAMPAIGN=long</c>).
/// </remarks>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // file locks: a test's fork briefly holds a case file's flock (see PoolFileTests)
public sealed class CorruptionFuzzTests : IDisposable
{
    private const int CasesPerSeed = 1000;
    private const int MaxHangs = 20; // a hung case's thread cannot be stopped: past this many, stop rather than pile them up
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LaterCaseTimeout = TimeSpan.FromSeconds(2); // once a hang is known: cases take milliseconds

    private readonly string _directory = Directory.CreateDirectory(
        Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"pmem-fuzz-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Damaged_pools_are_refused_unchanged_or_stay_usable()
    {
        var seeds = FuzzPools.Build(_directory);
        var isLong = string.Equals(Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable), "long", StringComparison.OrdinalIgnoreCase);
        var only = Environment.GetEnvironmentVariable("PMEM_FUZZ_CASE");
        var perSeed = CasesPerSeed * (isLong ? 10 : 1);
        var failures = new List<FuzzFailure>();
        int checkedCount = 0, opened = 0, hangs = 0;
        for (var s = 0; s < seeds.Count && hangs < MaxHangs; s++)
        {
            for (var i = 0; i < perSeed && hangs < MaxHangs; i++)
            {
                var name = $"{seeds[s].Name}/{i}";
                if (only is not null && only != name)
                {
                    continue;
                }

                var random = new Random(s * 1_000_003 + i);
                var (bytes, damage) = FuzzDamage.Apply(seeds[s], random);
                var file = bytes.Length == 0 || random.Next(3) == 0 ? Path.Combine(_directory, $"case-{s}-{i}.pool") : null;
                var run = new FuzzCase(name + (file is null ? " (memory)" : " (file)"), damage, bytes, file);
                var thread = new Thread(run.Run) { IsBackground = true, Name = $"fuzz {name}" };
                thread.Start();
                var timeout = hangs == 0 ? CaseTimeout : LaterCaseTimeout;
                var finished = thread.Join(timeout);
                failures.AddRange(run.TakeFailures());
                if (!finished)
                {
                    hangs++;
                    failures.Add(new FuzzFailure(run.Step, run.Name, damage, "hang", $"no return after {timeout.TotalSeconds:0} s", run.Step));
                }

                checkedCount++;
                opened += run.Opened ? 1 : 0;
                if (finished && file is not null)
                {
                    File.Delete(file);
                }
            }
        }

        var summary = Summarize(failures, hangs >= MaxHangs);
        Console.WriteLine($"[fuzz] {checkedCount} damaged pools checked, {opened} opened, {checkedCount - opened} refused");
        Console.WriteLine($"[fuzz] exceptions met: {DocumentedErrors.Seen}");
        Pmem.Tests.Crash.TestSummary.Add(Pmem.Tests.Crash.TestSummary.DamagedPools, checkedCount);
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        if (failures.Count > 0)
        {
            Assert.Fail(summary);
        }
    }

    /// <summary>One line per distinct (step, exception type, throwing method), most frequent first, with one example.</summary>
    private static string Summarize(List<FuzzFailure> failures, bool stoppedByHangs)
    {
        var groups = failures.GroupBy(f => f.Key).OrderByDescending(g => g.Count()).ToList();
        var lines = new List<string> { $"{failures.Count} failures in {groups.Count} groups{(stoppedByHangs ? $" (stopped after {MaxHangs} hangs)" : "")}:" };
        foreach (var group in groups)
        {
            var example = group.First();
            lines.Add($"{group.Count(),5} × {group.Key}");
            lines.Add($"        e.g. {example.Case}: {example.Damage}");
            lines.Add($"        {example.Message}{(example.Frames is "" ? "" : $" | {example.Frames}")}");
        }

        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>A broken promise: where (step), which case and damage, and what was thrown.</summary>
internal sealed record FuzzFailure(string Category, string Case, string Damage, string Type, string Message, string Thrower, string Frames = "")
{
    // Frames that only pass an error on: the thrower named is the first frame past them.
    private static readonly string[] Helpers = ["PersistenceDomain.", "PersistentPool.ReadValue", "PersistentPool.ReadThroughTransaction", "ThrowHelper.", "ThrowHelpers.", "ArgumentOutOfRangeException."];

    public string Key => Type == "hang" ? $"{Category}: hang" : $"{Category}: {Type} in {Thrower}";

    public static FuzzFailure From(string category, FuzzCase run, Exception error)
    {
        var frames = new StackTrace(error, false).GetFrames().Select(f => f.GetMethod()).OfType<MethodBase>().Select(Name).ToList();
        var own = frames.SkipWhile(f => Helpers.Any(helper => f.StartsWith(helper, StringComparison.Ordinal))).ToList();
        var thrower = own.FirstOrDefault() ?? frames.FirstOrDefault() ?? "?";
        var message = error.Message.ReplaceLineEndings(" ");
        return new FuzzFailure(category, run.Name, run.Damage, error.GetType().Name, message.Length > 160 ? message[..160] + "…" : message, thrower, string.Join(" < ", (own.Count > 0 ? own : frames).Take(4)));
    }

    /// <summary><c>Type.Method</c>, with compiler-generated iterator and lambda names turned back into their method's.</summary>
    private static string Name(MethodBase method)
    {
        var (type, name) = (method.DeclaringType, method.Name);
        if (type is not null && type.Name.StartsWith("<>", StringComparison.Ordinal))
        {
            type = type.DeclaringType; // a closure: the lambda's name tells its method
        }
        else if (type is not null && type.Name.StartsWith('<'))
        {
            (name, type) = (type.Name[1..type.Name.IndexOf('>')], type.DeclaringType); // an iterator's MoveNext
        }

        if (name.StartsWith('<'))
        {
            name = name[1..name.IndexOf('>')];
        }

        var typeName = type?.Name ?? "?";
        return $"{(typeName.Contains('`') ? typeName[..typeName.IndexOf('`')] : typeName)}.{name}";
    }
}

/// <summary>One damaged image, opened and exercised on its own thread; records what went wrong.</summary>
internal sealed class FuzzCase(string name, string damage, byte[] bytes, string? file) : FuzzCaseBase<FuzzFailure>(name)
{
    public string Damage { get; } = damage;

    public bool Opened { get; private set; }

    public void Run()
    {
        try
        {
            Step = "open";
            var pool = Open(bytes);
            if (pool is null)
            {
                return;
            }

            Opened = true;
            byte[]? image = null;
            try
            {
                Step = "check";
                Guard("check", () => pool.Check(), allowDocumented: false);
                Step = "read";
                Guard("read", () => FuzzPools.Read(pool));
                Step = "commit";
                Guard("commit", () => FuzzPools.Commit(pool));
                image = file is null ? pool.Domain.GetSpan(0, (int)pool.Domain.Length).ToArray() : null; // to reopen in memory
            }
            finally
            {
                Step = "dispose";
                Guard("dispose", pool.Dispose);
            }

            Step = "reopen";
            Guard("reopen", () => (file is null ? PersistentPool.Open(SimulatedDomain.FromImage(image!), FuzzPools.Layout) : PersistentPool.Open(file, FuzzPools.Layout)).Dispose());
            Step = "done";
        }
        catch (Exception e)
        {
            Fail("harness", e);
        }
    }

    /// <summary>The pool, or null when refused (with a documented exception, leaving the bytes as they were).</summary>
    private PersistentPool? Open(byte[] image)
    {
        if (file is not null)
        {
            TestFiles.WriteAllBytes(file, image);
            ReadOnly(image);
        }

        var domain = file is null ? SimulatedDomain.FromImage(image) : null;
        try
        {
            return domain is null ? PersistentPool.Open(file!, FuzzPools.Layout) : PersistentPool.Open(domain, FuzzPools.Layout);
        }
        catch (Exception e)
        {
            if (!IsDocumented(e))
            {
                Fail("open", e);
            }

            var after = domain is null ? TestFiles.ReadAllBytes(file!) : domain.GetSpan(0, (int)domain.Length).ToArray();
            if (!after.AsSpan().SequenceEqual(image))
            {
                var first = after.AsSpan().CommonPrefixLength(image);
                Fail("refused open changed the pool", new InvalidDataException($"byte {first} changed; refused with {e.GetType().Name}: {e.Message}", e));
            }

            domain?.Dispose();
            return null;
        }
    }

    /// <summary>Opens the file read-only, checks and reads it: documented exceptions only, and the file never changes.</summary>
    private void ReadOnly(byte[] image)
    {
        Step = "read-only open";
        try
        {
            using var pool = PersistentPool.OpenReadOnly(file!, FuzzPools.Layout);
            Guard("read-only check", () => pool.Check(), allowDocumented: false);
            Guard("read-only read", () => FuzzPools.Read(pool));
        }
        catch (Exception e) when (!IsDocumented(e))
        {
            Fail("read-only open", e);
        }
        catch
        {
            // a documented refusal: fine
        }

        var after = TestFiles.ReadAllBytes(file!);
        if (!after.AsSpan().SequenceEqual(image))
        {
            Fail("read-only open changed the file", new InvalidDataException($"byte {after.AsSpan().CommonPrefixLength(image)} changed"));
        }
    }

    private void Guard(string step, Action action, bool allowDocumented = true)
    {
        try
        {
            action();
        }
        catch (Exception e) when (!allowDocumented || !IsDocumented(e))
        {
            Fail(step, e);
        }
        catch
        {
            // a documented refusal: fine
        }
    }

    private static bool IsDocumented(Exception e) => DocumentedErrors.Cover(e); // the README's error table

    private void Fail(string category, Exception e)
    {
        var failure = FuzzFailure.From(category, this, e is InvalidDataException { InnerException: { } inner } ? inner : e);
        if (e is InvalidDataException)
        {
            failure = failure with { Message = e.Message };
        }

        Add(failure);
    }
}
