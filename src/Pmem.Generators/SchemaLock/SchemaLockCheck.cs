// SchemaLockCheck -- PMEM024/PMEM025: a class whose stored properties changed incompatibly since the lock file, at the same Version.
using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Pmem.Generators.Helpers;
using Pmem.Generators.Parsing;

namespace Pmem.Generators.SchemaLock;

/// <summary>
/// Compares each class with the schema lock file (<see cref="LockedSchema"/>): at the version the file records, a stored
/// property may be added, removed, moved, regrouped, converted without loss (<see cref="StorageTypeCompatibility"/>)
/// or renamed with <c>[RenamedFrom]</c>, which pools migrate by themselves; changing its type otherwise (or a
/// reference's target) needs a user migration, so a new <c>Version</c>, and is reported (PMEM024). These are the
/// runtime's rules exactly: the check warns of what <c>PersistentPool.Open</c> would refuse, and of nothing else.
/// </summary>
internal static class SchemaLockCheck
{
    /// <summary>The lock file among the <c>AdditionalFiles</c>: none, the one, or a schema whose problem is that there are several.</summary>
    public static LockedSchema? Choose(ImmutableArray<LockedSchema> files) => files.Length switch
    {
        0 => null,
        1 => files[0],
        _ => new LockedSchema(
            files.Select(file => file.Path).OrderBy(path => path, StringComparer.Ordinal).First(),
            EquatableArray<LockedType>.Empty,
            $"the project has {files.Length} files named {LockedSchema.FileName} among its AdditionalFiles, and one is expected"),
    };

    /// <summary>PMEM025 when the lock file cannot be used, else nothing.</summary>
    public static EquatableArray<DiagnosticInfo> ReadProblems(LockedSchema? schema) =>
        schema?.Problem is { } problem
            ? new[] { DiagnosticInfo.Create(DiagnosticDescriptors.UnreadableSchemaLock, null, schema.Path, problem) }.ToEquatableArray()
            : EquatableArray<DiagnosticInfo>.Empty;

    /// <summary>
    /// PMEM024 for each property of the class that the lock file records and that changed its stored type (or target)
    /// in a way pools do not convert by themselves, while the class's version is still the recorded one. Classes with errors are not checked (their
    /// erroneous properties are missing from the model).
    /// </summary>
    public static EquatableArray<DiagnosticInfo> Check(ParsedClass parsed, LockedSchema? schema)
    {
        var model = parsed.Model;
        if (schema is null || schema.Problem is not null || !model.CanGenerate || schema.Find(model.DurableName) is not { } locked || locked.Version != model.Version)
        {
            return EquatableArray<DiagnosticInfo>.Empty;
        }

        var byName = model.Properties.ToDictionary(property => property.Name, StringComparer.Ordinal);
        var diagnostics = new List<DiagnosticInfo>();
        foreach (var recorded in locked.Properties)
        {
            var current = byName.TryGetValue(recorded.Name, out var same)
                ? same
                : model.Properties.FirstOrDefault(property => property.FormerNames.Contains(recorded.Name, StringComparer.Ordinal));
            if (current is null)
            {
                continue; // removed: pools drop it by themselves (its strings and collections are freed), as the runtime does
            }

            if (!StorageTypeCompatibility.IsAutomatic(recorded.StorageType, recorded.Target, current.StorageType, current.Target))
            {
                var change = recorded.StorageType == current.StorageType
                    ? $"stores the property {Describe(recorded.Name, current.Name)} as a reference to '{current.Target}' instead of '{recorded.Target}'"
                    : $"stores the property {Describe(recorded.Name, current.Name)} as '{current.StorageType}' instead of '{recorded.StorageType}'";
                var arguments = new[] { parsed.Claim.ClassName, change, model.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), LockedSchema.FileName };
                diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.ChangeNeedsMigration, parsed.Claim.Location, arguments.ToEquatableArray()));
            }
        }

        return diagnostics.ToEquatableArray();
    }

    private static string Describe(string recordedName, string currentName) =>
        recordedName == currentName ? $"'{currentName}'" : $"'{recordedName}' (now '{currentName}')";
}
