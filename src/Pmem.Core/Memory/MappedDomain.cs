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

    /// <summary>Grows the file and the domain inside the mapping's reservation; the base address does not move.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Smaller than the current length or beyond the reservation.</exception>
    /// <exception cref="PmemIOException">The file could not grow.</exception>
    public override void Extend(long newLength)
    {
        Mapping.Extend(newLength);
        SetLength(newLength);
    }

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
