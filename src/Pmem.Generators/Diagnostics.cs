using Microsoft.CodeAnalysis;

namespace Pmem.Generators;

/// <summary>
/// Every diagnostic the generator reports, declared once with a stable ID. IDs are never reused or renumbered;
/// each has a section in docs/generator.md that the help link points at.
/// </summary>
internal static class DiagnosticDescriptors
{
    /// <summary>
    /// Where help links point: docs/generator.md in the repository (the <c>RepositoryUrl</c> of Directory.Build.props),
    /// absolute so that they work from the NuGet package; the anchor is the lower-case ID, the heading of its section.
    /// </summary>
    public const string HelpBase = "https://github.com/pmem-objects/pmem-objects/blob/main/docs/generator.md#";

    private const string Category = "Pmem.Generators";

    public static readonly DiagnosticDescriptor ClassNotPartial = Error(
        "PMEM001",
        "Persistent class must be partial",
        "The persistent class '{0}' must be declared partial so that the generator can complete it");

    public static readonly DiagnosticDescriptor PropertyAccessors = Error(
        "PMEM002",
        "Persistent property needs get and set accessors",
        "The persistent property '{0}' must declare both a get and a set accessor (init-only is not supported)");

    public static readonly DiagnosticDescriptor UnsupportedType = Error(
        "PMEM003",
        "Unsupported persistent property type",
        "The persistent property '{0}' has type '{1}', which cannot be stored in a pool: {2}");

    public static readonly DiagnosticDescriptor GenericClass = Error(
        "PMEM004",
        "Persistent class cannot be generic",
        "The persistent class '{0}' cannot be generic: a pool records one layout per durable type name");

    public static readonly DiagnosticDescriptor NestedClass = Error(
        "PMEM005",
        "Persistent class cannot be nested",
        "The persistent class '{0}' cannot be nested in another type; declare it at namespace level");

    public static readonly DiagnosticDescriptor RecordClass = Error(
        "PMEM006",
        "Persistent class cannot be a record",
        "'{0}' is a record; [PersistentObject] applies to ordinary partial classes only (records have value semantics and compiler-written members that a pool handle cannot honour)");

    public static readonly DiagnosticDescriptor RequiredMember = Error(
        "PMEM007",
        "Persistent class cannot have required members",
        "The member '{0}' is required, but persistent objects are created by the pool, which cannot set required members");

    public static readonly DiagnosticDescriptor OversizedGroup = Error(
        "PMEM008",
        "Cache-line group does not fit in a cache line",
        "The cache-line group '{0}' needs {1} bytes, more than one 64-byte cache line");

    public static readonly DiagnosticDescriptor GroupNamesDifferInCase = Warning(
        "PMEM009",
        "Cache-line group names differ only in case",
        "The cache-line groups '{0}' and '{1}' differ only in case and are two different groups; use one spelling if they are meant to be one group");

    public static readonly DiagnosticDescriptor ExplicitBaseClass = Error(
        "PMEM010",
        "Persistent class cannot declare a base class",
        "The persistent class '{0}' declares the base class '{1}', but the generator derives it from Pmem.Objects.PersistentObject");

    public static readonly DiagnosticDescriptor ExplicitConstructor = Error(
        "PMEM011",
        "Persistent class cannot declare constructors",
        "The persistent class '{0}' declares a constructor; persistent objects are created by the pool (pool.New<T>()) through a generated constructor");

    public static readonly DiagnosticDescriptor StaticProperty = Error(
        "PMEM012",
        "Persistent property cannot be static",
        "The partial property '{0}' is static; only instance properties are stored in a persistent object");

    public static readonly DiagnosticDescriptor NonNullableReference = Warning(
        "PMEM013",
        "String or reference property should be nullable",
        "The persistent property '{0}' has the non-nullable type '{1}', but a new object's string and reference fields are null; declare it as '{1}?'");

    public static readonly DiagnosticDescriptor EmptyDurableName = Error(
        "PMEM014",
        "Durable name cannot be empty",
        "The durable name of the persistent class '{0}' is empty; omit Name to use the full C# name");

