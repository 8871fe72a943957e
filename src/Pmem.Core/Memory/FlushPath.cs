namespace Pmem.Memory;

/// <summary>How a persistence domain makes stores durable; reported so users and benchmarks can see the active path.</summary>
public enum FlushPath
{
    /// <summary>CLWB: write back the cache line and keep it cached (preferred).</summary>
    Clwb,

    /// <summary>CLFLUSHOPT: write back and evict, weakly ordered (needs SFENCE).</summary>
    ClflushOpt,

    /// <summary>CLFLUSH: write back and evict, strongly ordered (the drain has nothing to wait for).</summary>
    Clflush,

    /// <summary>The platform's caches are in the persistence domain (eADR) or <c>PMEM_NO_FLUSH=1</c>: flushes skipped, fences kept.</summary>
    NoFlushNeeded,

    /// <summary>The mapping is not persistent memory: flush records dirty ranges and drain calls <c>msync</c> on them.</summary>
    Msync,

    /// <summary>Process-crash durability: stores reach the page cache, which survives the process; only ordering is kept.</summary>
    ProcessCrash,

    /// <summary>The simulated persistence domain used for crash testing.</summary>
    Simulated,
}
