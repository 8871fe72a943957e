// DurableNameCollisions -- PMEM021: two persistent classes of one compilation with the same durable name.
using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Parsing;

/// <summary>
/// Finds persistent classes that claim the same durable name. A pool identifies a type by its durable name alone, so
/// two such classes would read each other's objects; the check needs every class of the compilation at once, so it
/// runs over the small <see cref="DurableNameClaim"/> values rather than the models.
/// </summary>
internal static class DurableNameCollisions
{
    /// <summary>One PMEM021 at each class that shares its durable name (compared ordinally, as pools compare names) with another.</summary>
    public static EquatableArray<DiagnosticInfo> Find(ImmutableArray<DurableNameClaim> claims)
    {
        var diagnostics = new List<DiagnosticInfo>();
        foreach (var sharing in claims.GroupBy(claim => claim.DurableName, StringComparer.Ordinal).Where(group => group.Count() > 1))
        {
            var classes = ListNames(sharing.Select(claim => claim.ClassName).OrderBy(name => name, StringComparer.Ordinal).ToList());
            foreach (var claim in sharing)
            {
                diagnostics.Add(new DiagnosticInfo(
                    DiagnosticDescriptors.DuplicateDurableName, claim.Location, new[] { classes, sharing.Key }.ToEquatableArray()));
            }
        }

        return diagnostics.ToEquatableArray();
    }

    /// <summary><c>'A' and 'B'</c>, <c>'A', 'B' and 'C'</c>.</summary>
    private static string ListNames(IReadOnlyList<string> names)
    {
        var quoted = names.Select(name => $"'{name}'").ToList();
        return quoted.Count == 1 ? quoted[0] : string.Join(", ", quoted.Take(quoted.Count - 1)) + " and " + quoted[quoted.Count - 1];
    }
}
