using System.Runtime.InteropServices;
using Pmem.Memory;

namespace Pmem.Tests.Memory;

/// <summary>Copy and fill kernels against a reference (Array.Copy / Array.Fill) over a guarded, 64-byte aligned buffer.</summary>
public sealed unsafe class CopyKernelTests
{
    private const int BufferSize = 16384;
    private static readonly int[] Sizes = [1, 2, 15, 63, 64, 65, 127, 128, 191, 255, 256, 257, 511, 1000, 4097];
    private static readonly int[] DestinationMisalignments = [0, 1, 31, 63];
    private static readonly int[] SourceMisalignments = [0, 5];
    private static readonly int[] OverlapDistances = [-200, -64, -7, -1, 1, 7, 64, 200];

    public static TheoryData<string> AvailableKernels()
    {
        var data = new TheoryData<string>();
        var cpu = CpuFeatures.Current;
        if (cpu.Avx512F) data.Add(nameof(VectorKernel.Avx512F));
        if (cpu.Avx2) data.Add(nameof(VectorKernel.Avx2));
        if (cpu.Sse2) data.Add(nameof(VectorKernel.Sse2));
        return data;
    }

    /// <summary>Runs <paramref name="action"/> on native memory and <paramref name="reference"/> on a managed copy, then compares every byte.</summary>
    private static void Check(Action<IntPtr> action, Action<byte[]> reference, string what)
    {
        byte* memory = (byte*)NativeMemory.AlignedAlloc(BufferSize, 64);
        try
        {
            var expected = new byte[BufferSize];
            new Random(BufferSize ^ what.GetHashCode(StringComparison.Ordinal)).NextBytes(expected);
            expected.CopyTo(new Span<byte>(memory, BufferSize));
            action((IntPtr)memory);
            reference(expected);
            var actual = new Span<byte>(memory, BufferSize).ToArray();
            int mismatch = actual.AsSpan().CommonPrefixLength(expected);
            Assert.True(mismatch == BufferSize, $"{what}: first difference at byte {mismatch}");
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    private static IEnumerable<(int Destination, int Source, int Length)> Cases()
    {
        foreach (int length in Sizes)
        {
            foreach (int dm in DestinationMisalignments)
            {
                foreach (int sm in SourceMisalignments)
                {
                    yield return (256 + dm, 8192 + sm, length);          // disjoint, destination below
                    yield return (8192 + dm, 256 + sm, length);          // disjoint, destination above
                    foreach (int distance in OverlapDistances)
                    {
                        yield return (4096 + dm + distance, 4096 + dm + sm, length); // overlapping
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(AvailableKernels))]
    public void Non_temporal_move_matches_memmove_for_every_size_alignment_and_overlap(string kernelName)
    {
        var kernel = Enum.Parse<VectorKernel>(kernelName);
        int checkedCases = 0;
        foreach (var (destination, source, length) in Cases())
        {
            Check(
                m => NonTemporalKernels.Move(kernel, (byte*)m + destination, (byte*)m + source, (nuint)length, flushEdges: true),
                e => Array.Copy(e, source, e, destination, length),
                $"{kernel} move {length} bytes {source} -> {destination}");
            checkedCases++;
        }

        Assert.True(checkedCases > 1000);
    }

    [Theory]
    [MemberData(nameof(AvailableKernels))]
    public void Non_temporal_fill_matches_array_fill_for_every_size_and_alignment(string kernelName)
    {
        var kernel = Enum.Parse<VectorKernel>(kernelName);
        foreach (int length in Sizes)
        {
            foreach (int dm in DestinationMisalignments)
            {
                Check(
                    m => NonTemporalKernels.Fill(kernel, (byte*)m + 256 + dm, 0xA5, (nuint)length, flushEdges: true),
                    e => Array.Fill(e, (byte)0xA5, 256 + dm, length),
                    $"{kernel} fill {length} bytes at {256 + dm}");
            }
        }
    }

    public static TheoryData<int> AllFlagCombinations()
    {
        var data = new TheoryData<int>();
        for (int flags = 0; flags < 64; flags++)
        {
            data.Add(flags);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllFlagCombinations))]
    public void Memmove_with_any_flags_copies_exactly_the_bytes(int flagBits)
    {
        var flags = (PmemCopyFlags)flagBits;
        foreach (int length in (int[])[0, 10, 255, 256, 300, 5000])
        {
            foreach (var (destination, source) in ((int, int)[])[(100, 9000), (9001, 100), (4096 + 33, 4096), (4096, 4096 + 33)])
            {
                Check(
                    m => Assert.Equal(m + destination, (IntPtr)Pmem.Memory.LibPmem.Memmove((byte*)m + destination, (byte*)m + source, (nuint)length, flags)),
                    e => Array.Copy(e, source, e, destination, length),
                    $"memmove {flags} {length} bytes {source} -> {destination}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllFlagCombinations))]
    public void Memset_with_any_flags_sets_exactly_the_bytes(int flagBits)
    {
        var flags = (PmemCopyFlags)flagBits;
        foreach (int length in (int[])[0, 10, 255, 256, 300, 5000])
        {
            Check(
                m => Pmem.Memory.LibPmem.Memset((byte*)m + 77, 0x3C, (nuint)length, flags),
                e => Array.Fill(e, (byte)0x3C, 77, length),
                $"memset {flags} {length} bytes");
        }
    }

    [Fact]
    public void Persist_and_no_drain_variants_copy_and_fill()
    {
        Check(
            m =>
            {
                byte* p = (byte*)m;
                Pmem.Memory.LibPmem.MemcpyPersist(p + 1000, p + 5000, 700);
                Pmem.Memory.LibPmem.MemcpyNoDrain(p + 2000, p + 6000, 70);
                Pmem.Memory.LibPmem.MemmovePersist(p + 3010, p + 3000, 900);
                Pmem.Memory.LibPmem.MemmoveNoDrain(p + 8000, p + 8100, 90);
                Pmem.Memory.LibPmem.MemsetPersist(p + 10000, 1, 1000);
                Pmem.Memory.LibPmem.MemsetNoDrain(p + 12000, 2, 10);
                Pmem.Memory.LibPmem.Memcpy(p + 14000, p + 100, 300, PmemCopyFlags.NonTemporal);
                Pmem.Memory.LibPmem.Drain();
            },
            e =>
            {
                Array.Copy(e, 5000, e, 1000, 700);
                Array.Copy(e, 6000, e, 2000, 70);
                Array.Copy(e, 3000, e, 3010, 900);
                Array.Copy(e, 8100, e, 8000, 90);
                Array.Fill(e, (byte)1, 10000, 1000);
                Array.Fill(e, (byte)2, 12000, 10);
                Array.Copy(e, 100, e, 14000, 300);
            },
            "persist variants");
    }
}
