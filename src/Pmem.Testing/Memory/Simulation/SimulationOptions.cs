namespace Pmem.Memory.Simulation;

/// <summary>Settings of a <see cref="SimulatedDomain"/>.</summary>
public sealed record SimulationOptions
{
    /// <summary>
    /// The largest length the domain may grow to through <see cref="SimulatedDomain.Extend"/>; the address space is
    /// reserved up front so the base address never moves. Zero (the default) means the initial length.
    /// </summary>
    public long Capacity { get; init; }

    /// <summary>
    /// Record the order of stores within each cache line, so a crash image may hold any prefix of a line's stores
    /// (x86 persists stores to one line in order; an aligned 8-byte store is atomic). On by default. When off, a
    /// dirty line persists whole (old or new content) and nothing in between.
    /// </summary>
    public bool TrackStores { get; init; } = true;

    /// <summary>
    /// Checking mode (like pmemcheck): at every <see cref="SimulatedDomain.Drain"/>, lines stored but never flushed
    /// are recorded in <see cref="SimulatedDomain.Issues"/>. Each drain then scans the whole domain, so it is off by
    /// default.
    /// </summary>
    /// <remarks>
    /// A drain in the middle of an undo-log transaction legitimately leaves modified lines unflushed, and another
    /// thread may be between its stores and its flush; use the drain check on code that should have nothing
    /// unflushed at a fence (atomic setters, batches), or call <see cref="SimulatedDomain.CollectIssues"/> at the
    /// points where everything must be durable (after a commit).
    /// </remarks>
    public bool CheckingMode { get; init; }

    /// <summary>
    /// How many stores a line may record before the simulation stops tracking their order and treats the line as
    /// whole old or new content (bounds memory when a line is stored to many times without being made durable).
    /// </summary>
    public int MaxStoresPerLine { get; init; } = 4096;

    /// <summary>
    /// Whether the domain reports itself as persistent memory (<see cref="PersistenceDomain.IsPersistentMemory"/>), as
    /// by default. False makes a pool treat it as an ordinary file, where a drain is an msync: the pool then hashes the
    /// content a commit publishes into its log instead of draining it first, and takes fresh watermarks at every
    /// commit, so crash campaigns can cover that protocol too.
    /// </summary>
    public bool PersistentMemory { get; init; } = true;
}
