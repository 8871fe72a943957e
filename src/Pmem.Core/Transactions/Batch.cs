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
    private readonly long _generation;

    private Batch(BatchState state, long generation) => (_state, _generation) = (state, generation);

    internal static bool IsActiveFor(PersistentPool pool) => t_state is { } s && ReferenceEquals(s.Pool, pool);

    internal static Batch Begin(PersistentPool pool)
    {
        // The state object is kept per thread and reused (Pool is null between batches): a batch allocates nothing.
        var state = t_state ??= new BatchState();
        if (state.Pool is null)
        {
            state.Pool = pool;
            state.Generation++;
        }
        else if (!ReferenceEquals(state.Pool, pool))
        {
            throw new InvalidOperationException("This thread already runs a batch on another pool.");
        }

        state.Depth++;
        return new Batch(state, state.Generation);
    }

    /// <summary>Ends the scope; the outermost end drains once, making every write of the batch durable.</summary>
    public void Dispose()
    {
        var state = _state;
        if (state is null || !ReferenceEquals(t_state, state) || state.Generation != _generation || state.Pool is not { } pool)
        {
            return; // default, another thread's, or already ended (a second Dispose of a copy)
        }

        if (--state.Depth == 0)
        {
            state.Pool = null;
            pool.DrainBatch();
        }
    }

    private sealed class BatchState
    {
        public PersistentPool? Pool;
        public int Depth;
        public long Generation; // tells a scope of an ended batch from one of the running batch
    }
}
