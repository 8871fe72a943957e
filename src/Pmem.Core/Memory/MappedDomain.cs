namespace Pmem.Memory;

/// <summary>
/// A persistence domain over a <see cref="PmemMapping"/> that it owns: disposing the domain unmaps the file.
/// Created by <see cref="PmemMapping.CreateDomain"/>.
/// </summary>
public abstract unsafe class MappedDomain : PersistenceDomain
{
    private protected MappedDomain(PmemMapping mapping)
        : base((byte*)(mapping ?? throw new ArgumentNullException(nameof(mapping))).Address, mapping.Length)
    {
        Mapping = mapping;
    }

    /// <summary>The mapping this domain owns.</summary>
    public PmemMapping Mapping { get; }

    /// <summary>The mapped file's path.</summary>
    public string Path => Mapping.Path;

    /// <inheritdoc />
    protected override string Name => Path;

    /// <summary>True when the mapping is persistent memory (see <see cref="PmemMapping.IsPmem"/>).</summary>
    public bool IsPmem => Mapping.IsPmem;

    /// <summary>Bytes the domain can grow to without moving (<see cref="PmemMapping.ReservedLength"/>).</summary>
    public long ReservedLength => Mapping.ReservedLength;

    /// <summary>Takes the mapping's exclusive file lock (see <see cref="PmemMapping.TryLockExclusive"/>).</summary>
    public bool TryLockExclusive() => Mapping.TryLockExclusive();

    /// <inheritdoc />
    /// <remarks>
    /// <c>MADV_POPULATE_WRITE</c> over the whole pages of the range: in a virtual machine each page fault is an exit to
    /// the hypervisor, and a migration that writes every page of its objects took one per page (bench/RESULTS.md,
    /// session 18). On an ordinary file the pages become dirty, which the writes that follow would make them anyway.
    /// A kernel without it (before 5.14) refuses the call, and then the pages fault in as before.
    /// </remarks>
    internal override void PrefaultForWrite(long offset, long length)
    {
        var page = (long)LibC.PageSize;
        var start = Math.Max(0, offset) & ~(page - 1);
        var end = Math.Min(Length & ~(page - 1), (offset + length + page - 1) & ~(page - 1));
        if (end > start && !Mapping.IsPrivateCopy)
        {
            _ = LibC.Madvise(BaseAddress + start, (nuint)(end - start), LibC.MADV_POPULATE_WRITE); // a hint: failure changes nothing
        }
    }

    /// <summary>Grows the file and the domain inside the mapping's reservation; the base address does not move.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Smaller than the current length or beyond the reservation.</exception>
    /// <exception cref="PmemIOException">The file could not grow.</exception>
    public override void Extend(long newLength)
    {
        Mapping.Extend(newLength);
        SetLength(newLength);
    }

    /// <inheritdoc />
    internal override void EnsureAllocated(long start, long end) => Mapping.AllocateRange(start, end);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing); // the length first: later accesses throw before they reach the address
        if (disposing)
        {
            Mapping.Dispose();
        }
    }

    /// <summary>Pointer to <paramref name="offset"/> after checking [offset, offset + length) is inside the domain.</summary>
    private protected byte* At(long offset, long length)
    {
        CheckRange(offset, length);
        return BaseAddress + offset;
    }
}
