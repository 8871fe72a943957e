// PersistentObject -- the base class of generated persistent classes: a handle whose members generated code calls.
using System.Runtime.CompilerServices;
using Pmem.Heap;
using Pmem.Pool;
using Pmem.Transactions;

namespace Pmem.Objects;

/// <summary>
/// Base class of every generated persistent class: a thin handle (pool + offset) whose protected members are the
/// surface generated property bodies call. Two handles to the same object are equal.
/// </summary>
/// <remarks>
/// Durability of the protected writes follows the pool's rules: inside a transaction on this thread they join the
/// transaction; inside a batch they are flushed and drained when the batch ends; otherwise each write is durable
/// and failure-atomic when it returns, whatever its width.
/// </remarks>
public abstract class PersistentObject : IEquatable<PersistentObject>, IMadeInTransaction
{
    /// <summary>Wraps the object <paramref name="handle"/> designates.</summary>
    protected PersistentObject(ObjectHandle handle)
    {
        Pool = handle.Pool ?? throw new ArgumentException("The handle designates no pool.", nameof(handle));
        _reference = BlockGeneration.Reference(handle.Offset, handle.Generation);
    }

    // The offset and the generation in one word, as a reference stores them, and DeletedMark: a handle stays two words.
    private long _reference;

    // Set in _reference once a Delete through this wrapper has returned (no offset reaches it: pools are far below 2^47
    // bytes). From then on every use checks that the block still holds this object (a rolled-back delete leaves it
    // there), so a wrapper kept past its object's deletion throws instead of reading or writing the block's next object;
    // other wrappers pay one test of the word every access loads anyway.
    private const long DeletedMark = 1L << 47;
    private const long OffsetBits = DeletedMark - 1;

    /// <summary>The pool holding this object.</summary>
    public PersistentPool Pool { get; }

    /// <summary>The object's offset in its pool: its durable identity, stable across restarts.</summary>
    public long Offset => _reference & OffsetBits;

    /// <summary>The generation of the object's block when this handle was made: stored in every reference to it, so a reference that outlives the object is detected.</summary>
    internal ushort Generation => BlockGeneration.OfReference(_reference);

    /// <summary>The word a reference to this object stores: its offset and its block's generation.</summary>
    internal long Reference => _reference & ~DeletedMark;

    /// <summary>Notes that a Delete through this wrapper returned (see <see cref="DeletedMark"/>).</summary>
    internal void NoteDeleted() => _reference |= DeletedMark; // one word: a racing read sees it marked or not

    // The transaction that made the object rolled back: offset 0 (the pool header, never an object) with the mark, so
    // every use throws, whoever holds the block now.
    void IMadeInTransaction.NoteRolledBack() => _reference = DeletedMark;

    /// <summary>The pool offset of a field, once this wrapper is known not to outlive its object.</summary>
    /// <exception cref="PersistentDanglingReferenceException">A Delete through this wrapper freed the object.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long FieldAt(int fieldOffset)
    {
        var reference = _reference;
        if ((reference & DeletedMark) != 0)
        {
            ThrowIfDeleted();
        }

        return (reference & OffsetBits) + fieldOffset;
    }

