// IndexedWrites -- the setters of indexed properties: the write and the index's change in one failure-atomic step.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// Writes of indexed properties (what generated setters call) and the pool's hook for new and deleted objects: each
/// change of a value moves the object's index entry in the same transaction (the running one, or its own), under the
/// pool's index lock, so an index never disagrees with its objects, even after a crash.
/// </summary>
internal sealed class IndexedWrites : IndexMaintenance
{
    private static readonly IndexedWrites s_instance = new();

#pragma warning disable CA2255 // the pool (a lower layer) must find the index trees' code before any pool opens; no reflection
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Install() => Instance = s_instance;

    /// <summary>The stored type's operations are chosen here, once per live index (its handle keeps them).</summary>
    public override IndexTree Open(PersistentPool pool, LiveIndex index) => IndexOperations.For(index.Property.StorageType).Open(pool, index);

    public override long FirstDuplicate(PersistentPool pool, PersistentPropertyInfo property, IEnumerable<long> objects, out long holder, out string value) =>
        IndexOperations.For(property.StorageType).FirstDuplicate(pool, property.Offset, objects, out holder, out value);

    /// <summary>Writes an unmanaged indexed property and moves the object's entry.</summary>
    /// <exception cref="PersistentUniqueConstraintException">A unique index: another object holds the value (nothing changes; a running transaction rolls back).</exception>
    public static void WriteField<T>(PersistentObject obj, PersistentTypeInfo type, int fieldOffset, T value) where T : unmanaged
    {
        var pool = obj.Pool;
        var at = obj.Offset + fieldOffset;
        if (pool.LiveIndexAt(pool.TypeIndex(type), fieldOffset) is not { } index)
        {
            pool.WriteValue(at, value); // not indexed in this pool yet (see PersistentPool.KeepIndexesInStep)
            return;
        }

        var old = pool.ReadValue<T>(at);
        if (MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in old)).SequenceEqual(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value))))
        {
            return;
        }

        MoveEntry(pool, index, obj.Offset, at, value, static (pool, at, value) => pool.WriteValue(at, value));
    }

    /// <summary>Writes an indexed string property and moves the object's entry (a null string has none).</summary>
    /// <exception cref="PersistentUniqueConstraintException">A unique index: another object holds the string.</exception>
    public static void WriteString(PersistentObject obj, PersistentTypeInfo type, int fieldOffset, string? value)
    {
        var pool = obj.Pool;
        var at = obj.Offset + fieldOffset;
        if (pool.LiveIndexAt(pool.TypeIndex(type), fieldOffset) is not { } index)
        {
            pool.WriteString(at, value);
            return;
        }

        if (string.Equals(pool.ReadString(at), value, StringComparison.Ordinal))
        {
            return;
        }

        MoveEntry(pool, index, obj.Offset, at, value, static (pool, at, value) => pool.WriteString(at, value));
    }

    /// <summary>Takes the object's entry out, writes the value, and files the entry again, in one transaction under the index lock.</summary>
    private static void MoveEntry<TValue>(PersistentPool pool, LiveIndex index, long obj, long at, TValue value, Action<PersistentPool, long, TValue> write) =>
        pool.Atomically((pool, index, obj, at, value, write), static s =>
        {
            s.pool.EnterIndexLock();
            var tree = s.index.Tree(s.pool);
            tree.Remove(s.obj);
            s.write(s.pool, s.at, s.value);
            tree.Add(s.obj);
        });
}
