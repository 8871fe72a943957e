// SchemaParser -- what a class declares for schema evolution: durable names, the version and former property names.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Parsing;

/// <summary>
/// Reads what a pool's schema records beyond the layout: the durable name of a class and of the classes its references
/// point to, the class's version (<c>[PersistentObject(Version = n)]</c>) and the former names of its properties
/// (<c>[RenamedFrom("Old")]</c>), and checks them (PMEM014, PMEM022, PMEM023).
/// </summary>
internal static class SchemaParser
{
    /// <summary>The version of a class that does not set <c>Version</c>.</summary>
    public const int DefaultVersion = 1;

    /// <summary>
    /// The durable name of a persistent class a reference points to, computed as for the class itself
    /// (<see cref="ReadDurableName"/>): its <c>[PersistentObject(Name = ...)]</c>, or its full C# name when the name is
    /// not set or empty. A class of a referenced assembly keeps its attribute in metadata, so the same rule applies.
    /// </summary>
    public static string DurableNameOf(INamedTypeSymbol type)
    {
        foreach (var attribute in type.GetAttributes())
        {
            if (SymbolNames.Is(attribute.AttributeClass, "PersistentObjectAttribute", SymbolNames.PmemObjects)
                && NamedArgument(attribute, "Name") is string name
                && !string.IsNullOrWhiteSpace(name))
            {
                return name;
            }
        }

        // The type of a property is annotated (Customer?); the durable name is the class's own, without the annotation.
        return type.WithNullableAnnotation(NullableAnnotation.None).ToDisplayString();
    }

    /// <summary>The durable name of the attributed class: <c>Name</c>, or the full C# name; an empty <c>Name</c> is PMEM014.</summary>
    public static string ReadDurableName(AttributeData attribute, string displayName, Location? location, List<DiagnosticInfo> diagnostics)
    {
        if (NamedArgument(attribute, "Name") is not string name)
        {
            return displayName;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EmptyDurableName, location, displayName));
            return displayName;
        }

        return name;
    }

    /// <summary>The class's <c>Version</c>, <see cref="DefaultVersion"/> when not set; below 1 is PMEM022.</summary>
    public static int ReadVersion(AttributeData attribute, string displayName, Location? location, List<DiagnosticInfo> diagnostics)
    {
        if (NamedArgument(attribute, "Version") is not int version)
        {
            return DefaultVersion;
        }

        if (version < 1)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.InvalidVersion, location, displayName, version.ToString(CultureInfo.InvariantCulture)));
        }

        return version;
    }

    /// <summary>The names of the property's <c>[RenamedFrom]</c> attributes in declaration order (a null name reads as empty).</summary>
    public static EquatableArray<string> ReadFormerNames(IPropertySymbol property)
    {
        List<string>? names = null;
        foreach (var attribute in property.GetAttributes())
        {
            if (SymbolNames.Is(attribute.AttributeClass, "RenamedFromAttribute", SymbolNames.PmemObjects)
                && attribute.ConstructorArguments.Length == 1)
            {
                (names ??= []).Add(attribute.ConstructorArguments[0].Value as string ?? string.Empty);
            }
        }

        return names is null ? EquatableArray<string>.Empty : names.ToEquatableArray();
    }

    /// <summary>
    /// PMEM023: a former name must name a property that no longer exists, once. It cannot be empty, the property's own
    /// name, the name of another stored property of the class, repeated, or claimed by two properties: in each case a
    /// pool could not tell which property its stored values belong to.
    /// </summary>
    public static void CheckFormerNames(IReadOnlyList<PersistentPropertyModel> properties, Dictionary<string, Location?> locations, List<DiagnosticInfo> diagnostics)
    {
        var current = new HashSet<string>(properties.Select(property => property.Name), StringComparer.Ordinal);
        var claimedBy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in properties)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var former in property.FormerNames)
            {
                var problem =
                    string.IsNullOrWhiteSpace(former) ? "names no property; give the name the property was stored under"
                    : former == property.Name ? "names the property itself; remove it"
                    : current.Contains(former) ? $"names the persistent property '{former}', which still exists; a pool could not tell which property its stored values belong to"
                    : !seen.Add(former) ? "is repeated; remove the copy"
                    : claimedBy.TryGetValue(former, out var other) ? $"names a former name that '{other}' also claims; the stored values can go to one property only"
                    : null;
                if (problem is null)
                {
                    claimedBy[former] = property.Name;
                    continue;
                }

                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidFormerName, locations[property.Name], former, property.Name, problem));
            }
        }
    }

    /// <summary>The value of an attribute's named argument (<c>Name = ...</c>), or null when it is not set.</summary>
    internal static object? NamedArgument(AttributeData attribute, string name)
    {
        foreach (var argument in attribute.NamedArguments)
        {
            if (argument.Key == name)
            {
                return argument.Value.Value;
            }
        }

        return null;
    }
}
