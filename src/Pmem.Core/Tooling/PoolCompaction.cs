// PoolCompaction -- defragmenting and shrinking a pool file: a dense copy beside it, made durable, renamed over it.
using Pmem.Memory;
using Pmem.Pool;

namespace Pmem.Tooling;

/// <summary>What <see cref="PoolCompaction.Compact"/> did.</summary>
/// <param name="Path">The pool file.</param>
/// <param name="SizeBefore">The file's size before, in bytes.</param>
/// <param name="SizeAfter">The file's size after, in bytes.</param>
/// <param name="Blocks">Allocated blocks moved (objects, strings, collection storage and nodes, schema records).</param>
/// <param name="LiveBytes">The pool's fixed areas (header, type table, lanes) plus the bytes of its allocated blocks: what no layout can go below.</param>
/// <param name="RecoveredTransactions">Committed transactions the open before the compaction replayed (a crash had interrupted them).</param>
public sealed record PoolCompactionResult(string Path, long SizeBefore, long SizeAfter, long Blocks, long LiveBytes, int RecoveredTransactions)
{
    /// <summary>The pool's format version before (after the open's own upgrades) and after: they differ when a compaction moved a format-8 pool to the current format.</summary>
    public (uint Before, uint After) FormatVersions { get; init; }

    /// <summary>
    /// Whether the compacted copy replaced the pool; false when it would not have been smaller (a dense pool, or
    /// indexes that take more room rebuilt than they did): the pool is then left as it was and <see cref="SizeAfter"/>
    /// is its size.
    /// </summary>
    public bool Replaced { get; init; } = true;
}

/// <summary>
/// Compaction: moves every allocated block of a pool to a dense new layout, rewriting every reference and internal
/// offset, and shrinks the file — what <c>pmem compact</c> runs.
/// </summary>
/// <remarks>
/// The pool is opened (recovering any committed transaction a crash left in its logs) and held locked throughout. Its
/// blocks are copied into a new pool file beside it, <see cref="TemporaryPath"/>, with the same layout name, uuid,
/// creation time, lanes and durability, and the same format version, except that a pool of format 8 moves to the
/// current one (whose lanes hold more log slots; nothing else differs); that file is synced, renamed over the original in one step,
/// and the directory synced. A crash at any moment leaves the old pool or the new one, each complete; a temporary file
/// a crash left behind is deleted by the next compaction (no open ever reads it). Every allocated block is kept, also
/// those nothing reaches from the root (<c>pool.All&lt;T&gt;()</c> may still find them): compaction changes where
/// objects are, never what the pool holds. Indexes are not moved but rebuilt in the copy before it is published (their
/// keys order objects by offset), so the compacted pool opens with every index it had. Linux only (like the pool files themselves).
/// </remarks>
public static class PoolCompaction
{
    /// <summary>
    /// The temporary file a compaction of <paramref name="path"/> builds: the pool file's path (where a symbolic link
    /// points) with <c>.compacting</c> appended.
    /// </summary>
    public static string TemporaryPath(string path) => PoolFile(path) + ".compacting";

