// PmemMapping -- a file mapped for persistent-memory programming (pmem_map_file): the mapping's life from open flags
// through huge-page alignment, growth, locking and unmapping. Opening, creating and sizing the file and probing Device
// DAX are in PmemMapping.Files.cs; placing its pages in the reserved address space in PmemMapping.Placement.cs.
using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>
/// A file mapped into memory for persistent-memory programming (libpmem's <c>pmem_map_file</c> / <c>pmem_unmap</c>).
/// </summary>
/// <remarks>
/// <para>
/// The mapping is tried first with <c>MAP_SHARED_VALIDATE | MAP_SYNC</c>, which the kernel accepts only on a DAX file
/// system: that is what makes <see cref="IsPmem"/> true, as in libpmem. A Device DAX character device
/// (<c>/dev/daxN.M</c>) is always persistent memory. <c>PMEM_IS_PMEM_FORCE=1</c> (or <c>0</c>) overrides the answer.
/// </para>
/// <para>
/// The mapping reserves address space up front (at least <see cref="Length"/>, more when a reserve is asked for) and
/// aligns it for huge pages when it is large, so <see cref="Extend"/> grows the file in place: the base address never
/// moves. The file descriptor stays open for the life of the mapping, which is what holds the
/// <see cref="TryLockExclusive"/> lock.
/// </para>
/// </remarks>
public sealed unsafe partial class PmemMapping : IDisposable
{
    private const long TwoMiB = 2L << 20, OneGiB = 1L << 30;

    private readonly object _gate = new();
    private readonly FileDescriptorHandle _file;
    private readonly AddressReservation _reservation;
    private readonly bool _sparse;
    private readonly int _mapFlags;
    private long _length;
    private nuint _mappedBytes;
    private bool _disposed;
    private (uint, uint, ulong)? _lockedFile; // see FileLockHolders.Held

    private PmemMapping(string path, FileDescriptorHandle file, AddressReservation reservation, long length, nuint mappedBytes,
        bool isPmem, bool isDeviceDax, bool sparse, int mapFlags)
    {
        Path = path;
        _file = file;
        _reservation = reservation;
        _length = length;
        _mappedBytes = mappedBytes;
        IsPmem = isPmem;
        IsDeviceDax = isDeviceDax;
        _sparse = sparse;
        _mapFlags = mapFlags;
    }

    /// <summary>The path given to <see cref="Map"/> (the directory for <see cref="MapFlags.TempFile"/>), or the one it was renamed to.</summary>
    public string Path { get; private set; }

    /// <summary>Records that the mapped file was renamed to <paramref name="path"/> (a pool created under a hidden name).</summary>
    internal void Renamed(string path) => Path = path;

    /// <summary>Mapped length in bytes.</summary>
    public long Length => Volatile.Read(ref _length);

    /// <summary>Bytes of address space reserved at <see cref="Address"/>; <see cref="Extend"/> can grow up to this.</summary>
    public long ReservedLength => (long)_reservation.Size;

    /// <summary>True when the mapping is persistent memory (DAX with MAP_SYNC, Device DAX, or <c>PMEM_IS_PMEM_FORCE=1</c>).</summary>
    public bool IsPmem { get; }

    /// <summary>True when the path is a Device DAX character device.</summary>
    public bool IsDeviceDax { get; }

