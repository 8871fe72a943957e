namespace Pmem.Memory;

/// <summary>
/// The libpmem environment knobs, read once at start-up. Built from a lookup function so tests can inject values
/// instead of changing the process environment.
/// </summary>
/// <param name="IsPmemForce"><c>PMEM_IS_PMEM_FORCE</c>: null = decide per mapping, true/false = force every answer.</param>
/// <param name="NoClwb"><c>PMEM_NO_CLWB=1</c>: do not use CLWB even if the CPU has it.</param>
/// <param name="NoClflushOpt"><c>PMEM_NO_CLFLUSHOPT=1</c>: do not use CLFLUSHOPT even if the CPU has it.</param>
/// <param name="NoFlush"><c>PMEM_NO_FLUSH</c>: null = decide by eADR, true = never flush, false = always flush.</param>
/// <param name="NoMovnt"><c>PMEM_NO_MOVNT=1</c>: never use non-temporal stores for copies.</param>
/// <param name="MovntThreshold"><c>PMEM_MOVNT_THRESHOLD</c>: copies of at least this many bytes use non-temporal stores.</param>
/// <param name="Avx512F"><c>PMEM_AVX512F</c>: null = engine default (AVX2 preferred, see <see cref="EngineChoice"/>), true = use AVX-512 when present, false = never.</param>
/// <param name="NoAvx"><c>PMEM_AVX=0</c>: do not use the AVX2 copy kernels.</param>
internal sealed record PmemOptions(
    bool? IsPmemForce,
    bool NoClwb,
    bool NoClflushOpt,
    bool? NoFlush,
    bool NoMovnt,
    long MovntThreshold,
    bool? Avx512F = null,
    bool NoAvx = false)
{
    /// <summary>libpmem's default non-temporal threshold.</summary>
    public const long DefaultMovntThreshold = 256;

    /// <summary>The options of the running process (read once).</summary>
    public static PmemOptions Current { get; } = FromLookup(Environment.GetEnvironmentVariable);

    /// <summary>Parses the knobs as libpmem does: only the exact strings "0" and "1" count; anything else is ignored.</summary>
    public static PmemOptions FromLookup(Func<string, string?> lookup)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        return new PmemOptions(
            IsPmemForce: ZeroOrOne(lookup("PMEM_IS_PMEM_FORCE")),
            NoClwb: lookup("PMEM_NO_CLWB") == "1",
            NoClflushOpt: lookup("PMEM_NO_CLFLUSHOPT") == "1",
            NoFlush: ZeroOrOne(lookup("PMEM_NO_FLUSH")),
            NoMovnt: lookup("PMEM_NO_MOVNT") == "1",
            MovntThreshold: ParseThreshold(lookup("PMEM_MOVNT_THRESHOLD")),
            Avx512F: ZeroOrOne(lookup("PMEM_AVX512F")),
            NoAvx: lookup("PMEM_AVX") == "0");
    }

    private static bool? ZeroOrOne(string? value) => value switch
    {
        "1" => true,
        "0" => false,
        _ => null,
    };

    // libpmem ignores a threshold that is not a non-negative decimal number.
    private static long ParseThreshold(string? value) =>
        long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long threshold)
            ? threshold
            : DefaultMovntThreshold;
}
