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

/// <summary>
/// A reserved range of address space (file pages mapped into part of it), unmapped when released: all of it, except a
/// part lost to a refused mapping (see <see cref="MapFixed"/>), which may belong to someone else by then.
/// </summary>
internal sealed unsafe class AddressReservation : SafeHandle
{
    private const int ReserveFlags = LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE;

    private nuint _lostStart, _lostEnd; // offsets; empty when nothing was lost

    public AddressReservation(byte* address, nuint size)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        Size = size;
        SetHandle((IntPtr)address);
    }

    public nuint Size { get; }

    public byte* Address => (byte*)handle;

    /// <summary>Bytes from <see cref="Address"/> that are still this reservation's without a gap: what can be mapped into.</summary>
    public nuint UsableSize => _lostEnd > _lostStart ? _lostStart : Size;

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>
    /// Maps <paramref name="length"/> bytes at <paramref name="offset"/> into the reservation (mmap with MAP_FIXED).
    /// Linux may already have unmapped the range when it refuses such a mapping (it leaves a gap where the failed
    /// mapping was), and another thread's mmap could take that gap before anything else is tried: so the range is
    /// reserved again at once without replacing anything, and if that fails (the old reservation is still there, or
    /// another mapping is) the range is lost: never mapped over or unmapped by this reservation again.
    /// </summary>
    /// <returns>0, or the errno of the refusal.</returns>
    public int MapFixed(nuint offset, nuint length, int protection, int flags, int fd, long fileOffset)
    {
        if (offset + length > UsableSize)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, {offset + length}) is not all usable in this reservation ({UsableSize} of {Size} bytes).");
        }

        byte* at = Address + offset;
        if (LibC.Mmap(at, length, protection, flags | LibC.MAP_FIXED, fd, fileOffset) != LibC.MAP_FAILED)
        {
            return 0;
        }

        int errno = Marshal.GetLastPInvokeError();
        byte* again = (byte*)LibC.Mmap(at, length, LibC.PROT_NONE, ReserveFlags | LibC.MAP_FIXED_NOREPLACE, -1, 0);
        if (again != at)
        {
            if (again != LibC.MAP_FAILED)
            {
                LibC.Munmap(again, length); // a kernel without MAP_FIXED_NOREPLACE took the address as a hint
            }

            _lostStart = _lostEnd > _lostStart ? Math.Min(_lostStart, offset) : offset;
            _lostEnd = Math.Max(_lostEnd, offset + length);
        }

        return errno;
    }

    /// <summary>
    /// Gives back now the address space past the first <paramref name="keep"/> bytes (a lost part excepted: it may be
    /// another mapping's), and counts it as lost, so that the release gives back only the rest.
    /// </summary>
    public void ReleaseTail(nuint keep)
    {
        bool lost = _lostEnd > _lostStart;
        if (keep >= Size || (lost && _lostStart < keep))
        {
            return;
        }

        if (!lost)
        {
            LibC.Munmap(Address + keep, Size - keep);
        }
        else
        {
            if (_lostStart > keep)
            {
                LibC.Munmap(Address + keep, _lostStart - keep);
            }

            if (_lostEnd < Size)
            {
                LibC.Munmap(Address + _lostEnd, Size - _lostEnd);
            }
        }

        (_lostStart, _lostEnd) = (keep, Size);
    }

    protected override bool ReleaseHandle()
    {
        MappingRegistry.Remove((nuint)handle); // a mapping never disposed: its addresses no longer answer IsPmem
        if (_lostEnd <= _lostStart)
        {
            return LibC.Munmap((void*)handle, Size) == 0;
        }

        bool before = _lostStart == 0 || LibC.Munmap((void*)handle, _lostStart) == 0;
        bool after = _lostEnd == Size || LibC.Munmap((byte*)handle + _lostEnd, Size - _lostEnd) == 0;
        return before && after;
    }

    /// <summary>Reserves <paramref name="size"/> bytes (PROT_NONE, no swap) starting on a multiple of <paramref name="alignment"/>.</summary>
    public static AddressReservation Reserve(nuint size, nuint alignment, string path)
    {
        nuint total = size + alignment;
        byte* raw = (byte*)LibC.Mmap(null, total, LibC.PROT_NONE, ReserveFlags, -1, 0);
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
