// PoolMigrations, StoredObject -- the user's migrations: typed hooks that read an old object's stored values by name.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>
/// Migrations a program registers for its changed classes (<see cref="PoolOpenOptions.Migrations"/>): when a pool
/// opens with a class whose stored schema differs, each stored object of the class is carried to the new layout
/// automatically where no decision is needed, then the class's migration runs with the stored values at hand.
/// </summary>
/// <example>
/// <code>
/// var migrations = new PoolMigrations()
///     .Add&lt;Account&gt;((stored, account) =&gt; account.FullName = $"{stored.GetString("First")} {stored.GetString("Last")}");
/// using var pool = PersistentPool.Open(path, "bank", new PoolOpenOptions { Migrations = migrations });
/// </code>
/// </example>
public sealed class PoolMigrations
{
    private readonly Dictionary<ulong, UserMigration> _byTypeId = [];

    /// <summary>
    /// Registers the migration of <typeparamref name="T"/>: <paramref name="migrate"/> runs once per stored object of
    /// the class, inside the migration's transaction, after the automatic steps have filled the new object (added
    /// properties hold their defaults, a property whose type changed beyond a widening too). It may read the stored
    /// values through the <see cref="StoredObject"/>, set the new object's properties, and create other objects
    /// (to split a class in two). It runs whenever the stored version of the class is lower than the class's
    /// <see cref="PersistentObjectAttribute.Version"/> or its layout changed.
    /// </summary>
    /// <exception cref="ArgumentException">A migration for the type is registered already.</exception>
    public PoolMigrations Add<T>(Action<StoredObject, T> migrate) where T : PersistentObject, IPersistentObject<T>
    {
        ArgumentNullException.ThrowIfNull(migrate);
        var type = T.PersistentType;
        if (!_byTypeId.TryAdd(type.TypeId, new UserMigration(type, (stored, pool, offset) => migrate(stored, T.Attach(new ObjectHandle(pool, offset))))))
        {
            throw new ArgumentException($"A migration of '{type.Name}' is registered already.", nameof(migrate));
        }

        return this;
    }

    internal UserMigration? Find(ulong typeId) => _byTypeId.GetValueOrDefault(typeId);

    internal IEnumerable<PersistentTypeInfo> Types => _byTypeId.Values.Select(migration => migration.Type);
}

/// <summary>A registered migration: the program's type and the hook that fills one migrated object.</summary>
internal sealed record UserMigration(PersistentTypeInfo Type, Action<StoredObject, PersistentPool, long> Run);

/// <summary>
/// An object as it was stored before a migration, for a <see cref="PoolMigrations"/> hook: its values by stored
/// property name, through typed accessors that check the stored type. Valid only during the hook's call.
/// </summary>
public sealed class StoredObject
{
    private readonly PersistentPool _pool;
    private readonly PersistentTypeInfo _schema;
    private readonly byte[] _bytes;

    internal StoredObject(PersistentPool pool, PersistentTypeInfo schema, byte[] bytes, long offset)
    {
        _pool = pool;
        _schema = schema;
        _bytes = bytes;
        Offset = offset;
    }

    /// <summary>The durable name of the class.</summary>
    public string TypeName => _schema.Name;

    /// <summary>The class version the object was stored with.</summary>
    public int Version => _schema.Version;

    /// <summary>Where the object was stored (the migrated object keeps this offset unless it had to grow).</summary>
    public long Offset { get; }

    /// <summary>The stored properties' names.</summary>
    public IEnumerable<string> PropertyNames => _schema.Properties.Select(property => property.Name);

    /// <summary>Whether the stored object has a property of this name.</summary>
    public bool Has(string name) => _schema.Properties.Any(property => property.Name == name);

    /// <summary>The canonical stored type of a property (<c>System.Int32</c>, <c>string</c>, <c>reference</c>, …).</summary>
    /// <exception cref="KeyNotFoundException">No stored property has that name.</exception>
    public string StorageTypeOf(string name) => Property(name).StorageType;