    /// <summary>Throws when a Delete through this wrapper freed the object: its collections' handles ask before every use.</summary>
    /// <exception cref="PersistentDanglingReferenceException">A Delete through this wrapper freed the object.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ThrowIfKeptPastDelete()
    {
        if ((_reference & DeletedMark) != 0)
        {
            ThrowIfDeleted();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowIfDeleted()
    {
        if (Offset == 0)
        {
            throw new PersistentDanglingReferenceException(
                $"{Pool.Path}: this {GetType().Name} was made in a transaction that rolled back (or was given up after an await inside it): it no longer exists, and its block may hold another object now.", 0);
        }

        if (!Pool.HoldsObject(Offset, Generation))
        {
            throw new PersistentDanglingReferenceException(
                $"{Pool.Path}: the {GetType().Name} at offset {Offset} was deleted; a handle kept past its deletion can no longer be used.", Offset);
        }
    }

    /// <summary>Reads an unmanaged field at <paramref name="fieldOffset"/> bytes into the object.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected T ReadField<T>(int fieldOffset) where T : unmanaged => Pool.ReadValue<T>(FieldAt(fieldOffset));

    /// <summary>Writes an unmanaged field, durably and failure-atomically (see the class remarks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void WriteField<T>(int fieldOffset, T value) where T : unmanaged => Pool.WriteValue(FieldAt(fieldOffset), value);

    /// <summary>
    /// Writes an indexed unmanaged field (<see cref="IndexedAttribute"/>) and moves the object's entry in the index,
    /// as one failure-atomic step.
    /// </summary>
    /// <exception cref="Pool.PersistentUniqueConstraintException">The index is unique and another object holds <paramref name="value"/>.</exception>
    protected void WriteIndexedField<T>(PersistentTypeInfo type, int fieldOffset, T value) where T : unmanaged
    {
        ThrowIfKeptPastDelete();
        IndexedWrites.WriteField(this, type, fieldOffset, value);
    }

    /// <summary>Writes an indexed string field and moves the object's entry in the index (a null string has none), as one failure-atomic step.</summary>
    /// <exception cref="Pool.PersistentUniqueConstraintException">The index is unique and another object holds <paramref name="value"/>.</exception>
    protected void WriteIndexedString(PersistentTypeInfo type, int fieldOffset, string? value)
    {
        ThrowIfKeptPastDelete();
        IndexedWrites.WriteString(this, type, fieldOffset, value);
    }

    /// <summary>Reads a string field (an 8-byte offset of an immutable persistent string; 0 = null).</summary>
    protected string? ReadString(int fieldOffset) => Pool.ReadString(FieldAt(fieldOffset));

    /// <summary>Replaces a string field failure-atomically: the new string is written, published and the old one freed as one step.</summary>
    protected void WriteString(int fieldOffset, string? value) => Pool.WriteString(FieldAt(fieldOffset), value);

    /// <summary>Reads a reference field; null when the field is 0.</summary>
    /// <exception cref="PersistentTypeMismatchException">The referenced object is not a <typeparamref name="T"/>.</exception>
    protected T? ReadReference<T>(int fieldOffset) where T : PersistentObject, IPersistentObject<T> =>
        Pool.ReadReference<T>(FieldAt(fieldOffset));

    /// <summary>Writes a reference field (null allowed); the target must live in the same pool.</summary>
    protected void WriteReference<T>(int fieldOffset, T? value) where T : PersistentObject, IPersistentObject<T> =>
        Pool.WriteReference(FieldAt(fieldOffset), value);

    /// <summary>The list of unmanaged values in the collection field at <paramref name="fieldOffset"/>, created by its first insert (reading writes nothing).</summary>
    protected PersistentList<T> GetList<T>(int fieldOffset) where T : unmanaged =>
        new(Pool, FieldAt(fieldOffset), RawCodec<T>.Instance, this);

    /// <summary>The list of strings in the collection field at <paramref name="fieldOffset"/>, created by its first insert (reading writes nothing).</summary>
    protected PersistentList<string?> GetStringList(int fieldOffset) =>
        new(Pool, FieldAt(fieldOffset), StringCodec.Instance, this);

    /// <summary>The list of references in the collection field at <paramref name="fieldOffset"/>, created by its first insert (reading writes nothing).</summary>
    protected PersistentList<T?> GetObjectList<T>(int fieldOffset) where T : PersistentObject, IPersistentObject<T> =>
        new(Pool, FieldAt(fieldOffset), ReferenceCodec<T>.Instance, this);

    /// <summary>A dictionary from unmanaged keys to unmanaged values, created by its first insert (reading writes nothing).</summary>
    protected PersistentDictionary<TKey, TValue> GetDictionary<TKey, TValue>(int fieldOffset) where TKey : unmanaged where TValue : unmanaged =>
        new(Pool, FieldAt(fieldOffset), RawCodec<TKey>.Instance, RawCodec<TValue>.Instance, this);

    /// <summary>A dictionary from unmanaged keys to strings, created by its first insert (reading writes nothing).</summary>
    protected PersistentDictionary<TKey, string?> GetDictionaryOfStrings<TKey>(int fieldOffset) where TKey : unmanaged =>
        new(Pool, FieldAt(fieldOffset), RawCodec<TKey>.Instance, StringCodec.Instance, this);

    /// <summary>A dictionary from unmanaged keys to references, created by its first insert (reading writes nothing).</summary>
    protected PersistentDictionary<TKey, TValue?> GetDictionaryOfObjects<TKey, TValue>(int fieldOffset) where TKey : unmanaged where TValue : PersistentObject, IPersistentObject<TValue> =>
        new(Pool, FieldAt(fieldOffset), RawCodec<TKey>.Instance, ReferenceCodec<TValue>.Instance, this);

    /// <summary>A dictionary from string keys to unmanaged values, created by its first insert (reading writes nothing).</summary>
    protected PersistentDictionary<string, TValue> GetStringKeyedDictionary<TValue>(int fieldOffset) where TValue : unmanaged =>
        new(Pool, FieldAt(fieldOffset), StringCodec.Instance!, RawCodec<TValue>.Instance, this);

    /// <summary>A dictionary from string keys to strings, created by its first insert (reading writes nothing).</summary>
    protected PersistentDictionary<string, string?> GetStringKeyedDictionaryOfStrings(int fieldOffset) =>
        new(Pool, FieldAt(fieldOffset), StringCodec.Instance!, StringCodec.Instance, this);

    /// <summary>A dictionary from string keys to references, created by its first insert (reading writes nothing).</summary>
    protected PersistentDictionary<string, TValue?> GetStringKeyedDictionaryOfObjects<TValue>(int fieldOffset) where TValue : PersistentObject, IPersistentObject<TValue> =>
        new(Pool, FieldAt(fieldOffset), StringCodec.Instance!, ReferenceCodec<TValue>.Instance, this);

    /// <summary>A sorted dictionary from unmanaged keys to unmanaged values, created by its first insert (reading writes nothing).</summary>
    /// <exception cref="NotSupportedException">The key type has no durable order (floating point, other structs).</exception>
    protected PersistentSortedDictionary<TKey, TValue> GetSortedDictionary<TKey, TValue>(int fieldOffset) where TKey : unmanaged where TValue : unmanaged =>
        new(Pool, FieldAt(fieldOffset), SortedKeysOf<TKey>(), RawCodec<TValue>.Instance, this);

    /// <summary>A sorted dictionary from unmanaged keys to strings, created by its first insert (reading writes nothing).</summary>
    /// <exception cref="NotSupportedException">The key type has no durable order.</exception>
    protected PersistentSortedDictionary<TKey, string?> GetSortedDictionaryOfStrings<TKey>(int fieldOffset) where TKey : unmanaged =>
        new(Pool, FieldAt(fieldOffset), SortedKeysOf<TKey>(), StringCodec.Instance, this);

    /// <summary>A sorted dictionary from unmanaged keys to references, created by its first insert (reading writes nothing).</summary>
    /// <exception cref="NotSupportedException">The key type has no durable order.</exception>
    protected PersistentSortedDictionary<TKey, TValue?> GetSortedDictionaryOfObjects<TKey, TValue>(int fieldOffset) where TKey : unmanaged where TValue : PersistentObject, IPersistentObject<TValue> =>
        new(Pool, FieldAt(fieldOffset), SortedKeysOf<TKey>(), ReferenceCodec<TValue>.Instance, this);

    /// <summary>A sorted dictionary from string keys (ordinal order) to unmanaged values, created by its first insert (reading writes nothing).</summary>
    protected PersistentSortedDictionary<string, TValue> GetStringKeyedSortedDictionary<TValue>(int fieldOffset) where TValue : unmanaged =>
        new(Pool, FieldAt(fieldOffset), PrefixedStringSortedKeys.Instance, RawCodec<TValue>.Instance, this);

    /// <summary>A sorted dictionary from string keys (ordinal order) to strings, created by its first insert (reading writes nothing).</summary>
    protected PersistentSortedDictionary<string, string?> GetStringKeyedSortedDictionaryOfStrings(int fieldOffset) =>
        new(Pool, FieldAt(fieldOffset), PrefixedStringSortedKeys.Instance, StringCodec.Instance, this);

    /// <summary>A sorted dictionary from string keys (ordinal order) to references, created by its first insert (reading writes nothing).</summary>
    protected PersistentSortedDictionary<string, TValue?> GetStringKeyedSortedDictionaryOfObjects<TValue>(int fieldOffset) where TValue : PersistentObject, IPersistentObject<TValue> =>
        new(Pool, FieldAt(fieldOffset), PrefixedStringSortedKeys.Instance, ReferenceCodec<TValue>.Instance, this);

    /// <summary>A set of unmanaged values (kept in order), created by its first insert (reading writes nothing).</summary>
    /// <exception cref="NotSupportedException">The element type has no durable order.</exception>
    protected PersistentSet<T> GetSet<T>(int fieldOffset) where T : unmanaged =>
        new(new PersistentSortedDictionary<T, bool>(Pool, FieldAt(fieldOffset), SortedKeysOf<T>(), NoValueCodec.Instance, this));

    /// <summary>A set of strings (kept in ordinal order), created by its first insert (reading writes nothing).</summary>
    protected PersistentSet<string> GetStringSet(int fieldOffset) =>
        new(new PersistentSortedDictionary<string, bool>(Pool, FieldAt(fieldOffset), PrefixedStringSortedKeys.Instance, NoValueCodec.Instance, this));

    private static RawSortedKeys<TKey> SortedKeysOf<TKey>() where TKey : unmanaged
    {
        RawSortedKeys<TKey>.ThrowIfUnsupported();
        return RawSortedKeys<TKey>.Instance;
    }

    /// <inheritdoc />
    public bool Equals(PersistentObject? other) => other is not null && ReferenceEquals(Pool, other.Pool) && Offset == other.Offset;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is PersistentObject other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(RuntimeHelpers.GetHashCode(Pool), Offset);
}
