// Batch -- the public batch scope: each write flushed when made, one drain when the outermost batch ends.
using Pmem.Pool;

namespace Pmem.Transactions;

/// <summary>
/// A scope in which each write is flushed when made and one drain at the end makes them all durable (libpmem's
/// "flush each, drain once"). Each write is failure-atomic on its own; the batch as a whole is not. Made by
/// <see cref="PersistentPool.Batch"/>; nested batches join the outermost.
/// </summary>
public readonly struct Batch : IDisposable
{
    private readonly TransactionState? _state; // the thread's state, which also holds its batch
    private readonly ITransactionalPool? _pool;
    private readonly long _generation;

    private Batch(TransactionState state, ITransactionalPool pool, long generation) => (_state, _pool, _generation) = (state, pool, generation);

    internal static Batch Begin(ITransactionalPool pool)
    {
        // The thread's state is kept and reused (BatchPoolId is 0 between batches): a batch allocates nothing.
        var state = TransactionState.ForThread;
        if (state.BatchPoolId != 0 && state.BatchAbandoned)
        {
            End(state, pool);
        }

        if (state.BatchPoolId == 0)
        {
            state.BatchPoolId = pool.InstanceId;
            state.BatchGeneration++;
        }
        else if (state.BatchPoolId != pool.InstanceId)
        {
            throw new InvalidOperationException("This thread already runs a batch on another pool.");
        }

        state.BatchDepth++;
        return new Batch(state, pool, state.BatchGeneration);
    }

    /// <summary>Ends the scope; the outermost end drains once, making every write of the batch durable.</summary>
    /// <exception cref="InvalidOperationException">
    /// Called on another thread than the one that began the batch, while the batch runs (an <c>await</c> inside the
    /// batch's <c>using</c> block moves the rest of the method to another thread). Its thread ends it (one drain)
    /// the next time it writes in it or begins a batch; until then its writes made there may not be durable.
    /// </exception>
    public void Dispose()
    {
        var state = _state;
        if (state is null || state.BatchGeneration != _generation || state.BatchPoolId == 0)
        {
            return; // default, or already ended (a second Dispose of a copy)
        }

        if (!ReferenceEquals(TransactionState.OfThread, state))
        {
            Volatile.Write(ref state.BatchAbandoned, true);
            throw new InvalidOperationException(
                "A batch must end on the thread that began it; the writes made there are not yet durable (that thread ends the batch when it next writes). " +
                "Do not await inside a batch.");
        }

        if (--state.BatchDepth == 0)
        {
            End(state, _pool!);
        }
    }

    /// <summary>
    /// Ends the thread's batch with its one drain: at its outermost scope's end, or on its own thread when the scope was
    /// disposed on another thread (see <see cref="Dispose"/>).
    /// </summary>
    internal static void End(TransactionState state, ITransactionalPool pool)
    {
        (state.BatchPoolId, state.BatchDepth, state.BatchAbandoned) = (0, 0, false);
        pool.Domain.Drain();
        pool.Commits.AfterDrain(state.Commits);
        pool.Domain.ThrowIfDisposedAfterAccess(); // a write racing Dispose may have reached the closed memory
    }
}