    /// <summary>The file a path names, through symbolic links: the one compaction measures, copies and replaces (a link stays a link).</summary>
    private static string PoolFile(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return path; // missing or unreadable: the open says so
        }
    }

    /// <summary>Compacts the pool file at <paramref name="path"/> in place (see the class remarks).</summary>
    /// <param name="path">The pool file; no one may have it open.</param>
    /// <param name="layout">The layout name it was created with.</param>
    /// <returns>The sizes before and after and what was moved.</returns>
    /// <exception cref="PoolLockedException">The pool is open (in this or another process); nothing is written.</exception>
    /// <exception cref="PoolCorruptedException">
    /// Not a pool, or damaged: <see cref="PersistentPool.Check"/> reports errors or a stored offset leads to no allocated
    /// block (run a repair first), or a schema migration is unfinished. The pool file is unchanged: a read-only open
    /// checks it before anything opens it for writing.
    /// </exception>
    /// <exception cref="PoolLayoutMismatchException">The pool has another layout name.</exception>
    /// <exception cref="PoolVersionException">The pool has a newer format version.</exception>
    /// <exception cref="IOException">The new file (<see cref="TemporaryPath"/>) cannot be written or synced (for example, the disk is full); the pool's objects are unchanged.</exception>
    public static PoolCompactionResult Compact(string path, string layout)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var file = PoolFile(path); // a link's size is the link's, and a rename over it would replace the link, not the pool
        var sizeBefore = new FileInfo(file).Exists ? new FileInfo(file).Length : 0;
        using (var look = PersistentPool.OpenReadOnly(path, layout))
        {
            // An open for writing may write the file (its recovery, the heap's free spans): one to refuse is refused first.
            RefuseUnlessConsistent(look, path);
        }

        using var pool = PersistentPool.Open(path, layout);
        var temporary = TemporaryPath(path);
        RefuseUnlessConsistent(pool, path); // as it is now: no lock was held in between

        try
        {
            // Only a compaction builds it, and one holds the pool's lock: this one is a crashed compaction's leftover.
            File.Delete(temporary);
            DurableFiles.Track(temporary); // a Ctrl-C from here on deletes it (see DurableFiles.DeleteUnfinished)
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            throw new FileWriteException(temporary, e); // not a file (a directory), or not ours to delete
        }

        // A pool that keeps its format (below 8) must not get runs of the classes format 11 added, even where the
        // rebuilt indexes take new blocks.
        var targetFormat = pool.FormatVersion < PoolLayout.UpgradeVersion ? PoolLayout.RoomyLanesVersion : PoolLayout.FormatVersion;
        var occupancy = pool.MeasureOccupancy(PersistentPool.ClassCountOf(targetFormat));
        var inspection = pool.Inspect();
        uint formatAfter;
        try
        {
            var options = new PoolCreateOptions
            {
                Durability = pool.Durability,
                LaneCount = inspection.LaneCount,
                LaneSize = inspection.LaneSize,
                MaxSize = Math.Max(occupancy.DenseSize * 2, pool.Size), // room to grow should a run not fill exactly
                FormatVersion = targetFormat,
            };
            using (var target = PersistentPool.Create(temporary, layout, occupancy.DenseSize, options))
            {
                pool.CopyCompactedInto(target);
                target.RecordGrowthLimit(inspection.GrowthLimit); // the source's, not the room this compaction gave itself
            }

            // The copy leaves the indexes out (their keys are offsets); reopened, it knows its types and builds them
            // back, growing if it must, so that it is published whole and the next open builds nothing.
            long blocks;
            using (var copy = PersistentPool.Open(temporary, layout, new PoolOpenOptions { MaxSize = options.MaxSize }))
            {
                copy.BuildIndexesLike(pool.LiveIndexSlots());
                blocks = copy.MeasureOccupancy().Blocks;
            }

            if (pool.FormatVersion < PoolLayout.UpgradeVersion)
            {
                // Its blocks are as that format wrote them; a pool of format 8 is all a 9 is but for the lanes, so it moves.
                ThreeSlotLanes.AsVersion(temporary, pool.FormatVersion);
            }

            formatAfter = Verify(temporary, layout, blocks);
            if (new FileInfo(temporary).Length >= sizeBefore && formatAfter == pool.FormatVersion)
            {
                File.Delete(temporary); // no smaller: publishing it would only grow the file (and might pass its growth limit)
                return new PoolCompactionResult(path, sizeBefore, sizeBefore, occupancy.Blocks, occupancy.LiveBytes, pool.RecoveredTransactions)
                {
                    FormatVersions = (pool.FormatVersion, pool.FormatVersion),
                    Replaced = false,
                };
            }

            DurableFiles.CopyAccess(file, temporary, owner: true); // who may open the pool stays who may open it
            DurableFiles.Replace(temporary, file);
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e) && !(e is PmemIOException { Path: { } named } && !named.StartsWith(temporary, StringComparison.Ordinal)))
        {
            File.Delete(temporary);
            throw new FileWriteException(temporary, e); // the new file could not be made (disk full, not writable)
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
        finally
        {
            DurableFiles.Finished(temporary); // renamed over the pool, or deleted
        }

        return new PoolCompactionResult(path, sizeBefore, new FileInfo(file).Length, occupancy.Blocks, occupancy.LiveBytes, pool.RecoveredTransactions)
        {
            FormatVersions = (pool.FormatVersion, formatAfter),
        };
    }

    /// <summary>Throws unless the pool's check finds no errors (unreachable and detached blocks are moved like the rest) and no migration is under way.</summary>
    private static void RefuseUnlessConsistent(PersistentPool pool, string path)
    {
        pool.ThrowIfMigrationUnderWay("compacting");
        var report = pool.Check();
        if (!report.IsConsistent)
        {
            throw new PoolCorruptedException(path, $"the pool's check finds errors ({report.Errors[0]}); repair it (pmem check --repair) before compacting it");
        }
    }

    /// <summary>
    /// Opens the new file as the next open will (the program's types and all), and refuses to publish it unless it
    /// checks clean and holds every block (the moved ones and the rebuilt indexes': an open that built or dropped
    /// anything changes the count); returns its format version.
    /// </summary>
    private static uint Verify(string temporary, string layout, long blocks)
    {
        using var copy = PersistentPool.Open(temporary, layout);
        var report = copy.Check();
        if (!report.IsConsistent || report.AllocatedObjects != blocks)
        {
            var first = report.Errors.Count > 0 ? report.Errors[0] : $"{report.AllocatedObjects} blocks where {blocks} belong";
            throw new PoolCorruptedException(temporary, $"the compacted copy does not check clean ({first}); the pool is left as it was");
        }

        return copy.FormatVersion;
    }
}
