using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Pmem.Memory;

/// <summary>
/// Non-temporal copy and fill kernels (libpmem2's memcpy_nt_*.h / memset_nt_*.h). Whole destination cache lines are
/// written with non-temporal stores, which bypass the cache and need no flush, only a fence; the partial lines at the
/// head and the tail are written with ordinary stores and flushed.
/// </summary>
/// <remarks>The caller has ruled out a zero length and chosen the kernel once at start-up.</remarks>
internal static unsafe class NonTemporalKernels
{
    private const int Line = 64;

    /// <summary>memmove with non-temporal stores for the whole lines; overlapping ranges are copied backwards when needed.</summary>
    /// <param name="kernel">The vector width to store with.</param>
    /// <param name="destination">First destination byte.</param>
    /// <param name="source">First source byte.</param>
    /// <param name="length">Bytes to copy (not zero).</param>
    /// <param name="flushEdges">Flush the temporally written partial head and tail lines (false with eADR).</param>
    public static void Move(VectorKernel kernel, byte* destination, byte* source, nuint length, bool flushEdges)
    {
        if (destination > source && destination < source + length)
        {
            MoveBackward(kernel, destination, source, length, flushEdges);
            return;
        }

        nuint head = (nuint)(-(nint)destination) & (Line - 1);
        if (head > length)
        {
            head = length;
        }

        if (head != 0)
        {
            CopyTemporal(destination, source, head, flushEdges);
            destination += head;
            source += head;
            length -= head;
        }

        nuint lines = length / Line;
        switch (kernel)
        {
            case VectorKernel.Avx512F: ForwardLines512(destination, source, lines); break;
            case VectorKernel.Avx2: ForwardLines256(destination, source, lines); break;
            default: ForwardLines128(destination, source, lines); break;
        }

        nuint body = lines * Line;
        nuint tail = length - body;
        if (tail != 0)
        {
            CopyTemporal(destination + body, source + body, tail, flushEdges);
        }
    }

    private static void MoveBackward(VectorKernel kernel, byte* destination, byte* source, nuint length, bool flushEdges)
    {
        // Highest bytes first, so no source byte is overwritten before it is read.
        byte* destinationEnd = destination + length;
        byte* sourceEnd = source + length;
        nuint tail = (nuint)destinationEnd & (Line - 1);
        if (tail > length)
        {
            tail = length;
        }

        if (tail != 0)
        {
            destinationEnd -= tail;
            sourceEnd -= tail;
            CopyTemporal(destinationEnd, sourceEnd, tail, flushEdges);
            length -= tail;
        }

        nuint lines = length / Line;
        switch (kernel)
        {
            case VectorKernel.Avx512F: BackwardLines512(destinationEnd, sourceEnd, lines); break;
            case VectorKernel.Avx2: BackwardLines256(destinationEnd, sourceEnd, lines); break;
            default: BackwardLines128(destinationEnd, sourceEnd, lines); break;
        }

        nuint head = length - lines * Line;
        if (head != 0)
        {
            CopyTemporal(destination, source, head, flushEdges);
        }
    }

