namespace Pmem.Memory;

/// <summary>Which failures stores must survive once drained; chosen per pool.</summary>
public enum DurabilityMode
{
    /// <summary>Survive power loss and OS crashes: cache-line flush and fence on persistent memory, msync otherwise.</summary>
    PowerFailure,

    /// <summary>Survive the process being killed, not power loss: the page cache keeps the stores, so only ordering is kept.</summary>
    ProcessCrash,
}
