using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed unsafe class PersistenceDomainRangeTests
{
    /// <summary>
    /// A domain over managed-owned native memory whose own flushes and drains are counted, to test the base class
    /// alone. With <c>engineFlush</c> it declares the engine's flush inline, as HardwareDomain does.
    /// </summary>
    private sealed class CountingDomain : PersistenceDomain
    {
        public int Flushes;
        public int Drains;

        public CountingDomain(byte* memory, long length, bool engineFlush = false)
            : base(memory, length)
        {
            if (engineFlush)
            {
                InlineStoreFlush = InlineFlush.Engine;
            }
        }

        public override FlushPath FlushPath => FlushPath.ProcessCrash;
        public override void Flush(long offset, long length) { CheckRange(offset, length); Flushes++; }
        public override void Drain() => Drains++;
        public override void Copy(long offset, ReadOnlySpan<byte> source, PmemCopyFlags flags = PmemCopyFlags.None) => source.CopyTo(GetSpan(offset, source.Length));
        public override void Fill(long offset, byte value, long length, PmemCopyFlags flags = PmemCopyFlags.None) => GetSpan(offset, (int)length).Fill(value);
        public override void Move(long destinationOffset, long sourceOffset, long length, PmemCopyFlags flags = PmemCopyFlags.None) =>
            GetSpan(sourceOffset, (int)length).CopyTo(GetSpan(destinationOffset, (int)length));
    }

    [Fact]
    public void Write_then_read_round_trips_values_of_every_width()
    {
        var memory = new byte[256];
        fixed (byte* p = memory)
        {
            using var domain = new CountingDomain(p, memory.Length);
            var guid = Guid.NewGuid();
            domain.Write(0, 0x1122334455667788L);
            domain.Write(8, (byte)7);
            domain.Write(16, guid);
            domain.Write(33, 12.5m);
            Assert.Equal(0x1122334455667788L, domain.Read<long>(0));
            Assert.Equal((byte)7, domain.Read<byte>(8));
            Assert.Equal(guid, domain.Read<Guid>(16));
            Assert.Equal(12.5m, domain.Read<decimal>(33));
        }
    }

    [Theory]
    [InlineData(-1L, 1)]
    [InlineData(249L, 8)]
    [InlineData(256L, 1)]
    [InlineData(long.MaxValue, 8)]
    public void Access_outside_the_domain_throws(long offset, int length)
    {
        var memory = new byte[256];
        fixed (byte* p = memory)
        {
            using var domain = new CountingDomain(p, memory.Length);
            Assert.Throws<ArgumentOutOfRangeException>(() => domain.GetSpan(offset, length));
            if (length == 8)
            {
                Assert.Throws<ArgumentOutOfRangeException>(() => domain.Read<long>(offset));
            }
        }
    }

    [Fact]
    public void Persist_is_one_flush_and_one_drain()
    {
        var memory = new byte[128];
        fixed (byte* p = memory)
        {
            using var domain = new CountingDomain(p, memory.Length);
            domain.WriteDurable(64, 5L);
            Assert.Equal((1, 1), (domain.Flushes, domain.Drains));
        }
    }

    [Fact]
    public void A_domain_that_keeps_its_own_flush_gets_it_from_the_inlined_writes()
    {
        // WriteAndFlush / WriteAndPersist inline the engine's flush only for domains that say theirs is the engine's;
        // any other domain (msync, simulation, this one) must still see its own Flush and Drain, once each.
        var memory = new byte[128];
        fixed (byte* p = memory)
        {
            using var domain = new CountingDomain(p, memory.Length);
            domain.WriteAndFlush(8, 3L);
            Assert.Equal((1, 0), (domain.Flushes, domain.Drains));
            domain.WriteAndPersist(64, 4);
            Assert.Equal((2, 1), (domain.Flushes, domain.Drains));
            Assert.Equal((3L, 4), (domain.Read<long>(8), domain.Read<int>(64)));
            Assert.Throws<ArgumentOutOfRangeException>(() => domain.WriteAndFlush(124, 1L));
            Assert.Throws<ArgumentOutOfRangeException>(() => domain.WriteAndPersist(-8, 1L));
            Assert.Equal((2, 1), (domain.Flushes, domain.Drains));
        }
    }

    [Fact]
    public void An_inlined_domain_sends_writes_through_its_observer_while_one_is_installed()
    {
        var memory = new byte[128];
        fixed (byte* p = memory)
        {
            using var domain = new CountingDomain(p, memory.Length, engineFlush: true);
            var observer = new RecordingObserver();
            domain.WriteAndPersist(0, 1L);
            Assert.Equal((0, 0), (domain.Flushes, domain.Drains)); // the inlined path: the engine's flush and drain

            domain.StoreObserver = observer;
            domain.WriteAndFlush(8, 2L);
            domain.WriteAndPersist(16, 3L);
            Assert.Equal([(8L, 8L), (16L, 8L)], observer.Stores);
            Assert.Equal((2, 1), (domain.Flushes, domain.Drains));

            domain.StoreObserver = null;
            domain.WriteAndFlush(24, 4L);
            Assert.Equal(2, observer.Stores.Count);
            Assert.Equal((2, 1), (domain.Flushes, domain.Drains));
            Assert.Equal([1L, 2L, 3L, 4L], [domain.Read<long>(0), domain.Read<long>(8), domain.Read<long>(16), domain.Read<long>(24)]);
        }
    }

    private sealed class RecordingObserver : IStoreObserver
    {
        public List<(long Offset, long Length)> Stores { get; } = [];

        public void OnStore(long offset, long length) => Stores.Add((offset, length));
    }
}
