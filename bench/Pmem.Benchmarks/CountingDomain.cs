using Pmem.Memory;

namespace Pmem.Benchmarks;

/// <summary>
/// A bench-only persistence domain over a mapping that does what the engine's hardware domain does on pmem
/// (<see cref="LibPmem"/> flush and drain) and counts flush calls, flushed cache lines and drains (fences), so the
/// cost of a pool operation can be stated in fences. Copies and fills use the engine's <c>LibPmem.Memcpy/Memset</c>.
/// </summary>
internal sealed unsafe class CountingDomain : PersistenceDomain
{
    private readonly PmemMapping _mapping;

    public CountingDomain(PmemMapping mapping)
        : base((byte*)mapping.Address, mapping.Length) => _mapping = mapping;

    public long Flushes { get; private set; }

    public long FlushedLines { get; private set; }

    public long Drains { get; private set; }

    public override FlushPath FlushPath => LibPmem.ActiveFlushPath;

    public override void Flush(long offset, long length)
    {
        CheckRange(offset, length);
        if (length == 0)
        {
            return;
        }

        Flushes++;
        FlushedLines += ((offset + length + 63) >> 6) - (offset >> 6);
        LibPmem.Flush(BaseAddress + offset, (nuint)length);
    }

    public override void Drain()
    {
        Drains++;
        LibPmem.Drain();
    }

    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        CheckRange(offset, source.Length);
        fixed (byte* s = source)
        {
            LibPmem.Memcpy(BaseAddress + offset, s, (nuint)source.Length, flags | PmemCopyFlags.NoDrain);
        }

        Count(offset, source.Length, flags);
    }

    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        CheckRange(offset, length);
        LibPmem.Memset(BaseAddress + offset, value, (nuint)length, flags | PmemCopyFlags.NoDrain);
        Count(offset, length, flags);
    }

    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None)
    {
        CheckRange(destinationOffset, length);
        CheckRange(sourceOffset, length);
        LibPmem.Memmove(BaseAddress + destinationOffset, BaseAddress + sourceOffset, (nuint)length, flags | PmemCopyFlags.NoDrain);
        Count(destinationOffset, length, flags);
    }

    public void Reset() => Flushes = FlushedLines = Drains = 0;

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _mapping.Dispose();
        }
    }

    private void Count(long offset, long length, PmemCopyFlags flags)
    {
        if (length > 0 && (flags & PmemCopyFlags.NoFlush) == 0)
        {
            Flushes++;
            FlushedLines += ((offset + length + 63) >> 6) - (offset >> 6);
        }

        if ((flags & (PmemCopyFlags.NoDrain | PmemCopyFlags.NoFlush)) == 0)
        {
            Drain();
        }
    }
}
