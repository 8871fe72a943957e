// The migration-copy fuzzer's case: one damaged V1 file opened by the V2 program, and every promise it checks.
using System.Diagnostics;
using System.Reflection;
using Pmem.Pool;
using Pmem.Tests.Robustness;

namespace Pmem.Tests.Schema;

public sealed partial class MigrationCopyFuzzTests
{
    /// <summary>A broken promise: which case and damage, a grouping key and what was found.</summary>
    internal sealed record CaseFailure(string Case, string Damage, string Key, string Detail);

    /// <summary>One damaged file, opened with the V2 program on its own thread; records its outcome and what went wrong.</summary>
    private sealed class MigrationCase(string name, string damage, byte[] bytes, string file, Template template) : FuzzCaseBase<CaseFailure>(name)
    {
        public string Outcome { get; private set; } = "?";

        /// <summary>What was thrown or changed, for the verbose listing.</summary>
        public string Note { get; private set; } = "";

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
            Step = "write";
            TestFiles.WriteAllBytes(file, bytes);
            var inode = Inode(file);
            var copy = PersistentPool.MigrationCopyPath(file);
            PersistentPool pool;
            Step = "open";
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
                Step = "check";
                try
                {
                    report = pool.Check();
                }
                catch (Exception e)
                {
                    Fail("check", e); // Check reports damage, it never throws
                }

                Step = "read";
                if (Guard("read", () => Read(pool)) is { } unreadable && report is { IsConsistent: true })
                {
                    // Damage the open cannot see is acceptable only when Check reports it.
                    Fail("read of a pool Check calls consistent", unreadable);
                }

                Step = "commit";
                Guard("commit", () => Commit(pool));
            }
            finally
            {
                Step = "dispose";
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
                Step = "original check";
                OriginalChecks(report);
            }

            Outcome = $"opened, {(migrated ? "migrated in the copy" : "nothing migrated")}, {(consistent ? "consistent" : report is null ? "Check threw" : "Check reports damage")}";

            // A pool that opened (and was migrated and published) opens again with nothing left to migrate.
            Step = "reopen";
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

            Step = "done";
        }

        /// <summary>
        /// The migrated pool reports damage: the damaged original, opened by the V1 program (read-only, so nothing
        /// migrates), must report damage too. A migration that turns a pool that checks consistent into one that does not
        /// made the damage.
        /// </summary>
        private void OriginalChecks(PoolCheckReport migrated)
        {
            var original = file + ".original";
            TestFiles.WriteAllBytes(original, bytes);
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

            if (inCopy && e is PoolCorruptedException or Pmem.Objects.PersistentTypeMismatchException)
            {
                // What the migration reads is checked before the copy is made (ValidateMigrationInputs).
                Fail("refusal", $"damage was found only by the copy's migration ({e.GetType().Name}: {Short(e.Message)})", $"damage found in the copy: {e.GetType().Name}");
            }

            Step = "after refusal";
            if (File.Exists(copy))
            {
                Fail("refusal", $"a refused open left {Path.GetFileName(copy)} beside the file ({e.GetType().Name}: {Short(e.Message)})");
            }

            var now = Inode(file);
            if (now != inode)
            {
                Fail("refusal", $"a refused open replaced the file (inode {inode} → {now}; {e.GetType().Name}: {Short(e.Message)})");
            }

            var after = TestFiles.ReadAllBytes(file);
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
            // it, and recovery of a pool that opened writes only R and its lanes.
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

            return offset >= PoolLayout.LanesOffset && end <= template.HeapStart; // the lanes' slots (the heap's upkeep waits for a successful open)
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

        private static string Short(string message)
        {
            message = message.ReplaceLineEndings(" ");
            return message.Length > 200 ? message[..200] + "…" : message;
        }
    }
}
