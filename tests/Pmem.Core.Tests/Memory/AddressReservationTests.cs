using Pmem.Memory;

namespace Pmem.Tests.Memory;

/// <summary>
/// A refused MAP_FIXED mapping into a reservation: Linux may leave a gap where it was, which the reservation takes
/// back at once; a range it cannot take back is never mapped into or unmapped by it again (it may be another mapping's).
/// </summary>
public sealed unsafe class AddressReservationTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("pmem-reservation-");

    public void Dispose() => _directory.Delete(recursive: true);

    private static nuint Page => LibC.PageSize;

    private static bool IsMapped(byte* address, nuint length) => LibC.Msync(address, length, 1 /* MS_ASYNC */) == 0;

    [Fact]
    public void A_refused_mapping_that_left_a_gap_gets_its_range_reserved_again()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var path = Path.Combine(_directory.FullName, "file");
        TestFiles.WriteAllBytes(path, new byte[3 * (int)Page]);
        var fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        using var reservation = AddressReservation.Reserve(3 * Page, Page, path);
        try
        {
            // MAP_SYNC is refused outside DAX; on this kernel the refusal unmaps the range first.
            var refused = reservation.MapFixed(0, 3 * Page, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED_VALIDATE | LibC.MAP_SYNC, fd, 0);
            if (refused == 0)
            {
                return; // a DAX file system: nothing refused
            }

            Assert.Equal(LibC.EOPNOTSUPP, refused);
            Assert.True(IsMapped(reservation.Address, 3 * Page), "the range is not reserved again");
            Assert.Equal(3 * Page, reservation.UsableSize);
            Assert.Equal(0, reservation.MapFixed(0, 3 * Page, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0));
            reservation.Address[5] = 7;
        }
        finally
        {
            LibC.Close(fd);
        }

        Assert.Equal(7, TestFiles.ReadAllBytes(path)[5]);
    }

    [Fact]
    public void A_range_that_cannot_be_reserved_again_is_never_mapped_into_or_unmapped_again()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var reservation = AddressReservation.Reserve(4 * Page, Page, _directory.FullName);
        var address = reservation.Address;

        // A bad descriptor is refused before the range is touched: the old reservation stays, so it cannot be taken
        // back without replacing what is there, which the reservation cannot tell from another mapping.
        Assert.NotEqual(0, reservation.MapFixed(Page, 2 * Page, LibC.PROT_READ, LibC.MAP_SHARED, -1, 0));
        Assert.Equal(Page, reservation.UsableSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => reservation.MapFixed(0, 2 * Page, LibC.PROT_READ, LibC.MAP_SHARED, -1, 0));

        reservation.Dispose();
        Assert.False(IsMapped(address, Page), "the first page was not unmapped");
        Assert.True(IsMapped(address + Page, 2 * Page), "the lost range was unmapped");
        Assert.False(IsMapped(address + (3 * Page), Page), "the last page was not unmapped");
        LibC.Munmap(address + Page, 2 * Page);
    }

    [Fact]
    public void A_released_tail_is_unmapped_at_once_and_the_rest_at_release()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var reservation = AddressReservation.Reserve(4 * Page, Page, _directory.FullName);
        var address = reservation.Address;
        reservation.ReleaseTail(Page);
        Assert.True(IsMapped(address, Page), "the kept page was unmapped");
        Assert.False(IsMapped(address + Page, 3 * Page), "the tail is still mapped");
        Assert.Equal(Page, reservation.UsableSize);

        reservation.Dispose();
        Assert.False(IsMapped(address, Page), "the kept page was not unmapped at release");
    }
}
