using System.Runtime.InteropServices;
using Pmem.Memory;

namespace Pmem.Tests.Pool;

/// <summary>
/// A domain over ordinary memory whose flushes and drains are counted but do nothing, for pool tests that are not
/// about crashes. It can grow up to its capacity and be copied out and back in to simulate a clean reopen.
/// </summary>
internal sealed unsafe class MemoryDomain : PersistenceDomain
{
    private readonly long _capacity;
    private byte* _memory;

    private MemoryDomain(byte* memory, long length, long capacity) : base(memory, length)
    {
        _memory = memory;
        _capacity = capacity;
    }

    public int Drains { get; private set; }

    public static MemoryDomain Create(long length, long capacity = 0)
    {
        capacity = Math.Max(capacity, length);
        var memory = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, 4096);
        NativeMemory.Clear(memory, (nuint)capacity);
        return new MemoryDomain(memory, length, capacity);
    }

    public static MemoryDomain FromImage(ReadOnlySpan<byte> image, long capacity = 0)
    {
        var domain = Create(image.Length, capacity);
        image.CopyTo(domain.GetSpan(0, image.Length));
        return domain;
    }

    public byte[] ToArray() => GetSpan(0, (int)Length).ToArray();

    public override FlushPath FlushPath => FlushPath.ProcessCrash;

    public override void Flush(long offset, long length) => CheckRange(offset, length);

    public override void Drain() => Drains++;

    public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None) =>
        source.CopyTo(GetSpan(offset, source.Length));

    public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None) =>
        GetSpan(offset, checked((int)length)).Fill(value);

    public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None) =>
        GetSpan(sourceOffset, checked((int)length)).CopyTo(GetSpan(destinationOffset, checked((int)length)));

    /// <summary>What <see cref="Extend"/> throws instead of growing to a length (a full disk, say), when set and not null for it.</summary>
    public Func<long, Exception?>? ExtendFailure { get; set; }

    public override void Extend(long newLength)
    {
        if (ExtendFailure?.Invoke(newLength) is { } failure)
        {
            throw failure;
        }

        if (newLength > _capacity)
        {
            throw new NotSupportedException($"MemoryDomain cannot grow past its capacity of {_capacity} bytes.");
        }

        SetLength(Math.Max(newLength, Length));
    }

    /// <summary>The domain's bytes when it was disposed (a pool's image after a clean close), if <see cref="KeepImage"/> was set.</summary>
    public byte[]? ImageAtDispose { get; private set; }

    /// <summary>Whether <see cref="Dispose(bool)"/> keeps a copy of the bytes in <see cref="ImageAtDispose"/>.</summary>
    public bool KeepImage { get; set; }

    protected override void Dispose(bool disposing)
    {
        if (_memory != null)
        {
            ImageAtDispose = KeepImage ? ToArray() : null;
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }

        base.Dispose(disposing);
    }
}