    /// <summary>The first mapped byte; valid until <see cref="Dispose"/>.</summary>
    /// <exception cref="ObjectDisposedException">The mapping was disposed.</exception>
    public void* Address
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _reservation.Address;
        }
    }

    /// <summary>A span over <paramref name="length"/> bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is outside the mapping.</exception>
    public Span<byte> GetSpan(long offset, int length)
    {
        if ((ulong)offset > (ulong)Length || (ulong)length > (ulong)(Length - offset))
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range [{offset}, {offset}+{length}) is outside the mapping of {Length} bytes.");
        }

        return new Span<byte>((byte*)Address + offset, length);
    }

    /// <summary>Maps a file (<c>pmem_map_file</c>).</summary>
    /// <param name="path">The file, a Device DAX device, or (with <see cref="MapFlags.TempFile"/>) a directory.</param>
    /// <param name="length">
    /// Bytes to map. Without <see cref="MapFlags.Create"/>, 0 maps the whole file and a positive length maps that
    /// prefix (it must not exceed the file). With <see cref="MapFlags.Create"/> or <see cref="MapFlags.TempFile"/> it
    /// must be positive and the file is set to exactly that size (an existing larger file is truncated, as libpmem does).
    /// </param>
    /// <param name="flags">Create, exclusive, sparse and temporary-file options.</param>
    /// <param name="mode">Permissions of a created file (default 0644).</param>
    /// <param name="reserve">Bytes of address space to reserve so the mapping can grow in place; 0 = just the length.</param>
    /// <returns>The mapping; dispose it to unmap and close the file.</returns>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative length or reserve, a zero length with Create/TempFile, or a reserve below the length.</exception>
    /// <exception cref="ArgumentException">An empty path, or Exclusive without Create.</exception>
    /// <exception cref="PmemFileNotFoundException">The file (or directory) does not exist and Create was not given.</exception>
    /// <exception cref="PmemFileExistsException">Exclusive and Create were given and the file exists.</exception>
    /// <exception cref="PmemAccessDeniedException">The file cannot be opened for writing (permissions, read-only file system).</exception>
    /// <exception cref="PmemIOException">
    /// Any other failure, with the OS error: the path is a directory (EISDIR) or not a regular file or Device DAX,
    /// the file is empty, the length exceeds the file without Create, allocation (ENOSPC) or mmap failed.
    /// A file created by this call is deleted again when a later step fails.
    /// </exception>
    public static PmemMapping Map(string path, long length = 0, MapFlags flags = MapFlags.None,
        UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        long reserve = 0) =>
        MapWithOptions(path, length, flags, mode, reserve, PmemOptions.Current);

    /// <summary><see cref="Map(string, long, MapFlags, UnixFileMode, long)"/> with injected knobs (tests).</summary>
    internal static PmemMapping MapWithOptions(string path, long length, MapFlags flags, UnixFileMode mode, long reserve, PmemOptions options)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("PmemMapping needs Linux (mmap, MAP_SYNC, flock).");
        }

        FileSizeSignal.Ignore(); // a growth past `ulimit -f` fails with EFBIG instead of ending the process
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegative(reserve);
        bool tempFile = (flags & MapFlags.TempFile) != 0;
        bool create = tempFile || (flags & MapFlags.Create) != 0;
        if ((flags & MapFlags.Exclusive) != 0 && !create)
        {
            throw new ArgumentException("MapFlags.Exclusive needs MapFlags.Create.", nameof(flags));
        }

        bool privateCopy = (flags & MapFlags.PrivateCopy) != 0;
        if (privateCopy && create)
        {
            throw new ArgumentException("MapFlags.PrivateCopy maps an existing file: not with Create or TempFile.", nameof(flags));
        }

        if (create && length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Creating '{path}' needs a positive length.");
        }

        if (reserve != 0 && reserve < length)
        {
            throw new ArgumentOutOfRangeException(nameof(reserve), reserve, $"The reserve must be at least the length ({length}).");
        }

        string? createdPath = null;
        FileDescriptorHandle? file = null;
        AddressReservation? reservation = null;
        try
        {
            file = tempFile ? OpenTempFile(path, mode) : OpenFile(path, flags, mode, out createdPath);
            int fd = file.Fd;
            if (LibC.FileStatus(fd, out LibC.FileInfo info) != 0)
            {
                throw PmemIOException.FromErrno("fstat", path, Marshal.GetLastPInvokeError());
            }

            uint type = info.Mode & LibC.S_IFMT;
            bool deviceDax = false;
            long fileSize = info.Size;
            string? deepFlushFile = null;
            if (type == LibC.S_IFCHR)
            {
                (deviceDax, fileSize, deepFlushFile) = ProbeDeviceDax(path, info.RDev);
                if (!deviceDax)
                {
                    throw new PmemIOException($"'{path}' is a character device but not Device DAX.", path, LibC.EINVAL);
                }
            }
            else if (type == LibC.S_IFDIR)
            {
                throw new PmemIOException($"'{path}' is a directory ({LibC.Describe(LibC.EISDIR)}).", path, LibC.EISDIR);
            }
            else if (type != LibC.S_IFREG)
            {
                throw new PmemIOException($"'{path}' is not a regular file or Device DAX.", path, LibC.EINVAL);
            }

            if (create && !deviceDax)
            {
                SetFileSize(fd, path, fileSize, length, (flags & MapFlags.Sparse) != 0);
            }
            else if (length == 0)
            {
                if (fileSize == 0)
                {
                    throw new PmemIOException($"'{path}' is empty; nothing to map (give a length and MapFlags.Create to size it).", path, LibC.EINVAL);
                }

                length = fileSize;
            }
            else if (length > fileSize)
            {
                throw new PmemIOException(
                    $"'{path}' is {fileSize} bytes, shorter than the requested length {length}; pass MapFlags.Create to grow it.", path, LibC.EINVAL);
            }

            nuint page = LibC.PageSize;
            nuint mapped = RoundUp((nuint)length, page);
            nuint reserved = RoundUp((nuint)Math.Max(reserve, length), page);
            nuint alignment = AlignmentFor((long)reserved, deviceDax);
            reservation = AddressReservation.Reserve(reserved, alignment, path);

            int mapFlags = privateCopy ? MapPrivateInto(reservation, mapped, fd, path) : MapFileInto(reservation, mapped, fd, path);
            bool syncMapped = (mapFlags & LibC.MAP_SYNC) != 0;
            bool isPmem = !privateCopy && (options.IsPmemForce ?? (deviceDax || syncMapped));

            var mapping = new PmemMapping(path, file, reservation, length, mapped, isPmem, deviceDax, (flags & MapFlags.Sparse) != 0, mapFlags);
            MappingRegistry.Add((nuint)reservation.Address, (nuint)reservation.Address + mapped, isPmem, deepFlushFile);
            return mapping;
        }
        catch
        {
            reservation?.Dispose();
            file?.Dispose();
            if (createdPath is not null)
            {
                LibC.Unlink(createdPath);
            }

            throw;
        }
    }

    /// <summary>
    /// Grows the file and the mapping to <paramref name="newLength"/> bytes inside the reserved address space; the base
    /// address and the data already mapped stay where they are. A length equal to the current one does nothing.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The new length is smaller than the current one or larger than <see cref="ReservedLength"/>.</exception>
    /// <exception cref="NotSupportedException">The mapping is Device DAX, whose size is fixed.</exception>
    /// <exception cref="PmemIOException">Growing the file or mapping the extension failed; the file keeps its old size.</exception>
    /// <exception cref="ObjectDisposedException">The mapping was disposed.</exception>
    public void Extend(long newLength)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            long oldLength = _length;
            if (newLength == oldLength)
            {
                return;
            }

            ArgumentOutOfRangeException.ThrowIfLessThan(newLength, oldLength);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(newLength, ReservedLength);
            if (IsDeviceDax)
            {
                throw new NotSupportedException($"Device DAX '{Path}' has a fixed size and cannot be extended.");
            }

            if (IsPrivateCopy)
            {
                throw new NotSupportedException($"'{Path}' is mapped as a private copy (read-only file) and cannot be extended.");
            }

            int fd = _file.Fd;
            if (LibC.FileStatus(fd, out LibC.FileInfo info) != 0)
            {
                throw PmemIOException.FromErrno("fstat", Path, Marshal.GetLastPInvokeError());
            }

            bool grewFile = false;
            nuint newMapped = RoundUp((nuint)newLength, LibC.PageSize);
            if (newMapped > _reservation.UsableSize)
            {
                throw new PmemIOException($"'{Path}' cannot be extended to {newLength} bytes in this process: an earlier extension's mmap failed and its address range may now be another mapping's.", Path, LibC.ENOMEM);
            }

            try
            {
                if (info.Size < newLength)
                {
                    grewFile = true; // from the ftruncate on: a failed posix_fallocate (a full disk) gives the size back too
                    SetFileSize(fd, Path, info.Size, newLength, _sparse);
                }

                if (newMapped > _mappedBytes)
                {
                    // Map the extension over the PROT_NONE reservation with the same flags as the first part.
                    int errno = _reservation.MapFixed(_mappedBytes, newMapped - _mappedBytes, LibC.PROT_READ | LibC.PROT_WRITE, _mapFlags, fd, (long)_mappedBytes);
                    if (errno != 0)
                    {
                        throw PmemIOException.FromErrno($"mmap of the extension to {newLength} bytes", Path, errno);
                    }
                }
            }
            catch
            {
                if (grewFile)
                {
                    LibC.Ftruncate(fd, info.Size);
                }

                throw;
            }

            _mappedBytes = newMapped;
            MappingRegistry.Add((nuint)_reservation.Address, (nuint)_reservation.Address + newMapped, IsPmem, MappingRegistry.DeepFlushFileFor((nuint)_reservation.Address));
            Volatile.Write(ref _length, newLength);
        }
    }

    /// <summary>True when the file is mapped copy-on-write and opened read-only (<see cref="MapFlags.PrivateCopy"/>).</summary>
    public bool IsPrivateCopy => _mapFlags == LibC.MAP_PRIVATE;

    /// <summary>
    /// Takes a shared advisory lock on the file (<c>flock(LOCK_SH | LOCK_NB)</c>) held until <see cref="Dispose"/>:
    /// other shared holders may read beside it, an exclusive opener is refused while it is held.
    /// </summary>
    /// <returns>True when the lock was taken; false when an exclusive opener holds it.</returns>
    /// <exception cref="PmemIOException">flock failed for another reason.</exception>
    public bool TryLockShared() => TryLock(LibC.LOCK_SH);

    /// <summary>
    /// Takes an exclusive advisory lock on the file (<c>flock(LOCK_EX | LOCK_NB)</c>) held until <see cref="Dispose"/>.
    /// Locks belong to the open file, so a second mapping of the same file is refused even in the same process.
    /// </summary>
    /// <returns>True when the lock was taken (or is already held by this mapping); false when another opener holds it.</returns>
    /// <exception cref="PmemIOException">flock failed for another reason.</exception>
    public bool TryLockExclusive() => TryLock(LibC.LOCK_EX);

    private bool TryLock(int kind)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // A pool this process just closed may stay locked for a moment by a child another thread is starting: it
        // holds the descriptor from fork to exec. Only such a lock is waited for, briefly; any other refuses at once.
        return FileLockHolders.TryLockPastForkedCopies(
            () =>
            {
                if (LibC.Flock(_file.Fd, kind | LibC.LOCK_NB) == 0)
                {
                    _lockedFile ??= FileLockHolders.Held(_file.Fd);
                    return true;
                }

                int errno = Marshal.GetLastPInvokeError();
                return errno == LibC.EWOULDBLOCK ? false : throw PmemIOException.FromErrno("flock", Path, errno);
            },
            () => FileLockHolders.MayBeForkedCopy(_file.Fd));
    }

    /// <summary>
    /// Wraps this mapping in a persistence domain that owns it (disposing the domain unmaps the file).
    /// <see cref="DurabilityMode.PowerFailure"/> gives a <see cref="HardwareDomain"/> on persistent memory and an
    /// <see cref="MsyncDomain"/> otherwise; <see cref="DurabilityMode.ProcessCrash"/> gives a <see cref="ProcessCrashDomain"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Unknown mode.</exception>
    public MappedDomain CreateDomain(DurabilityMode mode) => mode switch
    {
        DurabilityMode.PowerFailure when IsPmem => new HardwareDomain(this),
        DurabilityMode.PowerFailure => new MsyncDomain(this),
        DurabilityMode.ProcessCrash => new ProcessCrashDomain(this),
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown durability mode."),
    };

    /// <summary>Unmaps the file, releases the lock and closes the file (<c>pmem_unmap</c>).</summary>
    /// <remarks>
    /// The file's pages are replaced in one step by scratch memory, and that address range is given back only when
    /// this object is collected: a load or store another thread makes into the mapping just as it is disposed (one
    /// that passed its range check before) reads zeroes or lands in the scratch memory, instead of faulting, which
    /// would end the process, or reaching a file another process may have opened since.
    /// </remarks>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            MappingRegistry.Remove((nuint)_reservation.Address);
            if (ReplaceWithScratch())
            {
                _reservation.ReleaseTail(_mappedBytes); // room to grow is not kept until then: only what an access can reach
            }
            else
            {
                _reservation.Dispose(); // no memory for it (ENOMEM): the file's pages at least must go now
            }

            _file.Dispose();
            if (_lockedFile is { } locked)
            {
                FileLockHolders.Released(locked);
            }
        }
    }

    /// <summary>Huge-page alignment as libpmem's util_map_hint: 1 GiB pages for very large mappings, 2 MiB for large ones.</summary>
    private static nuint AlignmentFor(long size, bool deviceDax)
    {
        if (size >= 2 * OneGiB)
        {
            return (nuint)OneGiB;
        }

        return size >= TwoMiB || deviceDax ? (nuint)TwoMiB : LibC.PageSize;
    }

    private static nuint RoundUp(nuint value, nuint alignment) => (value + alignment - 1) & ~(alignment - 1);
}
