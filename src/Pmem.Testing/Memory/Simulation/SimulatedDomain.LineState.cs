// SimulatedDomain (line state) -- what is kept per cache line that is not durable yet: its stores in order and the
// flushes in flight.

namespace Pmem.Memory.Simulation;

public sealed unsafe partial class SimulatedDomain
{
    /// <summary>One atomic piece of a store: at most 8 bytes inside one aligned word of a line.</summary>
    private readonly record struct StorePiece(byte OffsetInLine, byte Length, ulong Value);

    /// <summary>A line not durable yet: its stores since it was last durable and the flushes in flight for it.</summary>
    private sealed class LineState
    {
        /// <summary>Stores (pieces) made since the line was last durable, in order; empty when overflowed.</summary>
        public readonly List<StorePiece> Stores = [];

        /// <summary>Pieces ever stored to the line while it was tracked; a flush remembers this to know what it covers.</summary>
        public long TotalStores;

        /// <summary>Pieces already durable (<see cref="TotalStores"/> minus the pending ones).</summary>
        public long DurableStores;

        /// <summary>Too many stores to keep: the line persists whole (old or new content) until a drain catches up.</summary>
        public bool Overflowed;

        /// <summary>Number of threads with a flush of this line in flight.</summary>
        public int InFlightCount;

        /// <summary>Stamp of the flush that last made the line durable.</summary>
        public long DurableStamp;
    }

    /// <summary>A line's content captured by a flush, durable once the flushing thread drains.</summary>
    private sealed class InFlightLine
    {
        public readonly byte[] Content = new byte[LineSize];
        public long StoreSequence;
        public long Stamp;
    }
}
