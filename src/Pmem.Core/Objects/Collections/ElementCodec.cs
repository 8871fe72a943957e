// ElementCodec -- how a collection reads, writes, hashes and compares its elements in slots of a pool.
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Heap;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>How a collection reads, writes, hashes and compares its elements in slots of a pool.</summary>
internal abstract class ElementCodec<T>
{
    /// <summary>Bytes a slot takes (a multiple of 8, so slots stay word-aligned).</summary>
    public abstract int SlotSize { get; }

    public abstract SlotKind Kind { get; }

    /// <summary>Whether a slot's first bytes are the value itself (<see cref="RawCodec{T}"/>): scans then read it without a call.</summary>
    public virtual bool IsPlainBytes => false;

    public abstract T Read(PersistentPool pool, long slot);

    /// <summary>Writes inside the running transaction; a string slot frees the string it held.</summary>
    public abstract void Write(PersistentPool pool, long slot, T value);

    /// <summary>A hash stable across processes (never <see cref="object.GetHashCode"/>, which is randomized).</summary>
    public abstract ulong Hash(T value);

    /// <summary>Whether a slot holds <paramref name="value"/> by its bytes: how a hashed dictionary matches keys (it hashes their bytes).</summary>
    public abstract bool SlotEquals(PersistentPool pool, long slot, T value);

    /// <summary>Whether a slot holds a value equal to <paramref name="value"/> by <see cref="object.Equals(object?)"/>, as a list searches (1.0m is 1.00m).</summary>
    public virtual bool ValueEquals(PersistentPool pool, long slot, T value) => SlotEquals(pool, slot, value);

    /// <summary>The value a slot's bytes (already read, through the transaction if any) hold.</summary>
    public abstract T Decode(PersistentPool pool, ReadOnlySpan<byte> slot);

    /// <summary>
    /// Fills a slot's bytes for <paramref name="value"/> in a buffer the caller writes into the pool; a string is
    /// allocated in the running transaction first (the slot then owns it).
    /// </summary>
    public abstract void Encode(PersistentPool pool, Span<byte> slot, T value);
}

/// <summary>Unmanaged values stored as their bytes.</summary>
internal sealed class RawCodec<T> : ElementCodec<T> where T : unmanaged
{
    public static readonly RawCodec<T> Instance = new();

    public override int SlotSize { get; } = (Unsafe.SizeOf<T>() + 7) & ~7;

    public override SlotKind Kind => SlotKind.Raw;

    public override bool IsPlainBytes => true;

    public override T Read(PersistentPool pool, long slot) => pool.ReadValue<T>(slot);

    public override void Write(PersistentPool pool, long slot, T value) =>
        pool.WriteBytesInTransaction(slot, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    public override ulong Hash(T value) => StableHash.OfBytes(in value);

    public override bool SlotEquals(PersistentPool pool, long slot, T value)
    {
        var stored = pool.ReadValue<T>(slot);
        return MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in stored)).SequenceEqual(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));
    }

    public override bool ValueEquals(PersistentPool pool, long slot, T value) => EqualityComparer<T>.Default.Equals(pool.ReadValue<T>(slot), value);

    public override T Decode(PersistentPool pool, ReadOnlySpan<byte> slot) => MemoryMarshal.Read<T>(slot);

    public override void Encode(PersistentPool pool, Span<byte> slot, T value)
    {
        slot[..SlotSize].Clear(); // the padding too: slots compare and hash as bytes
        MemoryMarshal.Write(slot, in value);
    }
}

/// <summary>Strings stored as owned immutable persistent strings.</summary>
internal sealed class StringCodec : ElementCodec<string?>
{
    public static readonly StringCodec Instance = new();

    public override int SlotSize => 8;

    public override SlotKind Kind => SlotKind.String;

    public override string? Read(PersistentPool pool, long slot) => pool.ReadString(slot);

    public override void Write(PersistentPool pool, long slot, string? value) => pool.WriteString(slot, value);

    public override ulong Hash(string? value) =>
        value is null ? DictionaryTables.NullStringHash : XxHash3.HashToUInt64(MemoryMarshal.AsBytes(value.AsSpan()));

    public override bool SlotEquals(PersistentPool pool, long slot, string? value) => string.Equals(pool.ReadString(slot), value, StringComparison.Ordinal);

    public override string? Decode(PersistentPool pool, ReadOnlySpan<byte> slot) =>
        MemoryMarshal.Read<long>(slot) is var target and not 0 ? pool.ReadStringAt(target) : null;

    public override void Encode(PersistentPool pool, Span<byte> slot, string? value) =>
        MemoryMarshal.Write(slot, value is null ? 0L : pool.NewStringInTransaction(value));
}

/// <summary>References to persistent objects stored as offsets.</summary>
internal sealed class ReferenceCodec<T> : ElementCodec<T?> where T : PersistentObject, IPersistentObject<T>
{
    public static readonly ReferenceCodec<T> Instance = new();

    public override int SlotSize => 8;

    public override SlotKind Kind => SlotKind.Reference;

    public override T? Read(PersistentPool pool, long slot) => pool.ReadReference<T>(slot);

    public override void Write(PersistentPool pool, long slot, T? value) => pool.WriteReference(slot, value);

    public override ulong Hash(T? value) => (ulong)(value?.Offset ?? 0) * DictionaryTables.ReferenceHashFactor;

    public override bool SlotEquals(PersistentPool pool, long slot, T? value) =>
        pool.ReadValue<long>(slot) is var stored && (value is null
            ? stored == 0
            : BlockGeneration.TargetOf(stored) == value.Offset && BlockGeneration.Matches(BlockGeneration.OfReference(stored), value.Generation));

    public override T? Decode(PersistentPool pool, ReadOnlySpan<byte> slot) =>
        MemoryMarshal.Read<long>(slot) is var target and not 0 ? pool.ReadReferenceAt<T>(target) : null;

    public override void Encode(PersistentPool pool, Span<byte> slot, T? value) => MemoryMarshal.Write(slot, pool.ReferenceOffset(value));
}