    /// <summary>Reads a stored value of an unmanaged type (a number, enum, <c>DateTime</c>, <c>Guid</c>, …).</summary>
    /// <exception cref="KeyNotFoundException">No stored property has that name.</exception>
    /// <exception cref="InvalidCastException">The property is a string, reference, collection or <c>T?</c>, or not <typeparamref name="T"/>'s size.</exception>
    public T Get<T>(string name) where T : unmanaged
    {
        var property = Property(name);
        if (property.FieldKind is not null || property.StorageType.EndsWith('?') || property.Size != Unsafe.SizeOf<T>())
        {
            throw new InvalidCastException($"'{TypeName}.{name}' is stored as {property.StorageType} ({property.Size} bytes), which cannot be read as a {typeof(T).Name}.");
        }

        return MemoryMarshal.Read<T>(_bytes.AsSpan(property.Offset, property.Size));
    }

    /// <summary>Reads a stored <c>T?</c> value (or a plain <c>T</c>, as a value).</summary>
    /// <exception cref="KeyNotFoundException">No stored property has that name.</exception>
    /// <exception cref="InvalidCastException">The property does not hold a <typeparamref name="T"/> or <c>T?</c>.</exception>
    public T? GetNullable<T>(string name) where T : unmanaged
    {
        var property = Property(name);
        if (!property.StorageType.EndsWith('?'))
        {
            return Get<T>(name);
        }

        // A T? is stored as Nullable's bytes: a bool, then T at its alignment.
        var valueOffset = ValueConversion.NullableValueOffset(property.StorageType);
        if (property.FieldKind is not null || valueOffset < 1 || valueOffset + Unsafe.SizeOf<T>() > property.Size)
        {
            throw new InvalidCastException($"'{TypeName}.{name}' is stored as {property.StorageType} ({property.Size} bytes), which cannot be read as a {typeof(T).Name}?.");
        }

        return _bytes[property.Offset] == 0 ? null : MemoryMarshal.Read<T>(_bytes.AsSpan(property.Offset + valueOffset, Unsafe.SizeOf<T>()));
    }

    /// <summary>Reads a stored string.</summary>
    /// <exception cref="KeyNotFoundException">No stored property has that name.</exception>
    /// <exception cref="InvalidCastException">The property is not a string.</exception>
    public string? GetString(string name)
    {
        var slot = Slot(name, PersistentFieldKind.String);
        return slot == 0 ? null : _pool.ReadStringAt(slot);
    }

    /// <summary>Reads a stored reference to an object of another class (or of this one, once migrated).</summary>
    /// <exception cref="KeyNotFoundException">No stored property has that name.</exception>
    /// <exception cref="InvalidCastException">The property is not a reference.</exception>
    /// <exception cref="PersistentTypeMismatchException">The object is not a <typeparamref name="T"/> or not migrated yet.</exception>
    public T? GetReference<T>(string name) where T : PersistentObject, IPersistentObject<T>
    {
        var slot = Slot(name, PersistentFieldKind.Reference);
        return slot == 0 ? null : _pool.ReadReferenceDuringMigration<T>(slot);
    }

    private long Slot(string name, PersistentFieldKind kind)
    {
        var property = Property(name);
        return property.FieldKind == kind
            ? BitConverter.ToInt64(_bytes, property.Offset)
            : throw new InvalidCastException($"'{TypeName}.{name}' is stored as {property.StorageType}, not as a {kind.ToString().ToLowerInvariant()}.");
    }

    private PersistentPropertyInfo Property(string name) =>
        _schema.Properties.FirstOrDefault(property => property.Name == name)
        ?? throw new KeyNotFoundException($"'{TypeName}' version {Version} has no stored property '{name}'; it has {string.Join(", ", PropertyNames)}.");
}
