// SchemaPlan -- how each property of a changed type is carried from its stored layout to the program's, or why not.
using System.Collections.Immutable;
using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>How one property of the program's layout gets its bytes from the stored object.</summary>
internal enum PropertyConversion
{
    /// <summary>A new property: zero bytes (the default value).</summary>
    Default,

    /// <summary>The same stored type: the bytes are copied (a string or collection moves with its owner).</summary>
    Copy,

    /// <summary>A lossless widening of a number (<c>int → long</c>, <c>float → double</c>, …), maybe into a <c>T?</c>.</summary>
    Widen,
}

/// <summary>One property of the program's layout and where its value comes from.</summary>
/// <param name="Target">The program's property.</param>
/// <param name="Source">The stored property it comes from, or null for a new one.</param>
/// <param name="Conversion">How the bytes are carried.</param>
internal sealed record PropertyStep(PersistentPropertyInfo Target, PersistentPropertyInfo? Source, PropertyConversion Conversion);

/// <summary>
/// The automatic migration of one stored type to the program's layout: a step per program property, the stored
/// properties dropped (their strings and collections freed), and the problems that need a decision from the user.
/// Built from the two schemas alone; writes nothing.
/// </summary>
internal sealed class SchemaPlan
{
    /// <summary>The words that mark the problem of a type stored without a schema record.</summary>
    public const string UnknownStoredSchema = "older than schema records";

    private SchemaPlan(StoredType stored, PersistentTypeInfo program, List<PropertyStep> steps, List<PersistentPropertyInfo> dropped, List<string> problems)
    {
        Stored = stored;
        Program = program;
        Steps = [.. steps];
        Dropped = [.. dropped];
        Problems = problems;
    }

    public StoredType Stored { get; }

    public PersistentTypeInfo Program { get; }

    /// <summary>A step per program property (an array: a migration walks it twice per object, with no enumerator to allocate).</summary>
    public ImmutableArray<PropertyStep> Steps { get; }

    /// <summary>Stored properties the program no longer has.</summary>
    public ImmutableArray<PersistentPropertyInfo> Dropped { get; }

    /// <summary>Why the change cannot be made automatically (empty when it can).</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>
    /// Plans the migration of <paramref name="stored"/> to <paramref name="program"/>. With <paramref name="hasUserMigration"/>,
    /// a property the plan cannot carry starts at its default and is left to the user's migration, which sees the
    /// stored value.
    /// </summary>
    public static SchemaPlan Create(StoredType stored, PersistentTypeInfo program, bool hasUserMigration)
    {
        var steps = new List<PropertyStep>();
        var problems = new List<string>();
        var dropped = new List<PersistentPropertyInfo>();
        var name = program.Name;
        if (stored.Schema is not { } schema)
        {
            problems.Add($"type '{name}' was stored by a program {UnknownStoredSchema}, so its stored properties are unknown. " +
                "Open the pool once with the program version that wrote it (built with this Pmem.Objects): that records its schema, and the next version then migrates");
            return new SchemaPlan(stored, program, steps, dropped, problems);
        }

        if (!program.HasSchema)
        {
            problems.Add($"the program's type '{name}' describes no properties (it was not made by the generator), so the pool cannot tell what changed: stored {Describe(schema)}, compiled layout {program.LayoutHash:x16}");
            return new SchemaPlan(stored, program, steps, dropped, problems);
        }

        var storedByName = schema.Properties.ToDictionary(property => property.Name, StringComparer.Ordinal);
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in program.Properties)
        {
            var source = storedByName.GetValueOrDefault(target.Name);
            if (source is null)
            {
                foreach (var former in target.FormerNames)
                {
                    if (storedByName.TryGetValue(former, out source))
                    {
                        break;
                    }
                }
            }

            if (source is null)
            {
                steps.Add(new PropertyStep(target, null, PropertyConversion.Default));
                continue;
            }

            if (!claimed.Add(source.Name))
            {
                problems.Add($"{name}.{target.Name} claims the stored property '{source.Name}', which another property already takes; remove one of the [RenamedFrom] attributes");
                continue;
            }

            var conversion = Convert(source, target);
            if (conversion is null)
            {
                if (hasUserMigration)
                {
                    steps.Add(new PropertyStep(target, source, PropertyConversion.Default));
                    continue;
                }

                problems.Add($"{name}.{target.Name} is stored as {Shape(source)} and compiled as {Shape(target)}; that change is not made automatically. " +
                    $"Raise the class's version ([PersistentObject(Version = {schema.Version + 1})]) and register a migration that sets it from the stored value: " +
                    $"new PoolOpenOptions {{ Migrations = new PoolMigrations().Add<...>((stored, now) => now.{target.Name} = ...stored.Get...(\"{source.Name}\")) }}");
                continue;
            }

            steps.Add(new PropertyStep(target, source, conversion.Value));
        }

        foreach (var property in schema.Properties)
        {
            if (!claimed.Contains(property.Name))
            {
                dropped.Add(property);
            }
        }

        return new SchemaPlan(stored, program, steps, dropped, problems);
    }

    /// <summary>A stored type's properties for messages.</summary>
    public static string Describe(PersistentTypeInfo schema) =>
        $"'{schema.Name}' version {schema.Version} ({string.Join(", ", schema.Properties.Select(Shape))})";

    /// <summary>The changes the plan makes, for messages and tools: added, dropped, renamed, widened.</summary>
    public IEnumerable<string> Changes()
    {
        if (Stored.Version != Program.Version)
        {
            yield return $"version {Stored.Version} to {Program.Version}";
        }

        foreach (var step in Steps)
        {
            if (step.Source is null)
            {
                yield return $"{step.Target.Name} added";
            }
            else if (step.Source.Name != step.Target.Name)
            {
                yield return $"{step.Source.Name} renamed to {step.Target.Name}";
            }

            if (step.Conversion == PropertyConversion.Widen)
            {
                yield return $"{step.Target.Name} widened from {step.Source!.StorageType} to {step.Target.StorageType}";
            }
        }

        foreach (var property in Dropped)
        {
            yield return $"{property.Name} removed";
        }
    }

    private static string Shape(PersistentPropertyInfo property) =>
        property.Target is null ? $"{property.Name}: {property.StorageType}" : $"{property.Name}: {property.StorageType} of '{property.Target}'";

    /// <summary>
    /// Whether a property stored as <paramref name="storedType"/> (referencing <paramref name="storedTarget"/>) is
    /// carried to <paramref name="compiledType"/> (referencing <paramref name="compiledTarget"/>) with no user
    /// migration: the same type and target, or a lossless conversion (<see cref="ValueConversion.CanWiden"/>). The
    /// rules are the README's "Changing your classes"; the generator's lock-file check (PMEM024) mirrors them and a
    /// test holds the two to the same verdict for every pair of stored types.
    /// </summary>
    internal static bool IsAutomatic(string storedType, string? storedTarget, string compiledType, string? compiledTarget) =>
        storedType == compiledType ? storedTarget == compiledTarget : ValueConversion.CanWiden(storedType, compiledType);

    private static PropertyConversion? Convert(PersistentPropertyInfo source, PersistentPropertyInfo target)
    {
        if (!IsAutomatic(source.StorageType, source.Target, target.StorageType, target.Target))
        {
            return null;
        }

        if (source.StorageType == target.StorageType)
        {
            return source.Size == target.Size ? PropertyConversion.Copy : null;
        }

        return PropertyConversion.Widen;
    }
}
