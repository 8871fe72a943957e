using System.Diagnostics;
using Pmem.Memory;
using Pmem.Memory.Simulation;
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Schema;

namespace Pmem.Tests.Crash;

/// <summary>
/// A pool file of version-1 people opened by a program whose class grew (every object moves) migrates in a copy of the
/// file renamed over it (<c>PersistentPool.MigrationCopy.cs</c>). The child process doing that is SIGKILLed at random
/// moments (while it starts and recovers, copies the file, migrates the copy, syncs and renames it, reopens the result);
/// after each kill the old program either opens the pool and finds every version-1 object, or (the copy was published)
/// is refused as a downgrade; the new program always opens it, migrated whole, and no copy is left beside it. More kills
/// with <c>PMEM_CRASH_CAMPAIGN=long</c>.
/// </summary>
[Collection(Pmem.Tests.Memory.MappingRegistryCollection.Name)] // see PoolFileTests: forks hold file locks briefly
public sealed class MigrationCopyKillTests(MigrationCopyKillTests.V1Pool template) : IClassFixture<MigrationCopyKillTests.V1Pool>
{
    /// <summary>Enough that the child's open takes a while (about a second here), short enough to repeat it.</summary>
    private const int People = 30_000;

    private static readonly TimeSpan ChildTimeout = TimeSpan.FromMinutes(2);

    private static int Kills => Environment.GetEnvironmentVariable(CrashCampaign.LengthVariable) == "long" ? 60 : 6;

    /// <summary>The old program: version 1 of the class.</summary>
    private static PoolOpenOptions Old => new() { Types = [PersonV1.PersistentType, Directory<PersonV1>.PersistentType] };

    /// <summary>Where the kill came, from what the files showed after it and what the old program found.</summary>
    private enum Outcome
    {
        /// <summary>No copy beside the pool, the old schema: killed while starting, recovering or planning.</summary>
        BeforeCopy,

        /// <summary>A copy that is not a whole pool yet: killed while copying the file.</summary>
        Copying,

        /// <summary>A whole copy of the old pool: killed before its migration committed anything.</summary>
        Copied,

        /// <summary>A copy with a migration in progress: killed while migrating it.</summary>
        MigratingCopy,

        /// <summary>A migrated copy, closed: killed while syncing it or renaming it.</summary>
        SyncingCopy,

        /// <summary>Published, but the child had not said it was done: killed while reopening the migrated file.</summary>
        Published,

        /// <summary>The child had opened the migrated pool before the kill came.</summary>
        Finished,
    }

