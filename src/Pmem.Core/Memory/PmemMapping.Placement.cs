// PmemMapping (placement) -- the file's pages placed into the reserved address space: shared (MAP_SYNC when the kernel
// takes it), a private copy for read-only opens, and scratch memory in their place when the mapping is disposed.
using System.Runtime.InteropServices;

namespace Pmem.Memory;

public sealed unsafe partial class PmemMapping
{
    /// <summary>
    /// Maps scratch memory (private, anonymous, reserving no swap) over the mapped range in one step, for
    /// <see cref="Dispose"/>; false when it could not be mapped. Not a private copy of the file: that would hold the
    /// file (its disk space or, on tmpfs, its memory, even once deleted) until this object is collected.
    /// </summary>
    private bool ReplaceWithScratch()
    {
        const int scratch = LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE;
        return _reservation.UsableSize >= _mappedBytes &&
            _reservation.MapFixed(0, _mappedBytes, LibC.PROT_READ | LibC.PROT_WRITE, scratch, -1, 0) == 0;
    }

    /// <summary>Maps the file at the start of the reservation; returns the flags that worked.</summary>
    /// <remarks>
    /// MAP_SYNC is tried first on a mapping the kernel places (and unmapped at once), never over the reservation: the
    /// kernel accepts it only on DAX, and refusing a MAP_FIXED mapping can leave a gap in the reservation that another
    /// thread's mmap takes before the plain mapping is placed over it, which would then replace that thread's memory.
    /// </remarks>
    private static int MapFileInto(AddressReservation reservation, nuint length, int fd, string path)
    {
        const int protection = LibC.PROT_READ | LibC.PROT_WRITE;
        const int syncFlags = LibC.MAP_SHARED_VALIDATE | LibC.MAP_SYNC;
        void* probe = LibC.Mmap(null, length, protection, syncFlags, fd, 0);
        int flags = LibC.MAP_SHARED;
        if (probe != LibC.MAP_FAILED)
        {
            LibC.Munmap(probe, length);
            flags = syncFlags;
        }
        else if (Marshal.GetLastPInvokeError() is int errno and not (LibC.EOPNOTSUPP or LibC.EINVAL))
        {
            throw PmemIOException.FromErrno($"mmap of {length} bytes", path, errno);
        }

        int refused = reservation.MapFixed(0, length, protection, flags, fd, 0);
        if (refused != 0)
        {
            throw PmemIOException.FromErrno($"mmap of {length} bytes", path, refused);
        }

        return flags;
    }

    /// <summary>Maps the file copy-on-write at the start of the reservation (stores stay in this process).</summary>
    private static int MapPrivateInto(AddressReservation reservation, nuint length, int fd, string path)
    {
        int refused = reservation.MapFixed(0, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE, fd, 0);
        if (refused != 0)
        {
            throw PmemIOException.FromErrno($"mmap of {length} bytes", path, refused);
        }

        return LibC.MAP_PRIVATE;
    }
}
