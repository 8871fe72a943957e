// IndexParser -- [Indexed] on a persistent property: its kind, and whether the property's type can be indexed (PMEM026).
using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace Pmem.Generators.Parsing;

/// <summary>
/// Reads <c>[Indexed]</c> / <c>[Indexed(Unique = true, Hashed = true)]</c> into a <see cref="PropertyIndexKind"/> (a plain value, so the
/// model stays equatable) and refuses it on a type the pool cannot keep in a sorted index.
/// </summary>
internal static class IndexParser
{
    /// <summary>The property's index kind; <see cref="PropertyIndexKind.None"/> without the attribute.</summary>
    public static PropertyIndexKind Read(IPropertySymbol property)
    {
        foreach (var attribute in property.GetAttributes())
        {
            if (SymbolNames.Is(attribute.AttributeClass, "IndexedAttribute", SymbolNames.PmemObjects))
            {
                var unique = SchemaParser.NamedArgument(attribute, "Unique") is true;
                return SchemaParser.NamedArgument(attribute, "Hashed") is true
                    ? unique ? PropertyIndexKind.HashedUnique : PropertyIndexKind.Hashed
                    : unique ? PropertyIndexKind.Unique : PropertyIndexKind.Indexed;
            }
        }

        return PropertyIndexKind.None;
    }

    /// <summary>
    /// Whether an index of <paramref name="kind"/> fits a property stored as <paramref name="storage"/> (null for a
    /// collection, which never does); if not, adds PMEM026.
    /// </summary>
    public static bool Check(IPropertySymbol property, PropertyIndexKind kind, StorageInfo? storage, Location? location, List<DiagnosticInfo> diagnostics)
    {
        if (kind == PropertyIndexKind.None || (storage is not null && SupportedTypes.IsIndexable(storage)))
        {
            return true;
        }

        diagnostics.Add(DiagnosticInfo.Create(
            DiagnosticDescriptors.UnindexableType, location, property.Name, property.Type.ToDisplayString(), SupportedTypes.OrderedTypes));
        return false;
    }
}