    [Fact]
    public void A_migration_that_runs_to_its_end_publishes_the_migrated_pool()
    {
        var directory = Directory.CreateTempSubdirectory("pmem-migrate-kill-");
        var pool = Path.Combine(directory.FullName, "people.pool");
        try
        {
            TestFiles.Copy(template.Path, pool);
            var (exitCode, output, error) = CrashChildRun.Run(ChildTimeout, pool, "PowerFailure", "--migrate");
            Assert.True(exitCode == 0, $"the child ended with {exitCode}: {output}{error}");
            var done = output.Split('\n').Single(line => line.StartsWith("done ", StringComparison.Ordinal));
            Assert.Contains($" {People} Tests.Person: ", done); // the people it found after the open, and what it migrated
            Assert.Contains($"({People} objects converted)", done);
            Assert.False(File.Exists(PersistentPool.MigrationCopyPath(pool)), "the copy was left beside the pool");
            Assert.Equal(Outcome.Finished, Verify(pool, childDone: true, Outcome.BeforeCopy));
            TestContext.Current.TestOutputHelper?.WriteLine(done[..Math.Min(done.Length, 60)]);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Killing_a_migration_through_a_copy_leaves_the_old_pool_or_the_migrated_one()
    {
        var token = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("pmem-migrate-kill-");
        var pool = Path.Combine(directory.FullName, "people.pool");
        var copy = PersistentPool.MigrationCopyPath(pool);
        var random = new Random(People);
        var log = new List<string>();
        var outcomes = new Dictionary<Outcome, int>();
        var watch = Stopwatch.StartNew();
        try
        {
            log.Add($"{People} V1 people in a {new FileInfo(template.Path).Length >> 20} MiB pool (written in {template.WrittenIn} ms)");

            // A first run to its end tells how long the child takes from "opening" to "done", and when the copy exists.
            TestFiles.Copy(template.Path, pool);
            var first = await RunChild(pool, copy, killAfter: null, killAtRename: false, token);
            Assert.True(first.Done, "the child did not finish");
            var runTime = first.Ended;
            Assert.Equal(Outcome.Finished, Verify(pool, childDone: true, Outcome.BeforeCopy));
            log.Add($"first run, to its end: copy seen at {first.CopySeen} ms, renamed by {first.CopyGone} ms, done at {first.Ended} ms");

            // Kills at random moments stratified over the run and a little past it (so that every run spreads them over
            // every stage), and a last one aimed at the moment the copy is renamed (a short window before the child is done).
            var killed = 0;
            for (var kill = 0; kill <= Kills; kill++)
            {
                TestFiles.Copy(template.Path, pool, overwrite: true);
                int? delay = kill < Kills ? (int)((kill + random.NextDouble()) / Kills * 1.1 * runTime) : null;
                var run = await RunChild(pool, copy, delay, killAtRename: delay is null, token);
                var (leftover, note) = Leftover(pool, copy);
                var outcome = Verify(pool, run.Done, leftover);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                killed += run.Done ? 0 : 1;
                log.Add($"kill {kill} {(delay is null ? "at the rename" : $"after {delay} ms")} (came at {run.Ended} ms; copy seen {run.CopySeen}, gone {run.CopyGone}): " +
                    $"{outcome}{(outcome < Outcome.Published && note is not null ? $" ({note})" : "")}");
                if (run.Done && delay is not null)
                {
                    runTime = Math.Min(runTime, run.Ended); // a faster run than the first: aim the next kills by it
                }
            }

            var rounds = Kills + 1;
            var before = outcomes.Where(pair => pair.Key < Outcome.Published).Sum(pair => pair.Value);
            var summary = $"{rounds} kills, {killed} before the child was done: {before} before the copy was published, {rounds - before} after " +
                $"({string.Join(", ", outcomes.OrderBy(pair => pair.Key).Select(pair => $"{pair.Key} {pair.Value}"))}); {watch.ElapsedMilliseconds} ms";
            log.Add(summary);
            foreach (var line in log)
            {
                TestContext.Current.TestOutputHelper?.WriteLine(line);
            }

            Console.WriteLine($"[crash] migration through a copy: {summary}");
            TestSummary.Add(TestSummary.SigKills, killed);
            Assert.True(killed * 2 > rounds, $"only {killed} of {rounds} kills came before the child was done: too late to test much\n{string.Join('\n', log)}");
            Assert.True(before > 0, $"no kill came before the copy was published\n{string.Join('\n', log)}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Runs the child; once it says "opening", kills it after <paramref name="killAfter"/> ms or, with
    /// <paramref name="killAtRename"/>, as soon as the copy is seen renamed, unless it is done by then (with neither,
    /// waits until it is). The copy is looked for every millisecond or two meanwhile.
    /// </summary>
    /// <returns>Whether the child had said "done" (it is then at its end), when the kill came or the child was done,
    /// and when the copy was first seen and then seen gone (-1 if not), in ms after "opening".</returns>
    private static async Task<(bool Done, int Ended, long CopySeen, long CopyGone)> RunChild(string pool, string copy, int? killAfter, bool killAtRename, CancellationToken token)
    {
        using var child = Start(pool);
        var opening = await child.StandardOutput.ReadLineAsync(token).AsTask().WaitAsync(ChildTimeout, token);
        if (opening != "opening")
        {
            child.Kill(entireProcessTree: true);
            Assert.Fail($"the child said '{opening}': {await child.StandardError.ReadToEndAsync(token)}");
        }

        var watch = Stopwatch.StartNew();
        var next = child.StandardOutput.ReadLineAsync(token).AsTask(); // "done ..." or null when killed
        long seen = -1, gone = -1;
        while (!next.IsCompleted && watch.ElapsedMilliseconds < (killAfter ?? ChildTimeout.TotalMilliseconds))
        {
            var exists = File.Exists(copy);
            if (exists && seen < 0)
            {
                seen = watch.ElapsedMilliseconds;
            }
            else if (!exists && seen >= 0 && gone < 0)
            {
                gone = watch.ElapsedMilliseconds;
                if (killAtRename)
                {
                    break;
                }
            }

            await Task.Delay(1, token);
        }

        var ended = (int)watch.ElapsedMilliseconds;
        child.Kill(entireProcessTree: true); // SIGKILL, whatever it is doing (nothing if it has ended)
        await child.WaitForExitAsync(token).WaitAsync(ChildTimeout, token);
        var line = await next.WaitAsync(ChildTimeout, token);
        var errors = await child.StandardError.ReadToEndAsync(token);
        Assert.True(line is null || line.StartsWith("done ", StringComparison.Ordinal), $"the child said '{line}': {errors}");
        Assert.False(errors.Contains("Exception", StringComparison.Ordinal), $"the child failed (said '{line}'): {errors}");
        if (line is not null)
        {
            Assert.Contains($"({People} objects converted)", line);
            ended = Math.Min(ended, int.Parse(line.Split(' ')[1])); // its own time to open
        }

        return (line is not null, ended, seen, gone);
    }

    /// <summary>
    /// What the copy a kill left beside the pool shows (read only: recovered in private pages), if the pool file turns
    /// out to hold the old pool. None: killed before the copy. One the old program opens: copied, not migrated yet. One
    /// with a migration in progress: killed migrating it. One migrated: killed syncing or renaming it. One that does not
    /// open otherwise: killed copying it (the copy is only ever read by this report: the next migrating open deletes it).
    /// </summary>
    private static (Outcome Outcome, string? Note) Leftover(string pool, string copy)
    {
        if (!File.Exists(copy))
        {
            return (Outcome.BeforeCopy, null);
        }

        if (new FileInfo(copy).Length < new FileInfo(pool).Length)
        {
            return (Outcome.Copying, null);
        }

        try
        {
            using var old = PersistentPool.OpenReadOnly(copy, SchemaEvolutionTests.Layout, Old);
            return (Outcome.Copied, null);
        }
        catch (PersistentSchemaException e) when (e.Message.Contains("is in progress", StringComparison.Ordinal))
        {
            return (Outcome.MigratingCopy, null);
        }
        catch (PersistentSchemaException e) when (e.Message.Contains("newer program", StringComparison.Ordinal))
        {
            return (Outcome.SyncingCopy, null);
        }
        catch (Exception e)
        {
            return (Outcome.Copying, $"the whole-length copy does not open: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// Checks the pool after the child ended: the old program finds it whole or is refused as a downgrade; the new
    /// program opens it migrated (and migrates it itself when the child had not published its copy); no copy is left.
    /// </summary>
    /// <param name="pool">The pool file.</param>
    /// <param name="childDone">Whether the child had said it opened the migrated pool.</param>
    /// <param name="unpublished">What the files showed, if the old program finds its pool.</param>
    /// <returns><paramref name="unpublished"/>, or <see cref="Outcome.Published"/> or <see cref="Outcome.Finished"/>.</returns>
    private static Outcome Verify(string pool, bool childDone, Outcome unpublished)
    {
        var leftover = File.Exists(PersistentPool.MigrationCopyPath(pool));
        bool migrated;
        try
        {
            using var old = PersistentPool.Open(pool, SchemaEvolutionTests.Layout, Old);
            AssertV1(old);
            migrated = false;
        }
        catch (PersistentSchemaException e)
        {
            Assert.Contains("newer program", e.Message); // a downgrade, not some other problem
            migrated = true;
        }

        Assert.False(childDone && !migrated, "the child had opened the migrated pool, but the pool file holds the old one");
        Assert.False(leftover && migrated, "the copy was published, yet a copy is still beside the pool");
        using (var now = PersistentPool.Open(pool, SchemaEvolutionTests.Layout, SchemaEvolutionTests.V2))
        {
            if (migrated)
            {
                Assert.Empty(now.MigratedAtOpen);
            }
            else
            {
                Assert.Contains($"({People} objects converted)", Assert.Single(now.MigratedAtOpen));
            }

            SchemaEvolutionTests.AssertMigratedToV2(now, People); // with Check().IsConsistent and nothing unreachable
        }

        Assert.False(File.Exists(PersistentPool.MigrationCopyPath(pool)), "the copy is still beside the pool after the migrating open");
        return !migrated ? unpublished : childDone ? Outcome.Finished : Outcome.Published;
    }

    /// <summary>Everything <see cref="CreateV1"/> wrote, read by the old program.</summary>
    private static void AssertV1(PersistentPool pool)
    {
        var root = pool.Root<Directory<PersonV1>>();
        Assert.Equal("people", root.Title);
        Assert.Equal(People, root.People.Count);
        var i = 0;
        foreach (var person in root.People)
        {
            Assert.Equal((20 + i, i + 0.5f, $"person {i}", $"nick {i}", i * 1000L), (person!.Age, person.Score, person.Name, person.Nick, person.Count));
            Assert.Equal([$"tag {i}", null], person.Tags.ToArray());
            Assert.Equal(i == 0 ? $"person {People - 1}" : $"person {i - 1}", person.Friend!.Name);
            i++;
        }

        Assert.Equal(People, root.ByAge.Count);
        Assert.Equal("person 0", root.First!.Name);
        SchemaEvolutionTests.AssertSound(pool);
    }

    /// <summary>
    /// A pool file (synced on commit, so an open that migrates does it through a copy) of V1 people, as
    /// <c>SchemaEvolutionTests.FillV1</c> builds them but a thousand per transaction: a bulk load whose redo logs outgrow
    /// their lane slots and live in heap blocks (HeapLogSpace), which the copy must carry too.
    /// </summary>
    private static void CreateV1(string path)
    {
        using var pool = PersistentPool.Create(path, SchemaEvolutionTests.Layout, 24L << 20, new PoolCreateOptions { Durability = DurabilityMode.PowerFailure });
        SchemaEvolutionTests.FillV1(pool, People, perTransaction: 1000);
    }

    /// <summary>
    /// The pool of version-1 people every test copies, written once; in memory if there is a /dev/shm (where the syncs
    /// of its commits cost nothing), the copies the tests migrate are on disk (the temporary directory).
    /// </summary>
    public sealed class V1Pool : IDisposable
    {
        private readonly DirectoryInfo _directory = OperatingSystem.IsLinux() && Directory.Exists("/dev/shm")
            ? Directory.CreateDirectory($"/dev/shm/pmem-migrate-template-{Environment.ProcessId}-{Guid.NewGuid():N}")
            : Directory.CreateTempSubdirectory("pmem-migrate-template-");

        public V1Pool()
        {
            Path = System.IO.Path.Combine(_directory.FullName, "template.pool");
            var watch = Stopwatch.StartNew();
            CreateV1(Path);
            WrittenIn = watch.ElapsedMilliseconds;
        }

        public string Path { get; }

        public long WrittenIn { get; }

        public void Dispose() => _directory.Delete(recursive: true);
    }

    private static Process Start(string pool)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ProcessKillTests.ChildPath());
        info.ArgumentList.Add(pool);
        info.ArgumentList.Add("PowerFailure");
        info.ArgumentList.Add("--migrate");
        return Process.Start(info) ?? throw new InvalidOperationException("could not start the child process");
    }
}
