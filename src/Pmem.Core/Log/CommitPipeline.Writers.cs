// CommitPipeline (writers) -- holding every write back for a consistent copy, and refusing writes in a read-only pool.
using System.Diagnostics.CodeAnalysis;
using Pmem.Pool;

namespace Pmem.Log;

internal sealed partial class CommitPipeline
{
    private readonly ManualResetEventSlim _writesAllowed = new(initialState: true);
    private int _writesHeld;      // nonzero: writes outside the log take the slow path (MustRetireBeforeUnloggedWrite)
    private bool _writesRefused;  // a read-only pool: every write throws

    /// <summary>
    /// Makes every later write throw <see cref="PoolReadOnlyException"/>: commits, writes outside the log and
    /// allocations outside a transaction (for a pool opened read-only, once recovery is done).
    /// </summary>
    public void RefuseWrites()
    {
        _writesRefused = true;
        Volatile.Write(ref _writesHeld, 1);
    }

    /// <summary>True when writes are refused (a read-only pool).</summary>
    public bool WritesRefused => _writesRefused;

    /// <summary>
    /// Holds back every write to the pool until the returned scope is disposed: commits wait for a lane, writes outside
    /// the log (single words, batches, publishing prepared blocks) wait in their slow path, and commits in progress
    /// finish first. While it is held, memory changes only by writes already past their check (a single word each,
    /// as a crash could leave or not), so a copy taken then opens like the pool after a crash at that moment.
    /// </summary>
    /// <remarks>One holder at a time (the caller serialises); the caller's own thread must not write meanwhile.</remarks>
    public WritesHeld HoldWrites()
    {
        _writesAllowed.Reset();
        Volatile.Write(ref _writesHeld, 1);
        _lanes.Close(); // its process-wide barrier also publishes _writesHeld to every thread
        return new WritesHeld(this);
    }

    private void ReleaseWrites()
    {
        _lanes.Reopen();
        if (!_writesRefused && !_lanes.IsShut)
        {
            Volatile.Write(ref _writesHeld, 0);
        }

        _writesAllowed.Set();
    }

    /// <summary>
    /// Ends every write for good, as the pool is disposed: waits until no commit holds a lane; from then on commits,
    /// writes outside the log and commits waiting for a lane throw <see cref="ObjectDisposedException"/>. A write outside
    /// the log that passed its check before may still land; it reports the disposal itself if it reached the memory
    /// after the mapping closed (see <see cref="Memory.PersistenceDomain.ThrowIfDisposedAfterAccess"/>).
    /// </summary>
    public void Shut()
    {
        Volatile.Write(ref _writesHeld, 1);
        _lanes.Shut(); // sets the shut flag every write checks; its process-wide barrier publishes both to every thread
        _writesAllowed.Set();
    }

    /// <summary>Before a write outside the log or a commit's lane: waits while writes are held, throws when refused or shut.</summary>
    public void WaitUntilWritesAllowed()
    {
        ThrowIfWritesRefused();
        while (Volatile.Read(ref _writesHeld) != 0 && !_writesRefused)
        {
            ThrowIfShut();
            _writesAllowed.Wait(LaneSet.ShutCheckMilliseconds);
        }
    }

    private void ThrowIfWritesRefused()
    {
        ThrowIfShut();
        if (_writesRefused)
        {
            throw new PoolReadOnlyException(_poolPath);
        }
    }

    private void ThrowIfShut()
    {
        if (_lanes.IsShut)
        {
            ThrowShut();
        }
    }

    [DoesNotReturn]
    private void ThrowShut() => throw new ObjectDisposedException(_poolPath, "The pool was disposed: its objects cannot be written.");

    /// <summary>The scope of <see cref="HoldWrites"/>.</summary>
    public readonly struct WritesHeld(CommitPipeline pipeline) : IDisposable
    {
        /// <summary>Lets writes go on.</summary>
        public void Dispose() => pipeline.ReleaseWrites();
    }
}
