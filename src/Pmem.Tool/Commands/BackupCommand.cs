// BackupCommand -- `pmem backup`: open a pool that no one has open for writing, copy it, then check the copy as `pmem check` does.
using Pmem.Memory;
using Pmem.Pool;
using Pmem.Tool.Output;
using Pmem.Tool.Pools;
using Pmem.Tooling;

namespace Pmem.Tool.Commands;

/// <summary>Copies a closed pool file to a new file and checks the copy.</summary>
internal static class BackupCommand
{
    private const string LiveBackupHint =
        "pmem backup copies a pool no program has open for writing; a program that has it open can take a consistent copy while it runs with PersistentPool.Backup, or close it and retry";

    private const int ChunkSize = 1 << 20;

    /// <summary>Runs the command; returns the exit code.</summary>
    public static int Run(ToolConsole console, string source, string destination, bool force, bool json, string? tempDirectory)
    {
        if (Directory.Exists(destination))
        {
            destination = Path.Combine(destination, Path.GetFileName(Path.TrimEndingDirectorySeparator(source)));
        }

        if (PersistentPool.PoolFileNamedBy(destination, source) is { } what)
        {
            return Refuse(console, source, json, new IOException($"{destination}: the destination is {what}"));
        }

        if (File.Exists(destination) && !force)
        {
            return Refuse(console, source, json, new IOException($"{destination}: the destination exists (use --force to replace it)"));
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(destination))!;
        if (!Directory.Exists(directory))
        {
            return Failures.Report(console, "backup", destination, new DirectoryNotFoundException($"its directory {directory} does not exist"), json, failure: "cannot write");
        }

        // The source is opened (and recovered, in private pages) before anything is written: a file that is not a
        // whole pool is refused by its own name, and leaves no copy behind to be blamed or to block a retry.
        PoolSnapshot snapshot;
        try
        {
            snapshot = PoolSnapshot.OpenForReading(console, source, tempDirectory);
        }
        catch (PoolLockedException e)
        {
            return Failures.Report(console, "backup", source, e, json, LiveBackupHint);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            return Failures.Report(console, "backup", source, e, json);
        }

        long bytes;
        using (snapshot)
        {
            try
            {
                using var held = LockDestination(destination); // a pool some program has open is never replaced under it
                bytes = Copy(console, snapshot, source, destination, force);
            }
            catch (FileWriteException e)
            {
                return Failures.Report(console, "backup", destination, e.InnerException!, json, failure: "cannot write");
            }
            catch (Exception e) when (Failures.IsOpenFailure(e))
            {
                return Failures.Report(console, "backup", source, e, json);
            }
        }

        CheckJson check;
        try
        {
            check = CheckCommand.CheckPool(console, destination, tempDirectory);
        }
        catch (Exception e) when (Failures.IsOpenFailure(e))
        {
            // The pool itself opened a moment ago: a copy that does not is a fault of the copying or of the disk.
            // It is kept, for a look at what went wrong.
            console.Error.WriteLine($"pmem backup: the copy {destination} was written but does not open, though {source} did");
            return Failures.Report(console, "backup", destination, e, json);
        }

        if (json)
        {
            Failures.WriteJson(console, new BackupJson(source, destination, bytes, check), ToolJsonContext.Output.BackupJson);
        }
        else
        {
            console.Out.WriteLine($"copied {source} to {destination}: {Format.BytesExact(bytes)}");
            CheckCommand.WriteText(console, check);
        }

        return CheckCommand.ExitCode(check);
    }

    /// <summary>Holds an existing destination's lock until it is replaced (<see cref="DurableFiles.LockForReplacing"/>).</summary>
    /// <exception cref="FileWriteException">A program has it open.</exception>
    private static FileStream? LockDestination(string destination)
    {
        try
        {
            return DurableFiles.LockForReplacing(destination);
        }
        catch (IOException e)
        {
            throw new FileWriteException(destination, e);
        }
    }

    private static int Refuse(ToolConsole console, string source, bool json, IOException reason)
    {
        console.Error.WriteLine($"pmem backup: {reason.Message}");
        if (json)
        {
            Failures.WriteJson(console, new ErrorJson(source, new ErrorDetailJson(nameof(IOException), reason.Message)), ToolJsonContext.Output.ErrorJson);
        }

        return ExitCodes.CannotOpen;
    }

    /// <summary>
    /// Copies into a hidden temporary file beside the destination, flushed to disk, then renamed over it (the rename
    /// made durable too): a failed or interrupted backup never leaves a partial file under the destination's name, and
    /// a failed one leaves no temporary file either. The snapshot's shared lock keeps writers out meanwhile.
    /// </summary>
    /// <exception cref="FileWriteException">The copy could not be written (its inner exception says why).</exception>
    private static long Copy(ToolConsole console, PoolSnapshot snapshot, string source, string destination, bool force)
    {
        DurableFiles.DeleteAbandonedBeside(destination, "backup"); // what killed backups to this destination left
        var temporary = DurableFiles.TemporaryBeside(destination, "backup");
        try
        {
            long length;
            using (var output = new NamedFileStream(temporary, destination))
            {
                DurableFiles.CopyAccess(source, temporary, owner: false); // before any byte: a copy of a private pool stays private
                // Every byte written (no holes): a pool later mapped from a sparse file could fault on a full disk.
                var progress = ProgressReporter.Start(console, $"copying {source}");
                length = snapshot.Header.WriteAheadLogActive ? CopyRecovered(snapshot.Pool, output.Write, progress) : CopyFile(source, output.Write, progress);
                progress?.Done();
                output.FlushToDisk();
            }

            WritingCopy(temporary, destination, () =>
            {
                DurableFiles.Publish(temporary, destination, overwrite: force); // the rename, too, survives a power failure
                return true;
            });
            return length;
        }
        catch
        {
            DurableFiles.DeleteQuietly(temporary);
            throw;
        }
    }

    /// <summary>The file byte for byte (commits a crash left in its logs are replayed by the copy's first open).</summary>
    private static long CopyFile(string source, Action<ReadOnlySpan<byte>> write, ProgressReporter? progress)
    {
        using var file = PoolFile.Open(source); // a second shared lock beside the snapshot's
        file.CopyTo((_, chunk) => write(chunk), skipZeros: false, progress);
        return file.Length;
    }

    /// <summary>
    /// A pool whose header names an active write-ahead log: after a crash its latest commits are only in the log
    /// beside it, so the file alone is no pool. The copy is the pool as its recovery made it (in the read-only open's
    /// private pages), with no log named, as <see cref="PersistentPool.Backup"/> leaves its copies: one file that
    /// opens by itself with the same contents.
    /// </summary>
    private static long CopyRecovered(PersistentPool pool, Action<ReadOnlySpan<byte>> write, ProgressReporter? progress)
    {
        var domain = pool.Domain;
        var length = domain.Length;
        var header = domain.GetSpan(0, (int)Math.Min(ChunkSize, length)).ToArray();
        header.AsSpan(PoolLayout.WriteAheadLifeOffset, sizeof(ulong)).Clear(); // the copy's commits are all in it
        write(header);
        for (long offset = header.Length; offset < length; offset += ChunkSize)
        {
            write(domain.GetSpan(offset, (int)Math.Min(ChunkSize, length - offset)));
            progress?.Report(offset, length);
        }

        return length;
    }

    /// <summary>Runs a step that writes the copy; its failure becomes a <see cref="FileWriteException"/> naming the destination.</summary>
    private static T WritingCopy<T>(string temporary, string destination, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            throw FileWriteException.Renamed(e, temporary, destination);
        }
    }
}
