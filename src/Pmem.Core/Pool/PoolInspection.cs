// PoolInspection -- the read-only description of an open pool that tools and diagnostics get from PersistentPool.Inspect.
using Pmem.Memory;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>
/// What an open pool is made of, for tools and diagnostics (<c>pmem info</c>, a sample's banner, a support log): a
/// snapshot taken by <see cref="PersistentPool.Inspect"/>. Reading it changes nothing in the pool.
/// </summary>
/// <remarks>
/// This is the supported way to look inside a pool. The persistence domain the pool lives in is not public, because
/// a store made through it would bypass the pool's log and allocator; nor are the type table's records, whose
/// numbering is the file format's business. Types are named here by their durable names.
/// </remarks>
/// <param name="Path">The pool file's path (or the description given with its domain).</param>
/// <param name="Layout">The layout name the pool was created with.</param>
/// <param name="Uuid">The pool's unique identity, set at creation.</param>
/// <param name="FormatVersion">The pool file's format version.</param>
/// <param name="Durability">What the pool's writes survive.</param>
/// <param name="FlushPath">How stores are made durable on this machine: the cache-line flush instruction, msync, or none needed.</param>
/// <param name="Size">The pool's size in bytes.</param>
/// <param name="HeapSize">Bytes of the pool given to the object heap (the rest is the header, type table and lanes).</param>
/// <param name="LaneCount">Lanes: how many transactions can commit at the same time.</param>
/// <param name="LaneSize">Bytes per lane (its redo log slots).</param>
/// <param name="StoredTypes">The persistent types recorded in the pool, in the order they were first stored (layouts a migration replaced left out).</param>
public sealed record PoolInspection(
    string Path,
    string Layout,
    Guid Uuid,
    uint FormatVersion,
    DurabilityMode Durability,
    FlushPath FlushPath,
    long Size,
    long HeapSize,
    int LaneCount,
    int LaneSize,
    IReadOnlyList<StoredTypeInfo> StoredTypes)
{
    /// <summary>The size the pool grows to by itself, as its creation recorded it (<see cref="PoolCreateOptions.MaxSize"/>; 0: it never grows by itself unless an open gives a limit).</summary>
    public long GrowthLimit { get; init; }

    /// <summary>
    /// A migration an open left unfinished (a crash, or a migration hook that threw), as "<c>name version 1 -&gt; 2</c>"
    /// (or "<c>name layout … -&gt; …</c>" when the version did not change):
    /// its objects are part converted, and only the program version that started it can finish it. Null when none.
    /// </summary>
    public string? MigrationInProgress { get; init; }
}

/// <summary>A persistent type as the pool records it: its current layout and, for pools with schema records, every property.</summary>
/// <param name="Name">The durable name (<see cref="PersistentObjectAttribute.Name"/>, or the class's full name).</param>
/// <param name="TypeId">The identity derived from the durable name (<see cref="PersistentTypeInfo.TypeId"/> of the class).</param>
/// <param name="Size">Object size in bytes.</param>
/// <param name="LayoutHash">The layout hash recorded; a class whose <see cref="PersistentTypeInfo.LayoutHash"/> differs is migrated when the pool opens (README, "Changing your classes").</param>
/// <param name="Fields">The fields the pool itself must understand: strings, references and collections.</param>
public sealed record StoredTypeInfo(string Name, ulong TypeId, int Size, ulong LayoutHash, IReadOnlyList<PersistentFieldInfo> Fields)
{
    /// <summary>How many of the type's fields the pool understands (<see cref="Fields"/>).</summary>
    public int FieldCount => Fields.Count;

    /// <summary>The class version the pool recorded (1 when not set, or for a type stored before schema records).</summary>
    public int Version { get; init; } = 1;

    /// <summary>Whether the pool records the type's schema (<see cref="Properties"/>, even an empty list, and <see cref="Version"/>); false for a type stored before schema records (format 3).</summary>
    public bool HasSchema { get; init; }

    /// <summary>Every stored property (the schema record, with <see cref="PersistentPropertyInfo.Index"/> set where the pool keeps an index), or empty for a type stored before schema records (format 3).</summary>
    public IReadOnlyList<PersistentPropertyInfo> Properties { get; init; } = [];
}

public sealed partial class PersistentPool
{
    /// <summary>Describes the pool: format, durability, flush path, sizes, lanes and the stored types.</summary>
    /// <returns>A snapshot; later changes to the pool (growth, new types) do not show in it.</returns>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    public PoolInspection Inspect()
    {
        ThrowIfDisposed();
        var types = _types.Types
            .Where(t => !t.IsRetired)
            .Select(t => new StoredTypeInfo(t.Name, t.TypeId, t.Size, t.LayoutHash, t.Fields) { Version = t.Version, Properties = PropertiesWithIndexes(t), HasSchema = t.Schema is not null })
            .ToArray();
        var size = Size;
        return new PoolInspection(Path, Layout, Uuid, FormatVersion, Durability, _domain.FlushPath, size, size - _heap.HeapStart,
            _lanes.Count, _lanes.LaneSize, types)
        {
            GrowthLimit = _domain.Read<long>(PoolLayout.GrowthLimitOffset),
            MigrationInProgress = _domain.Read<ulong>(PoolLayout.MigrationTypesOffset) is var migrating and not 0 &&
                _types.Get((uint)migrating) is { } from && _types.Get((uint)(migrating >> 32)) is { } to
                ? from.Version != to.Version ? $"{to.Name} version {from.Version} -> {to.Version}" : $"{to.Name} layout {from.LayoutHash:x16} -> {to.LayoutHash:x16}"
                : null,
        };
    }

    /// <summary>A stored type's properties, each with the index the pool keeps of it (<see cref="PersistentPropertyInfo.Index"/>).</summary>
    internal IReadOnlyList<PersistentPropertyInfo> PropertiesWithIndexes(StoredType type) =>
        type.Schema?.Properties.Select(p => LiveIndexAt(type.Index, p.Offset) is { } index
            ? new PersistentPropertyInfo(p.Name, p.StorageType, p.Offset, p.Size, p.Group, p.Target, p.IsNullable, p.FormerNames.AsSpan(),
                PersistentPropertyInfo.IndexKindOf(index.Slot.IsUnique, index.Slot.IsHashed))
            : p).ToArray() ?? [];
}
