namespace Pmem.Memory;

/// <summary>How <see cref="PmemMapping.Map"/> opens the file, one for one with libpmem's <c>PMEM_FILE_*</c> flags.</summary>
[Flags]
public enum MapFlags
{
    /// <summary>Open an existing file; a length of 0 maps the whole file.</summary>
    None = 0,

    /// <summary><c>PMEM_FILE_CREATE</c>: create the file if it is missing and set its size to the requested length (which must be positive).</summary>
    Create = 1 << 0,

    /// <summary><c>PMEM_FILE_EXCL</c>: with <see cref="Create"/>, fail if the file already exists.</summary>
    Exclusive = 1 << 1,

    /// <summary><c>PMEM_FILE_SPARSE</c>: size the file with ftruncate only (no block allocation with posix_fallocate).</summary>
    Sparse = 1 << 2,

    /// <summary><c>PMEM_FILE_TMPFILE</c>: the path is a directory; map a new unnamed file there that vanishes when unmapped.</summary>
    TempFile = 1 << 3,

    /// <summary>
    /// Open the existing file read-only and map it copy-on-write (<c>MAP_PRIVATE</c>): stores land in this process's
    /// private pages and never reach the file. Not with <see cref="Create"/> or <see cref="TempFile"/>; such a mapping
    /// cannot be extended and is never persistent memory.
    /// </summary>
    PrivateCopy = 1 << 4,
}