    public static readonly DiagnosticDescriptor AbstractOrStaticClass = Error(
        "PMEM015",
        "Persistent class cannot be abstract or static",
        "The persistent class '{0}' is {1}; the pool must be able to create instances of it");

    public static readonly DiagnosticDescriptor GroupOnNonPersistentProperty = Warning(
        "PMEM016",
        "Cache-line group on a property that is not persistent",
        "[CacheLineGroup] on '{0}' has no effect: only partial properties of a [PersistentObject] class are stored in the pool");

    public static readonly DiagnosticDescriptor CollectionSetter = Error(
        "PMEM017",
        "Persistent collection property must be get-only",
        "The collection property '{0}' must have only a get accessor: the object owns its collection, which is created by its first insert; change its contents instead of replacing it");

    public static readonly DiagnosticDescriptor CollectionNullability = Error(
        "PMEM018",
        "Persistent collection property must use the pool's nullability",
        "The collection property '{0}' must be declared as '{1}': string and object elements can be null, string keys cannot");

    public static readonly DiagnosticDescriptor NameCollision = Error(
        "PMEM019",
        "Name collides with a generated or inherited member",
        "The {0} '{1}' has the same name as {2}; rename it");

    public static readonly DiagnosticDescriptor WrapperState = Warning(
        "PMEM020",
        "Ordinary instance state in a persistent class lives in one wrapper",
        "The {0} '{1}' is not persisted and not shared: each read of a reference returns a new wrapper of the object, so a value stored here is gone on the next read; make it a partial property to persist it, or keep it outside the object");

    public static readonly DiagnosticDescriptor DuplicateDurableName = Error(
        "PMEM021",
        "Persistent classes share a durable name",
        "The persistent classes {0} have the same durable name '{1}'; a pool records one layout per durable name and could not tell their objects apart: give each class its own [PersistentObject(Name = ...)]");

    public static readonly DiagnosticDescriptor InvalidVersion = Error(
        "PMEM022",
        "Persistent class version must be at least 1",
        "The persistent class '{0}' has Version = {1}; versions start at 1 (the default) and grow with each change that needs a migration");

    public static readonly DiagnosticDescriptor InvalidFormerName = Error(
        "PMEM023",
        "Former property name is not valid",
        "[RenamedFrom(\"{0}\")] on the persistent property '{1}' {2}");

    public static readonly DiagnosticDescriptor ChangeNeedsMigration = Warning(
        "PMEM024",
        "Change to a stored property needs a new version",
        "The persistent class '{0}' {1}, but its Version is still {2}, as recorded in {3}: pools written with that schema cannot be migrated automatically; raise Version and register a migration, or update the lock file if no such pool exists");

    public static readonly DiagnosticDescriptor UnreadableSchemaLock = Warning(
        "PMEM025",
        "Schema lock file cannot be read",
        "The schema lock file '{0}' cannot be used: {1}; no persistent class is checked against it");

    public static readonly DiagnosticDescriptor UnindexableType = Error(
        "PMEM026",
        "Persistent property type cannot be indexed",
        "The persistent property '{0}' has type '{1}', which cannot be indexed: indexed properties are {2} (not floating point, nullable value types, references or collections)");

    public static readonly DiagnosticDescriptor FileLocalClass = Error(
        "PMEM027",
        "Persistent class cannot be file-local",
        "The persistent class '{0}' cannot be file-local: the generator completes it in a file of its own, where a partial declaration would be another type; remove 'file' (make it internal to keep it in its assembly)");

    public static readonly DiagnosticDescriptor UndisposedScope = Warning(
        "PMEM028",
        "Transaction or batch scope is never disposed",
        "The {0} that '{1}' returns is never disposed: a scope left open takes in every later transaction and write of this thread, which are lost when it rolls back; declare it with 'using'");

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        Create(id, title, message, DiagnosticSeverity.Error);

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        Create(id, title, message, DiagnosticSeverity.Warning);

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, helpLinkUri: HelpBase + id.ToLowerInvariant());
}
