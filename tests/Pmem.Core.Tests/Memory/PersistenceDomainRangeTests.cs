using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed unsafe class PersistenceDomainRangeTests
{
    /// <summary>A domain over managed-owned native memory whose flushes are counted, to test the base class alone.</summary>
    private sealed class CountingDomain(byte* memory, long length) : PersistenceDomain(memory, length)
    {
        public int Flushes;
        public int Drains;
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
}
