namespace Pmem.Memory;

/// <summary>The vector instruction set the non-temporal copy and fill kernels use.</summary>
internal enum VectorKernel
{
    /// <summary>No non-temporal kernels: every copy is temporal (<c>PMEM_NO_MOVNT=1</c> or no SSE2).</summary>
    None,

    /// <summary>16-byte <c>movntdq</c> stores.</summary>
    Sse2,

    /// <summary>32-byte <c>vmovntdq</c> stores.</summary>
    Avx2,

    /// <summary>64-byte <c>vmovntdq</c> stores: one store per cache line.</summary>
    Avx512F,
}

/// <summary>
/// What the engine does for flush, drain and copies, decided once from the CPU features, the environment knobs and
/// the platform (libpmem2's <c>pmem2_arch_init</c> plus libpmem's <c>pmem_init</c>). A pure function so tests can
/// check every combination without touching the process.
/// </summary>
/// <param name="FlushPath">How flushes reach the persistence domain.</param>
/// <param name="CacheLineFlush">The instruction the flush loop runs (even when flushes are skipped, for deep flush); null when none can run.</param>
/// <param name="DrainFences">True when drain must execute SFENCE (CLWB and CLFLUSHOPT are weakly ordered; CLFLUSH is not).</param>
/// <param name="Kernel">The non-temporal copy kernel.</param>
/// <param name="MovntThreshold">Copies of at least this many bytes use non-temporal stores by default.</param>
internal sealed record EngineChoice(FlushPath FlushPath, FlushPath? CacheLineFlush, bool DrainFences, VectorKernel Kernel, long MovntThreshold)
{
    /// <summary>Chooses the engine's strategy.</summary>
    /// <param name="cpu">CPU features.</param>
    /// <param name="options">Environment knobs.</param>
    /// <param name="hasAutoFlush">True when the platform has eADR (caches are in the persistence domain).</param>
    /// <param name="flushCodeAvailable">True when the flush instructions could be made executable.</param>
    public static EngineChoice Choose(CpuFeatures cpu, PmemOptions options, bool hasAutoFlush, bool flushCodeAvailable)
    {
        // The strongest instruction that is present and not disabled, as libpmem2 picks: CLWB > CLFLUSHOPT > CLFLUSH.
        FlushPath? line = null;
        if (flushCodeAvailable)
        {
            if (cpu.Clwb && !options.NoClwb)
            {
                line = FlushPath.Clwb;
            }
            else if (cpu.ClflushOpt && !options.NoClflushOpt)
            {
                line = FlushPath.ClflushOpt;
            }
            else if (cpu.Clflush)
            {
                line = FlushPath.Clflush;
            }
        }

        // PMEM_NO_FLUSH=1 never flushes, =0 always flushes, unset follows eADR detection.
        bool skipFlush = options.NoFlush ?? hasAutoFlush;
        FlushPath path = skipFlush ? FlushPath.NoFlushNeeded : line ?? FlushPath.Msync;

        // CLFLUSH is ordered by itself, so drain has nothing to wait for; every other path fences (also to order
        // non-temporal stores and, with eADR, to order stores at all).
        bool fences = path != FlushPath.Clflush;

        // Unlike libpmem, AVX2 is preferred over AVX-512 unless PMEM_AVX512F=1: the JIT's 32-byte non-temporal loop
        // matches native AVX-512 libpmem and its 64-byte loop never beat it (figures in bench/RESULTS.md).
        bool avx2 = cpu.Avx2 && !options.NoAvx;
        bool avx512 = cpu.Avx512F && options.Avx512F != false && (options.Avx512F == true || !avx2);
        VectorKernel kernel = options.NoMovnt ? VectorKernel.None
            : avx512 ? VectorKernel.Avx512F
            : avx2 ? VectorKernel.Avx2
            : cpu.Sse2 ? VectorKernel.Sse2
            : VectorKernel.None;

        return new EngineChoice(path, line, fences, kernel, options.MovntThreshold);
    }

    /// <inheritdoc />
    public override string ToString()
    {
        string flush = FlushPath switch
        {
            FlushPath.Clwb => "flush: CLWB loop (emitted machine code)",
            FlushPath.ClflushOpt => "flush: CLFLUSHOPT loop (emitted machine code)",
            FlushPath.Clflush => "flush: CLFLUSH loop (emitted machine code)",
            FlushPath.NoFlushNeeded => "flush: skipped (eADR or PMEM_NO_FLUSH=1)",
            FlushPath.Msync => "flush: msync of the page-aligned range (flush instructions unavailable)",
            _ => $"flush: {FlushPath}",
        };
        string drain = DrainFences ? "drain: SFENCE" : "drain: none needed (CLFLUSH is ordered)";
        string copy = Kernel == VectorKernel.None
            ? "memcpy: temporal copy + flush only"
            : $"memcpy: {Kernel} non-temporal stores from {MovntThreshold} B, temporal copy + flush below";
        return $"{flush}; {drain}; {copy}";
    }
}
