using System.Runtime.InteropServices;

namespace Pmem.Memory;

/// <summary>
/// The cache-line flush loops, as a few bytes of x86-64 machine code: .NET has no CLWB/CLFLUSHOPT/CLFLUSH intrinsic,
/// and the engine must not need a native library. The code is written into a private anonymous page while it is
/// read-write, then the page is switched to read-execute; it is never writable and executable at once.
/// </summary>
internal static unsafe class FlushCode
{
    /// <summary>Reason the code is unavailable (null when it is available).</summary>
    public static string? UnavailableReason { get; private set; }

    /// <summary>Writes back every cache line overlapping [address, address + length) with CLWB; null when unavailable.</summary>
    public static delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> Clwb { get; private set; }

    /// <summary>Same with CLFLUSHOPT.</summary>
    public static delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> ClflushOpt { get; private set; }

    /// <summary>Same with CLFLUSH.</summary>
    public static delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> Clflush { get; private set; }

    /// <summary>True when the three loops were emitted.</summary>
    public static bool IsAvailable => Clwb != null;

    static FlushCode() => Emit();

    /// <summary>The loop for one flush instruction (System V ABI: address in RDI, length in RSI).</summary>
    /// <param name="instruction">The flush instruction encoded with operand [RDI].</param>
    internal static byte[] Loop(ReadOnlySpan<byte> instruction)
    {
        // Same loop as libpmem's flush_*_nolog: for (p = addr & ~63; p < addr + len; p += 64) flush(p).
        var code = new List<byte>
        {
            0x48, 0x8D, 0x34, 0x37, // lea rsi, [rdi + rsi]   end = addr + len
            0x48, 0x83, 0xE7, 0xC0, // and rdi, -64           p = addr & ~63
        };
        int loop = code.Count;
        code.AddRange([0x48, 0x39, 0xF7]); // cmp rdi, rsi
        int jaeAt = code.Count;
        code.AddRange([0x73, 0x00]); // jae done (patched below)
        code.AddRange(instruction);
        code.AddRange([0x48, 0x83, 0xC7, 0x40]); // add rdi, 64
        int jmpEnd = code.Count + 2;
        code.AddRange([0xEB, (byte)(sbyte)(loop - jmpEnd)]); // jmp loop
        int done = code.Count;
        code.Add(0xC3); // ret
        code[jaeAt + 1] = (byte)(done - (jaeAt + 2));
        return code.ToArray();
    }

    internal static readonly byte[] ClwbRdi = [0x66, 0x0F, 0xAE, 0x37];        // clwb [rdi]       66 0F AE /6
    internal static readonly byte[] ClflushOptRdi = [0x66, 0x0F, 0xAE, 0x3F];  // clflushopt [rdi] 66 0F AE /7
    internal static readonly byte[] ClflushRdi = [0x0F, 0xAE, 0x3F];           // clflush [rdi]       0F AE /7

    /// <summary>
    /// Copies <paramref name="code"/> into a fresh page and makes it read+execute (never writable at the same time).
    /// Returns null when the OS refuses; <paramref name="error"/> then says why.
    /// </summary>
    internal static byte* MakeExecutable(ReadOnlySpan<byte> code, out string? error)
    {
        error = null;
        nuint page = LibC.PageSize;
        if ((nuint)code.Length > page)
        {
            throw new ArgumentOutOfRangeException(nameof(code), "The code must fit in one page.");
        }

        byte* memory = (byte*)LibC.Mmap(null, page, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
        if (memory == LibC.MAP_FAILED)
        {
            error = $"mmap of a code page failed ({LibC.Describe(Marshal.GetLastPInvokeError())})";
            return null;
        }

        // Unused bytes are INT3, so a stray jump traps instead of running garbage.
        new Span<byte>(memory, (int)page).Fill(0xCC);
        code.CopyTo(new Span<byte>(memory, (int)page));
        if (LibC.Mprotect(memory, page, LibC.PROT_READ | LibC.PROT_EXEC) != 0)
        {
            error = $"mprotect to read+execute was refused ({LibC.Describe(Marshal.GetLastPInvokeError())})";
            LibC.Munmap(memory, page);
            return null;
        }

        return memory;
    }

    private static void Emit()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            UnavailableReason = $"flush instructions need Linux on x86-64 (this is {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture})";
            return;
        }

        // Each loop starts on its own 64-byte boundary of one page.
        byte[] code = new byte[192];
        Loop(ClwbRdi).CopyTo(code, 0);
        Loop(ClflushOptRdi).CopyTo(code, 64);
        Loop(ClflushRdi).CopyTo(code, 128);
        byte* memory = MakeExecutable(code, out string? error);
        if (memory == null)
        {
            UnavailableReason = error;
            return;
        }

        // The page lives as long as the process: the pointers are cached in static readonly fields.
        Clwb = (delegate* unmanaged[SuppressGCTransition]<void*, nuint, void>)memory;
        ClflushOpt = (delegate* unmanaged[SuppressGCTransition]<void*, nuint, void>)(memory + 64);
        Clflush = (delegate* unmanaged[SuppressGCTransition]<void*, nuint, void>)(memory + 128);
    }

    /// <summary>The loop for <paramref name="path"/> (null when the path has no instruction or the code is unavailable).</summary>
    public static delegate* unmanaged[SuppressGCTransition]<void*, nuint, void> For(FlushPath? path) => path switch
    {
        FlushPath.Clwb => Clwb,
        FlushPath.ClflushOpt => ClflushOpt,
        FlushPath.Clflush => Clflush,
        _ => null,
    };
}
