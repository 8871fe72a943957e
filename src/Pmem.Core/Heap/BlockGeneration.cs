// BlockGeneration -- a block's generation: how its allocation header and a reference to it carry it, the one definition of both encodings.
namespace Pmem.Heap;

/// <summary>
/// Each allocation of a block gets a new 16-bit generation (never 0), kept in the high half of the block's u32
/// allocation header word beside its type index, and copied into the high 16 bits of every reference to the block.
/// A reference whose generation differs from its block's points to an object that was freed and whose block was
/// allocated again: a dangling reference, caught on read instead of resolving to the new object.
/// </summary>
/// <remarks>
/// Generation 0 means "not known": blocks of pools older than <c>PoolLayout.GenerationsVersion</c> and references
/// written to them. A reference with generation 0 is not checked; a block with generation 0 matches any reference.
/// A run block's generation counts up from the one its header held (so a reference detects the next 65,535 reuses
/// of its block); a large block's header line does not outlive its chunks' reuse, so large blocks take theirs from a
/// counter that starts at a random value each time the pool opens (consecutive reuses in a session always differ).
/// </remarks>
internal static class BlockGeneration
{
    /// <summary>The low 48 bits of a reference word: the target's offset (pools are far below 2^48 bytes).</summary>
    public const long OffsetMask = (1L << 48) - 1;

    private const int TypeBits = 16;

    /// <summary>The type index an allocation header word holds.</summary>
    public static uint TypeOf(uint header) => header & 0xFFFF;

    /// <summary>The generation an allocation header word holds.</summary>
    public static ushort Of(uint header) => (ushort)(header >> TypeBits);

    /// <summary>The allocation header word of a block of <paramref name="typeIndex"/> in <paramref name="generation"/>.</summary>
    public static uint Header(uint typeIndex, ushort generation) => typeIndex | ((uint)generation << TypeBits);

    /// <summary>The generation that follows the one <paramref name="header"/> holds (0 is skipped).</summary>
    public static ushort After(uint header) => Of(header) is var current && current == ushort.MaxValue ? (ushort)1 : (ushort)(current + 1);

    /// <summary>A generation for a block whose previous one is not kept, from a counter the heap keeps (0 is skipped).</summary>
    public static ushort FromCounter(ref int counter) => (ushort)Interlocked.Increment(ref counter) is var next && next != 0 ? next : FromCounter(ref counter);

    /// <summary>The reference word for the block at <paramref name="offset"/> in <paramref name="generation"/>.</summary>
    public static long Reference(long offset, ushort generation) => offset | ((long)generation << 48);

    /// <summary>The offset a reference word designates.</summary>
    public static long TargetOf(long reference) => reference & OffsetMask;

    /// <summary>The generation a reference word was written with (0: not known).</summary>
    public static ushort OfReference(long reference) => (ushort)((ulong)reference >> 48);

    /// <summary>Whether a reference written with <paramref name="referenced"/> may designate a block now in <paramref name="current"/>.</summary>
    public static bool Matches(ushort referenced, ushort current) => referenced == 0 || current == 0 || referenced == current;
}
