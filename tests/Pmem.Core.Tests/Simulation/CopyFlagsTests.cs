using Pmem.Memory;
using Pmem.Memory.Simulation;
using static Pmem.Tests.Simulation.CrashOutcomes;

namespace Pmem.Tests.Simulation;

/// <summary>Copy, Fill and Move follow libpmem's flags: durable on return, flushed only (NoDrain), or stored only (NoFlush).</summary>
public sealed class CopyFlagsTests
{
    private const int Destination = 128;
    private const int Size = 200; // spans four lines, partial at both ends
    private const byte Pattern = 0xA5;

    public enum Operation { Copy, Fill, Move }

    /// <summary>Writes <see cref="Size"/> bytes of <see cref="Pattern"/> at <see cref="Destination"/> with the operation.</summary>
    private static void Store(SimulatedDomain domain, Operation operation, PmemCopyFlags flags)
    {
        switch (operation)
        {
            case Operation.Copy:
                domain.Copy(Destination, Enumerable.Repeat(Pattern, Size).ToArray(), flags);
                break;
            case Operation.Fill:
                domain.Fill(Destination, Pattern, Size, flags);
                break;
            default:
                domain.Fill(2048, Pattern, Size); // durable source, so only the move is pending
                domain.Move(Destination, 2048, Size, flags);
                break;
        }
    }

    private static bool Stored(byte[] image) => image.AsSpan(Destination, Size).IndexOfAnyExcept(Pattern) < 0;

    private static bool Absent(byte[] image) => image.AsSpan(Destination, Size).IndexOfAnyExcept((byte)0) < 0;

    [Theory]
    [InlineData(Operation.Copy, PmemCopyFlags.None)]
    [InlineData(Operation.Copy, PmemCopyFlags.NonTemporal)]
    [InlineData(Operation.Copy, PmemCopyFlags.Temporal)]
    [InlineData(Operation.Fill, PmemCopyFlags.None)]
    [InlineData(Operation.Move, PmemCopyFlags.WriteCombining)]
    public void Without_NoDrain_or_NoFlush_the_data_is_durable_on_return(Operation operation, PmemCopyFlags flags)
    {
        using var domain = new SimulatedDomain(4096);
        Store(domain, operation, flags);

        Assert.Empty(domain.CheckPersistence());
        Assert.All(Images(domain), image => Assert.True(Stored(image)));
    }

    [Theory]
    [InlineData(Operation.Copy, PmemCopyFlags.NoDrain)]
    [InlineData(Operation.Copy, PmemCopyFlags.NoDrain | PmemCopyFlags.NonTemporal)]
    [InlineData(Operation.Fill, PmemCopyFlags.NoDrain)]
    [InlineData(Operation.Move, PmemCopyFlags.NoDrain | PmemCopyFlags.WriteBack)]
    public void With_NoDrain_the_data_is_in_flight_until_the_next_drain(Operation operation, PmemCopyFlags flags)
    {
        using var domain = new SimulatedDomain(4096);
        Store(domain, operation, flags);

        Assert.Equal([PersistenceIssueKind.FlushedNotDrained], domain.CheckPersistence().Select(issue => issue.Kind));
        Assert.Contains(RandomImages(domain), Absent);
        Assert.Contains(RandomImages(domain), Stored);

        domain.Drain();
        Assert.Empty(domain.CheckPersistence());
        Assert.All(Images(domain), image => Assert.True(Stored(image)));
    }

    [Theory]
    [InlineData(Operation.Copy)]
    [InlineData(Operation.Fill)]
    [InlineData(Operation.Move)]
    public void With_NoFlush_the_data_is_only_stored_and_a_drain_does_not_persist_it(Operation operation)
    {
        using var domain = new SimulatedDomain(4096);
        Store(domain, operation, PmemCopyFlags.NoFlush);
        domain.Drain();

        Assert.Equal([PersistenceIssueKind.NotFlushed], domain.CheckPersistence().Select(issue => issue.Kind));
        Assert.Contains(RandomImages(domain), Absent);
        Assert.Contains(RandomImages(domain), Stored);
    }

    [Fact]
    public void Move_copies_overlapping_ranges_as_if_through_a_buffer()
    {
        using var domain = new SimulatedDomain(4096);
        for (int i = 0; i < 100; i++)
        {
            domain.Write(i, (byte)i);
        }

        domain.Move(10, 0, 100);

        Assert.Equal(Enumerable.Range(0, 100).Select(i => (byte)i), domain.GetSpan(10, 100).ToArray());
        Assert.Equal(domain.CrashAllPersisted().AsSpan(10, 100).ToArray(), domain.CrashNonePersisted().AsSpan(10, 100).ToArray());
    }
}
