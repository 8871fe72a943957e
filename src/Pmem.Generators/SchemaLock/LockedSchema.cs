// LockedSchema -- the schema lock file (pmem.schema.json) as equatable values: per durable name, a version and properties.
using System;
using System.Collections.Generic;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.SchemaLock;

/// <summary>A property as the lock file records it.</summary>
/// <param name="Name">The property name.</param>
/// <param name="StorageType">The canonical stored type (as in the layout hash: <c>System.Int32</c>, <c>reference</c>, <c>list&lt;string&gt;</c>).</param>
/// <param name="Target">The durable name of a referenced class, or null.</param>
internal sealed record LockedProperty(string Name, string StorageType, string? Target);

/// <summary>A persistent type as the lock file records it.</summary>
/// <param name="DurableName">The type's durable name.</param>
/// <param name="Version">The class's version when the file was written.</param>
/// <param name="Properties">Its stored properties.</param>
internal sealed record LockedType(string DurableName, int Version, EquatableArray<LockedProperty> Properties);

/// <summary>
/// What the generator knows from the project's <c>pmem.schema.json</c>: the locked types, or why the file could not be
/// used. Equality is by value (the path, the types, the problem), so an unchanged file keeps every check cached.
/// </summary>
internal sealed record LockedSchema(string Path, EquatableArray<LockedType> Types, string? Problem)
{
    /// <summary>The file name the generator looks for among the <c>AdditionalFiles</c>.</summary>
    public const string FileName = "pmem.schema.json";

    private Dictionary<string, LockedType>? _byName;

    /// <summary>The locked type with <paramref name="durableName"/>, or null.</summary>
    public LockedType? Find(string durableName)
    {
        if (_byName is null)
        {
            var byName = new Dictionary<string, LockedType>(StringComparer.Ordinal);
            foreach (var type in Types)
            {
                byName[type.DurableName] = type;
            }

            _byName = byName;
        }

        return _byName.TryGetValue(durableName, out var locked) ? locked : null;
    }

    /// <summary>Value equality over the file's contents; the lookup built by <see cref="Find"/> is a cache, not state.</summary>
    public bool Equals(LockedSchema? other) =>
        other is not null && Path == other.Path && Types.Equals(other.Types) && Problem == other.Problem;

    /// <inheritdoc />
    public override int GetHashCode() => (Path, Types, Problem).GetHashCode();
}
