// PersistentTypeRegistry -- the program's persistent types, registered by generated code so a pool can migrate at open.
using System.Collections.Concurrent;

namespace Pmem.Objects;

/// <summary>
/// The persistent types of the running program, registered by generated code (a module initializer per class) so
/// that opening a pool can compare its stored schema with the program's and migrate changed types before any object
/// is read, without reflection.
/// </summary>
public static class PersistentTypeRegistry
{
    private static readonly ConcurrentDictionary<ulong, PersistentTypeInfo[]> s_byId = new();

    /// <summary>Records <paramref name="type"/>; generated code calls this once per class when its assembly loads.</summary>
    public static void Register(PersistentTypeInfo type)
    {
        ArgumentNullException.ThrowIfNull(type);
        s_byId.AddOrUpdate(
            type.TypeId,
            _ => [type],
            (_, known) => known.Any(existing => ReferenceEquals(existing, type)) ? known : [.. known, type]);
    }

    /// <summary>
    /// The registered types whose durable name has the identity <paramref name="typeId"/>: usually one; two or more
    /// when classes share a durable name (generator error PMEM021 outside hand-written types).
    /// </summary>
    internal static IReadOnlyList<PersistentTypeInfo> Find(ulong typeId) =>
        s_byId.TryGetValue(typeId, out var types) ? types : [];

    /// <summary>Every registered type.</summary>
    internal static IEnumerable<PersistentTypeInfo> All => s_byId.Values.SelectMany(types => types);
}