    /// <summary>memset with non-temporal stores for the whole lines.</summary>
    public static void Fill(VectorKernel kernel, byte* destination, byte value, nuint length, bool flushEdges)
    {
        nuint head = (nuint)(-(nint)destination) & (Line - 1);
        if (head > length)
        {
            head = length;
        }

        if (head != 0)
        {
            FillTemporal(destination, value, head, flushEdges);
            destination += head;
            length -= head;
        }

        nuint lines = length / Line;
        switch (kernel)
        {
            case VectorKernel.Avx512F:
                var v512 = Vector512.Create(value);
                for (nuint i = 0; i < lines; i++)
                {
                    Avx512F.StoreAlignedNonTemporal(destination + i * Line, v512);
                }

                break;
            case VectorKernel.Avx2:
                var v256 = Vector256.Create(value);
                for (nuint i = 0; i < lines; i++)
                {
                    Avx.StoreAlignedNonTemporal(destination + i * Line, v256);
                    Avx.StoreAlignedNonTemporal(destination + i * Line + 32, v256);
                }

                break;
            default:
                var v128 = Vector128.Create(value);
                for (nuint i = 0; i < lines; i++)
                {
                    byte* p = destination + i * Line;
                    Sse2.StoreAlignedNonTemporal(p, v128);
                    Sse2.StoreAlignedNonTemporal(p + 16, v128);
                    Sse2.StoreAlignedNonTemporal(p + 32, v128);
                    Sse2.StoreAlignedNonTemporal(p + 48, v128);
                }

                break;
        }

        nuint tail = length - lines * Line;
        if (tail != 0)
        {
            FillTemporal(destination + lines * Line, value, tail, flushEdges);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyTemporal(byte* destination, byte* source, nuint length, bool flush)
    {
        Buffer.MemoryCopy(source, destination, length, length);
        if (flush)
        {
            LibPmem.Flush(destination, length);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FillTemporal(byte* destination, byte value, nuint length, bool flush)
    {
        new Span<byte>(destination, (int)length).Fill(value);
        if (flush)
        {
            LibPmem.Flush(destination, length);
        }
    }

    // Four lines per iteration: all loads of a group come before its stores, which keeps forward overlap safe.
    private static void ForwardLines512(byte* d, byte* s, nuint lines)
    {
        for (; lines >= 4; lines -= 4, d += 4 * Line, s += 4 * Line)
        {
            var a = Vector512.Load(s);
            var b = Vector512.Load(s + 64);
            var c = Vector512.Load(s + 128);
            var e = Vector512.Load(s + 192);
            Avx512F.StoreAlignedNonTemporal(d, a);
            Avx512F.StoreAlignedNonTemporal(d + 64, b);
            Avx512F.StoreAlignedNonTemporal(d + 128, c);
            Avx512F.StoreAlignedNonTemporal(d + 192, e);
        }

        for (; lines > 0; lines--, d += Line, s += Line)
        {
            Avx512F.StoreAlignedNonTemporal(d, Vector512.Load(s));
        }
    }

    private static void BackwardLines512(byte* dEnd, byte* sEnd, nuint lines)
    {
        for (; lines >= 4; lines -= 4)
        {
            dEnd -= 4 * Line;
            sEnd -= 4 * Line;
            var e = Vector512.Load(sEnd + 192);
            var c = Vector512.Load(sEnd + 128);
            var b = Vector512.Load(sEnd + 64);
            var a = Vector512.Load(sEnd);
            Avx512F.StoreAlignedNonTemporal(dEnd + 192, e);
            Avx512F.StoreAlignedNonTemporal(dEnd + 128, c);
            Avx512F.StoreAlignedNonTemporal(dEnd + 64, b);
            Avx512F.StoreAlignedNonTemporal(dEnd, a);
        }

        for (; lines > 0; lines--)
        {
            dEnd -= Line;
            sEnd -= Line;
            Avx512F.StoreAlignedNonTemporal(dEnd, Vector512.Load(sEnd));
        }
    }

    private static void ForwardLines256(byte* d, byte* s, nuint lines)
    {
        for (; lines >= 2; lines -= 2, d += 2 * Line, s += 2 * Line)
        {
            var a = Vector256.Load(s);
            var b = Vector256.Load(s + 32);
            var c = Vector256.Load(s + 64);
            var e = Vector256.Load(s + 96);
            Avx.StoreAlignedNonTemporal(d, a);
            Avx.StoreAlignedNonTemporal(d + 32, b);
            Avx.StoreAlignedNonTemporal(d + 64, c);
            Avx.StoreAlignedNonTemporal(d + 96, e);
        }

        if (lines != 0)
        {
            var a = Vector256.Load(s);
            var b = Vector256.Load(s + 32);
            Avx.StoreAlignedNonTemporal(d, a);
            Avx.StoreAlignedNonTemporal(d + 32, b);
        }
    }

    private static void BackwardLines256(byte* dEnd, byte* sEnd, nuint lines)
    {
        for (; lines > 0; lines--)
        {
            dEnd -= Line;
            sEnd -= Line;
            var b = Vector256.Load(sEnd + 32);
            var a = Vector256.Load(sEnd);
            Avx.StoreAlignedNonTemporal(dEnd + 32, b);
            Avx.StoreAlignedNonTemporal(dEnd, a);
        }
    }

    private static void ForwardLines128(byte* d, byte* s, nuint lines)
    {
        for (; lines > 0; lines--, d += Line, s += Line)
        {
            var a = Vector128.Load(s);
            var b = Vector128.Load(s + 16);
            var c = Vector128.Load(s + 32);
            var e = Vector128.Load(s + 48);
            Sse2.StoreAlignedNonTemporal(d, a);
            Sse2.StoreAlignedNonTemporal(d + 16, b);
            Sse2.StoreAlignedNonTemporal(d + 32, c);
            Sse2.StoreAlignedNonTemporal(d + 48, e);
        }
    }

    private static void BackwardLines128(byte* dEnd, byte* sEnd, nuint lines)
    {
        for (; lines > 0; lines--)
        {
            dEnd -= Line;
            sEnd -= Line;
            var e = Vector128.Load(sEnd + 48);
            var c = Vector128.Load(sEnd + 32);
            var b = Vector128.Load(sEnd + 16);
            var a = Vector128.Load(sEnd);
            Sse2.StoreAlignedNonTemporal(dEnd + 48, e);
            Sse2.StoreAlignedNonTemporal(dEnd + 32, c);
            Sse2.StoreAlignedNonTemporal(dEnd + 16, b);
            Sse2.StoreAlignedNonTemporal(dEnd, a);
        }
    }
}
