using Pmem.Pool;

namespace Pmem.Transactions;

/// <summary>
/// A scope in which each write is flushed when made and one drain at the end makes them all durable (libpmem's
/// "flush each, drain once"). Each write is failure-atomic on its own; the batch as a whole is not. Made by
/// <see cref="PersistentPool.Batch"/>; nested batches join the outermost.
/// </summary>
public readonly struct Batch : IDisposable
{
    [ThreadStatic]
    private static BatchState? t_state;

    private readonly BatchState? _state;

    private Batch(BatchState state) => _state = state;

    internal static bool IsActiveFor(PersistentPool pool) => t_state is { } s && ReferenceEquals(s.Pool, pool);

    internal static Batch Begin(PersistentPool pool)
    {
        var state = t_state;
        if (state is null)
        {
            t_state = state = new BatchState { Pool = pool };
        }
        else if (!ReferenceEquals(state.Pool, pool))
        {
            throw new InvalidOperationException("This thread already runs a batch on another pool.");
        }

        state.Depth++;
        return new Batch(state);
    }

    /// <summary>Ends the scope; the outermost end drains once, making every write of the batch durable.</summary>
    public void Dispose()
    {
        var state = _state;
        if (state is null || !ReferenceEquals(t_state, state))
        {
            return;
        }

        if (--state.Depth == 0)
        {
            t_state = null;
            state.Pool.DrainBatch();
        }
    }

    private sealed class BatchState
    {
        public required PersistentPool Pool;
        public int Depth;
    }
}
