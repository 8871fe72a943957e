namespace Pmem.Memory;

/// <summary>What a pool's writes must survive; chosen per pool at creation.</summary>
public enum DurabilityMode
{
    /// <summary>
    /// Survive power failure and OS crashes: cache lines are flushed and fenced on persistent memory, dirty ranges
    /// are msync'ed on ordinary files.
    /// </summary>
    PowerFailure = 0,

    /// <summary>
    /// Survive the process being killed (kill -9, a crash, a restart) but not power loss or an OS crash: stores reach
    /// the shared page cache, which outlives the process, so no flush is needed; only the order of stores is kept.
    /// </summary>
    ProcessCrash = 1,
}
