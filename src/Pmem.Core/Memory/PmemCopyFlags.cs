namespace Pmem.Memory;

/// <summary>
/// Flags for the copy and fill operations, one for one with libpmem's <c>PMEM_F_MEM_*</c> flags.
/// </summary>
[Flags]
public enum PmemCopyFlags
{
    /// <summary>Flush and drain: the data is durable when the call returns.</summary>
    None = 0,

    /// <summary><c>PMEM_F_MEM_NODRAIN</c>: flush but skip the final drain; the caller drains once for a group.</summary>
    NoDrain = 1 << 0,

    /// <summary><c>PMEM_F_MEM_NONTEMPORAL</c>: use non-temporal stores whatever the size.</summary>
    NonTemporal = 1 << 1,

    /// <summary><c>PMEM_F_MEM_TEMPORAL</c>: use ordinary stores followed by cache-line flushes whatever the size.</summary>
    Temporal = 1 << 2,

    /// <summary><c>PMEM_F_MEM_WC</c>: prefer write-combining (non-temporal) stores.</summary>
    WriteCombining = 1 << 3,

    /// <summary><c>PMEM_F_MEM_WB</c>: prefer write-back (temporal) stores.</summary>
    WriteBack = 1 << 4,

    /// <summary><c>PMEM_F_MEM_NOFLUSH</c>: neither flush nor drain (a plain copy; implies <see cref="Temporal"/>).</summary>
    NoFlush = 1 << 5,
}
