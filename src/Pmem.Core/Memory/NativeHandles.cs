using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>An open file descriptor, closed when released.</summary>
internal sealed class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd)
        : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    public override bool IsInvalid => handle.ToInt64() < 0;

    public int Fd => (int)handle.ToInt64();

    protected override bool ReleaseHandle() => LibC.Close(Fd) == 0;
}

/// <summary>A reserved range of address space (file pages mapped into part of it), unmapped whole when released.</summary>
internal sealed unsafe class AddressReservation : SafeHandle
{
    public AddressReservation(byte* address, nuint size)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        Size = size;
        SetHandle((IntPtr)address);
    }

    public nuint Size { get; }

    public byte* Address => (byte*)handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle() => LibC.Munmap((void*)handle, Size) == 0;

    /// <summary>Reserves <paramref name="size"/> bytes (PROT_NONE, no swap) starting on a multiple of <paramref name="alignment"/>.</summary>
    public static AddressReservation Reserve(nuint size, nuint alignment, string path)
    {
        nuint total = size + alignment;
        byte* raw = (byte*)LibC.Mmap(null, total, LibC.PROT_NONE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if (raw == LibC.MAP_FAILED)
        {
            throw PmemIOException.FromErrno($"reserving {size} bytes of address space for mapping", path, Marshal.GetLastPInvokeError());
        }

        // Keep the aligned part; give back the slack on both sides.
        byte* aligned = (byte*)(((nuint)raw + alignment - 1) & ~(alignment - 1));
        if (aligned > raw)
        {
            LibC.Munmap(raw, (nuint)(aligned - raw));
        }

        nuint after = (nuint)(raw + total - (aligned + size));
        if (after > 0)
        {
            LibC.Munmap(aligned + size, after);
        }

        return new AddressReservation(aligned, size);
    }
}
