// PersistentSchemaLock -- writes the schema lock file (pmem.schema.json) the generator checks later builds against.
using System.Text;
using System.Text.Json;
using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// Writes the schema lock file the generator reads (<c>pmem.schema.json</c>, an <c>AdditionalFiles</c> item; format in
/// docs/generator.md): for each type its durable name, version and stored properties. Call it from a test or a
/// build step once the classes describe what your pools hold, or write it from a pool that holds your released schema
/// (<see cref="Write(string, PoolInspection)"/>, <c>pmem schema-lock</c>); later builds then warn (PMEM024) of a change
/// that needs a migration while a class keeps the locked version.
/// </summary>
public static class PersistentSchemaLock
{
    /// <summary>Writes the lock file for <paramref name="types"/> (ordered by durable name), replacing <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">A type has no schema (it was not made by the generator), or two share a durable name.</exception>
    public static void Write(string path, IEnumerable<PersistentTypeInfo> types)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(types);
        File.WriteAllText(path, ToJson(types), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    /// <summary>
    /// Writes the lock file for the types a pool records (every type of <paramref name="pool"/>, from
    /// <see cref="PersistentPool.Inspect"/>), replacing <paramref name="path"/>: the schema its objects are stored in,
    /// whatever the program's classes say now. <c>pmem schema-lock</c> does the same from the command line.
    /// </summary>
    /// <exception cref="ArgumentException">A type was stored before pools recorded schemas (format 3; opening the pool with the program records them).</exception>
    public static void Write(string path, PoolInspection pool)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(pool);
        File.WriteAllText(path, ToJson(pool), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    }

    /// <summary>The lock file's text for <paramref name="types"/>.</summary>
    /// <exception cref="ArgumentException">A type has no schema, or two share a durable name.</exception>
    public static string ToJson(IEnumerable<PersistentTypeInfo> types)
    {
        ArgumentNullException.ThrowIfNull(types);
        return ToJson(types.Select(type => new LockedType(type.Name, type.Version, type.Properties, type.HasSchema, "it was not made by the generator")));
    }

    /// <summary>The lock file's text for the types a pool records.</summary>
    /// <exception cref="ArgumentException">A type was stored before pools recorded schemas.</exception>
    public static string ToJson(PoolInspection pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        return ToJson(pool.StoredTypes.Select(type => new LockedType(type.Name, type.Version, type.Properties, type.HasSchema,
            "the pool stored it before pools recorded schemas; opening the pool with the program records it")));
    }

    /// <summary>What the file records of one type, and why it cannot be recorded when it has no schema.</summary>
    private readonly record struct LockedType(string Name, int Version, IReadOnlyList<PersistentPropertyInfo> Properties, bool HasSchema, string WhyNoSchema);

    private static string ToJson(IEnumerable<LockedType> types)
    {
        var sorted = types.OrderBy(type => type.Name, StringComparer.Ordinal).ToList();
        for (var i = 0; i < sorted.Count; i++)
        {
            if (!sorted[i].HasSchema)
            {
                throw new ArgumentException($"'{sorted[i].Name}' has no schema ({sorted[i].WhyNoSchema}), so it cannot be locked.", nameof(types));
            }

            if (i > 0 && sorted[i].Name == sorted[i - 1].Name)
            {
                throw new ArgumentException($"Two types share the durable name '{sorted[i].Name}'.", nameof(types));
            }
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("format", 1);
            json.WriteStartArray("types");
            foreach (var type in sorted)
            {
                json.WriteStartObject();
                json.WriteString("name", type.Name);
                json.WriteNumber("version", type.Version);
                json.WriteStartArray("properties");
                foreach (var property in type.Properties)
                {
                    json.WriteStartObject();
                    json.WriteString("name", property.Name);
                    json.WriteString("storageType", property.StorageType);
                    if (property.Target is { } target)
                    {
                        json.WriteString("target", target);
                    }

                    json.WriteNumber("offset", property.Offset);
                    json.WriteNumber("size", property.Size);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
