using Pmem.Memory;

namespace Pmem.Tests.Memory;

public sealed class EngineChoiceTests
{
    private static readonly CpuFeatures AllFeatures = new(Clflush: true, ClflushOpt: true, Clwb: true, Sse2: true, Avx2: true, Avx512F: true);

    private static PmemOptions Options(params (string Name, string Value)[] environment)
    {
        var values = environment.ToDictionary(e => e.Name, e => e.Value);
        return PmemOptions.FromLookup(name => values.GetValueOrDefault(name));
    }

    [Fact]
    public void Empty_environment_gives_libpmem_defaults()
    {
        var options = Options();
        Assert.Equal(new PmemOptions(null, false, false, null, false, 256), options);
    }

    [Fact]
    public void Every_knob_is_parsed()
    {
        var options = Options(("PMEM_IS_PMEM_FORCE", "1"), ("PMEM_NO_CLWB", "1"), ("PMEM_NO_CLFLUSHOPT", "1"),
            ("PMEM_NO_FLUSH", "0"), ("PMEM_NO_MOVNT", "1"), ("PMEM_MOVNT_THRESHOLD", "1024"), ("PMEM_AVX512F", "0"), ("PMEM_AVX", "0"));
        Assert.Equal(new PmemOptions(true, true, true, false, true, 1024, Avx512F: false, NoAvx: true), options);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("-5")]
    [InlineData("")]
    public void Malformed_threshold_keeps_the_default(string value) =>
        Assert.Equal(256, Options(("PMEM_MOVNT_THRESHOLD", value)).MovntThreshold);

    [Theory]
    [InlineData("true")]
    [InlineData("2")]
    public void Only_exact_zero_or_one_count_as_switches(string value)
    {
        var options = Options(("PMEM_IS_PMEM_FORCE", value), ("PMEM_NO_CLWB", value), ("PMEM_NO_FLUSH", value));
        Assert.Null(options.IsPmemForce);
        Assert.False(options.NoClwb);
        Assert.Null(options.NoFlush);
    }

    [Fact]
    public void Clwb_is_preferred_when_present()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(), hasAutoFlush: false, flushCodeAvailable: true);
        Assert.Equal(FlushPath.Clwb, choice.FlushPath);
        Assert.True(choice.DrainFences);
        Assert.Equal(VectorKernel.Avx2, choice.Kernel);
    }

    [Fact]
    public void PMEM_AVX512F_1_selects_the_avx512_kernel() =>
        Assert.Equal(VectorKernel.Avx512F, EngineChoice.Choose(AllFeatures, Options(("PMEM_AVX512F", "1")), false, true).Kernel);

    [Fact]
    public void Avx512_is_used_when_avx2_is_disabled() =>
        Assert.Equal(VectorKernel.Avx512F, EngineChoice.Choose(AllFeatures, Options(("PMEM_AVX", "0")), false, true).Kernel);

    [Fact]
    public void PMEM_NO_CLWB_falls_back_to_clflushopt()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(("PMEM_NO_CLWB", "1")), false, true);
        Assert.Equal(FlushPath.ClflushOpt, choice.FlushPath);
        Assert.True(choice.DrainFences);
    }

    [Fact]
    public void Disabling_clwb_and_clflushopt_falls_back_to_clflush_whose_drain_needs_no_fence()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(("PMEM_NO_CLWB", "1"), ("PMEM_NO_CLFLUSHOPT", "1")), false, true);
        Assert.Equal(FlushPath.Clflush, choice.FlushPath);
        Assert.False(choice.DrainFences);
    }

    [Fact]
    public void Cpu_with_only_clflush_uses_clflush()
    {
        var cpu = new CpuFeatures(Clflush: true, ClflushOpt: false, Clwb: false, Sse2: true, Avx2: false, Avx512F: false);
        var choice = EngineChoice.Choose(cpu, Options(), false, true);
        Assert.Equal(FlushPath.Clflush, choice.FlushPath);
        Assert.Equal(VectorKernel.Sse2, choice.Kernel);
    }

    [Fact]
    public void Auto_flush_skips_flushes_but_keeps_the_fence()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(), hasAutoFlush: true, flushCodeAvailable: true);
        Assert.Equal(FlushPath.NoFlushNeeded, choice.FlushPath);
        Assert.True(choice.DrainFences);
        Assert.Equal(FlushPath.Clwb, choice.CacheLineFlush);
    }

    [Fact]
    public void PMEM_NO_FLUSH_0_flushes_even_with_auto_flush()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(("PMEM_NO_FLUSH", "0")), hasAutoFlush: true, flushCodeAvailable: true);
        Assert.Equal(FlushPath.Clwb, choice.FlushPath);
    }

    [Fact]
    public void PMEM_NO_FLUSH_1_skips_flushes_without_auto_flush()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(("PMEM_NO_FLUSH", "1")), hasAutoFlush: false, flushCodeAvailable: true);
        Assert.Equal(FlushPath.NoFlushNeeded, choice.FlushPath);
    }

    [Fact]
    public void Unavailable_flush_code_falls_back_to_msync()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(), hasAutoFlush: false, flushCodeAvailable: false);
        Assert.Equal(FlushPath.Msync, choice.FlushPath);
        Assert.Null(choice.CacheLineFlush);
        Assert.Contains("msync", choice.ToString());
    }

    [Fact]
    public void PMEM_NO_MOVNT_disables_the_non_temporal_kernels()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(("PMEM_NO_MOVNT", "1")), false, true);
        Assert.Equal(VectorKernel.None, choice.Kernel);
    }

    [Fact]
    public void PMEM_AVX512F_0_and_PMEM_AVX_0_step_down_the_kernel()
    {
        Assert.Equal(VectorKernel.Avx2, EngineChoice.Choose(AllFeatures, Options(("PMEM_AVX512F", "0")), false, true).Kernel);
        Assert.Equal(VectorKernel.Sse2, EngineChoice.Choose(AllFeatures, Options(("PMEM_AVX512F", "0"), ("PMEM_AVX", "0")), false, true).Kernel);
    }

    [Fact]
    public void Threshold_from_the_environment_is_used()
    {
        var choice = EngineChoice.Choose(AllFeatures, Options(("PMEM_MOVNT_THRESHOLD", "4096")), false, true);
        Assert.Equal(4096, choice.MovntThreshold);
    }

    [Fact]
    public void This_machine_runs_a_real_flush_instruction_when_the_cpu_has_one()
    {
        // The engine must execute the flush instruction itself; falling back silently would hide a broken emitter.
        Assert.True(FlushCode.IsAvailable, FlushCode.UnavailableReason);
        var cpu = CpuFeatures.Current;
        FlushPath expected = cpu.Clwb ? FlushPath.Clwb : cpu.ClflushOpt ? FlushPath.ClflushOpt : FlushPath.Clflush;
        Assert.Equal(expected, Pmem.Memory.LibPmem.ActiveChoice.CacheLineFlush);
        Assert.Contains(cpu.Clwb ? "CLWB" : cpu.ClflushOpt ? "CLFLUSHOPT" : "CLFLUSH", Pmem.Memory.LibPmem.Description);
    }

    [Fact]
    public void Has_hw_drain_is_false_on_x86_as_in_libpmem() => Assert.False(Pmem.Memory.LibPmem.HasHwDrain);
}
