// NameCollisionChecks -- PMEM019: names the generated part declares or inherits, which the class cannot also use.
using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Emitting;

namespace Pmem.Generators.Parsing;

/// <summary>
/// The names a persistent class cannot use because the generated part declares them or its bodies call inherited
/// members by them (PMEM019).
/// </summary>
internal static class NameCollisionChecks
{
    /// <summary>
    /// PMEM019. The generated part declares <see cref="GeneratedMembersOf"/>, so neither the class nor any of its members
    /// can have their names; and its bodies call the protected members of <c>PersistentObject</c> by their simple
    /// names, so no member can take those either. A persistent property also cannot take the name of any other member
    /// inherited from <c>PersistentObject</c> or <c>object</c>, which its implementation would hide. Colliding
    /// persistent properties are removed from <paramref name="properties"/>.
    /// </summary>
    public static void CheckNames(
        Compilation compilation, INamedTypeSymbol type, Location? typeLocation, List<PersistentPropertyModel> properties, Dictionary<string, Location?> locations, List<DiagnosticInfo> diagnostics)
    {
        var generated = GeneratedMembersOf(properties);
        if (GeneratedMember(type.Name, generated) is { } classCollision)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NameCollision, typeLocation, "class", type.Name, classCollision));
        }

        var persistentObject = compilation.GetTypeByMetadataName(SymbolNames.PersistentObjectMetadataName);
        var persistent = new HashSet<string>(properties.Select(property => property.Name), StringComparer.Ordinal);
        foreach (var member in type.GetMembers())
        {
            if (member.IsImplicitlyDeclared || !member.CanBeReferencedByName || member.IsOverride || persistent.Contains(member.Name))
            {
                continue;
            }

            if ((GeneratedMember(member.Name, generated) ?? InheritedMember(persistentObject, type, member.Name, protectedOnly: true)) is { } collision)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NameCollision, member.Locations.FirstOrDefault(), "member", member.Name, collision));
            }
        }

        properties.RemoveAll(property =>
        {
            var collision = GeneratedMember(property.Name, generated) ?? InheritedMember(persistentObject, type, property.Name, protectedOnly: false);
            if (collision is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NameCollision, locations[property.Name], "persistent property", property.Name, collision));
            }

            return collision is not null;
        });
    }

    /// <summary>The names the generated part declares in every persistent class, and what they are.</summary>
    internal static readonly (string Name, string Description)[] GeneratedMembers =
    [
        (PersistentTypeEmitter.PersistentTypeProperty, $"the property '{PersistentTypeEmitter.PersistentTypeProperty}' that the generator adds to every persistent class"),
        (PersistentTypeEmitter.TypeInfoField, $"the field '{PersistentTypeEmitter.TypeInfoField}' that the generator adds to every persistent class"),
        (PersistentTypeEmitter.RegisterMethod, $"the module initializer '{PersistentTypeEmitter.RegisterMethod}' that the generator adds to every persistent class"),
    ];

    /// <summary>
    /// Every name the generated part of this class declares, with what it is: <see cref="GeneratedMembers"/>, the
    /// <c>NullableSlot&lt;T&gt;</c> struct where a property is a <c>T?</c> value, and a handle field per collection property.
    /// </summary>
    private static Dictionary<string, string> GeneratedMembersOf(List<PersistentPropertyModel> properties)
    {
        var names = GeneratedMembers.ToDictionary(member => member.Name, member => member.Description, StringComparer.Ordinal);
        if (properties.Any(property => property.Kind == PersistentPropertyKind.NullableValue))
        {
            names[PersistentTypeEmitter.NullableSlot] = $"the struct '{PersistentTypeEmitter.NullableSlot}<T>' that the generator adds to classes with nullable value properties";
        }

        foreach (var property in properties.Where(property => property.Kind == PersistentPropertyKind.Collection))
        {
            var field = PersistentTypeEmitter.CollectionHandlePrefix + property.Name;
            names[field] = $"the field '{field}' that the generator adds to keep the handle of the collection property '{property.Name}'";
        }

        return names;
    }

    private static string? GeneratedMember(string name, Dictionary<string, string> generated) =>
        generated.TryGetValue(name, out var description) ? description : null;

    /// <summary>
    /// A member named <paramref name="name"/> that <paramref name="type"/> inherits once it derives from
    /// <c>PersistentObject</c>: any accessible one of it and its bases, or with <paramref name="protectedOnly"/> only
    /// the protected members of <c>PersistentObject</c> itself (what generated bodies call).
    /// </summary>
    private static string? InheritedMember(INamedTypeSymbol? persistentObject, INamedTypeSymbol type, string name, bool protectedOnly)
    {
        for (var baseType = persistentObject; baseType is not null; baseType = protectedOnly ? null : baseType.BaseType)
        {
            foreach (var member in baseType.GetMembers(name))
            {
                var inherited = member.DeclaredAccessibility switch
                {
                    Accessibility.Protected or Accessibility.ProtectedOrInternal => true,
                    Accessibility.Public => !protectedOnly,
                    Accessibility.ProtectedAndInternal => member.ContainingAssembly.GivesAccessTo(type.ContainingAssembly),
                    Accessibility.Internal => !protectedOnly && member.ContainingAssembly.GivesAccessTo(type.ContainingAssembly),
                    _ => false,
                };
                if (inherited && member.CanBeReferencedByName)
                {
                    return $"the inherited member '{member.ToDisplayString()}'";
                }
            }
        }

        return null;
    }
}
