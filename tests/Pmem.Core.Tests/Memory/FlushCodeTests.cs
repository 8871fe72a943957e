using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed unsafe class FlushCodeTests
{
    [Fact]
    public void Clwb_loop_encodes_the_expected_instructions()
    {
        byte[] expected =
        [
            0x48, 0x8D, 0x34, 0x37, 0x48, 0x83, 0xE7, 0xC0, // lea rsi,[rdi+rsi]; and rdi,-64
            0x48, 0x39, 0xF7, 0x73, 0x0A,                   // cmp rdi,rsi; jae +10
            0x66, 0x0F, 0xAE, 0x37,                         // clwb [rdi]
            0x48, 0x83, 0xC7, 0x40, 0xEB, 0xF1,             // add rdi,64; jmp -15
            0xC3,                                           // ret
        ];
        Assert.Equal(expected, FlushCode.Loop(FlushCode.ClwbRdi));
    }

    [Fact]
    public void Clflush_loop_adjusts_its_jumps_for_the_shorter_instruction()
    {
        byte[] loop = FlushCode.Loop(FlushCode.ClflushRdi);
        Assert.Equal(0x09, loop[12]);   // jae over a 3-byte body instruction
        Assert.Equal(0xF2, loop[^2]);   // jmp back to the compare
    }

    /// <summary>The loop with "inc rax" in place of the flush, after "xor eax,eax": it returns how many lines it would flush.</summary>
    private static delegate* unmanaged<void*, nuint, nuint> CountingLoop()
    {
        byte[] code = [0x31, 0xC0, .. FlushCode.Loop([0x48, 0xFF, 0xC0])];
        byte* memory = FlushCode.MakeExecutable(code, out string? error);
        Assert.True(memory != null, error);
        return (delegate* unmanaged<void*, nuint, nuint>)memory;
    }

    [Theory]
    [InlineData(0x1000, 1, 1)]
    [InlineData(0x1000, 64, 1)]
    [InlineData(0x1000, 65, 2)]
    [InlineData(0x103F, 2, 2)]   // straddles a line boundary
    [InlineData(0x1010, 8, 1)]
    [InlineData(0x1000, 4096, 64)]
    [InlineData(0x1001, 4096, 65)]
    [InlineData(0x1000, 0, 0)]
    public void Emitted_loop_visits_every_line_the_range_overlaps(long address, long length, long lines)
    {
        var loop = CountingLoop();
        Assert.Equal((nuint)lines, loop((void*)address, (nuint)length));
    }

    [Fact]
    public void Flushing_real_memory_keeps_its_contents()
    {
        byte[] buffer = new byte[1000];
        Random.Shared.NextBytes(buffer);
        byte[] copy = (byte[])buffer.Clone();
        fixed (byte* p = buffer)
        {
            Pmem.Memory.LibPmem.Persist(p, (nuint)buffer.Length);
            Pmem.Memory.LibPmem.DeepFlush(p, (nuint)buffer.Length);
            // Each instruction only where the CPU has it: an AMD EPYC without CLWB raises SIGILL on it.
            var cpu = CpuFeatures.Current;
            if (FlushCode.IsAvailable && cpu.Clwb)
            {
                FlushCode.Clwb(p, 1000);
            }

            if (FlushCode.IsAvailable && cpu.ClflushOpt)
            {
                FlushCode.ClflushOpt(p, 1000);
            }

            if (FlushCode.IsAvailable && cpu.Clflush)
            {
                FlushCode.Clflush(p, 1000);
            }
        }

        Assert.Equal(copy, buffer);
    }
}
