using Microsoft.CodeAnalysis;

namespace Pmem.Generators.Parsing;

/// <summary>
/// Name checks that walk the symbol instead of formatting it: the transform runs for every persistent class after
/// every edit, and <c>ToDisplayString</c> allocates a string per call.
/// </summary>
internal static class SymbolNames
{
    public const string PersistentObjectMetadataName = "Pmem.Objects.PersistentObject";

    public static readonly string[] PmemObjects = ["Pmem", "Objects"];
    public static readonly string[] System = ["System"];

    /// <summary>Whether <paramref name="type"/> is the top-level type <paramref name="name"/> in <paramref name="namespaceParts"/>.</summary>
    public static bool Is(ITypeSymbol? type, string name, string[] namespaceParts)
    {
        if (type is null || type.Name != name || type.ContainingType is not null)
        {
            return false;
        }

        var current = type.ContainingNamespace;
        for (var i = namespaceParts.Length - 1; i >= 0; i--)
        {
            if (current is null || current.Name != namespaceParts[i])
            {
                return false;
            }

            current = current.ContainingNamespace;
        }

        return current is { IsGlobalNamespace: true };
    }
}
