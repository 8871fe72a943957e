using System.Runtime.Intrinsics.X86;

namespace Pmem.Memory;

/// <summary>The CPU features the engine chooses its kernels by, read once with CPUID (libpmem2's cpu.c).</summary>
internal readonly record struct CpuFeatures(bool Clflush, bool ClflushOpt, bool Clwb, bool Sse2, bool Avx2, bool Avx512F)
{
    /// <summary>Features of the running CPU (all false off x86).</summary>
    public static CpuFeatures Current { get; } = Detect();

    private static CpuFeatures Detect()
    {
        if (!X86Base.IsSupported)
        {
            return default;
        }

        // Leaf 1 EDX bit 19 = CLFLUSH. Leaf 7 (subleaf 0) EBX bit 23 = CLFLUSHOPT, bit 24 = CLWB.
        (_, _, _, int edx1) = X86Base.CpuId(1, 0);
        (int maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        int ebx7 = 0;
        if (maxLeaf >= 7)
        {
            (_, ebx7, _, _) = X86Base.CpuId(7, 0);
        }

        // The vector ISAs also need OS support for their register state, which the runtime's IsSupported checks.
        return new CpuFeatures(
            Clflush: (edx1 & (1 << 19)) != 0,
            ClflushOpt: (ebx7 & (1 << 23)) != 0,
            Clwb: (ebx7 & (1 << 24)) != 0,
            Sse2: System.Runtime.Intrinsics.X86.Sse2.IsSupported,
            Avx2: System.Runtime.Intrinsics.X86.Avx2.IsSupported,
            Avx512F: System.Runtime.Intrinsics.X86.Avx512F.IsSupported);
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var names = new List<string>();
        if (Clwb) names.Add("clwb");
        if (ClflushOpt) names.Add("clflushopt");
        if (Clflush) names.Add("clflush");
        if (Avx512F) names.Add("avx512f");
        if (Avx2) names.Add("avx2");
        if (Sse2) names.Add("sse2");
        return names.Count == 0 ? "none" : string.Join(' ', names);
    }
}
