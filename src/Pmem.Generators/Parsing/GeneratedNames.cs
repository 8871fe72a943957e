// GeneratedNames -- how the names of user symbols become identifiers in generated code and generated file names.
using System;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Parsing;

/// <summary>
/// Turns the names of user symbols into what the generated part may contain: identifiers escaped where they are
/// keywords (<c>@event</c>), and hint names made only of characters every compiler host accepts in a file name.
/// </summary>
internal static class GeneratedNames
{
    private const string Suffix = ".g.cs";

    /// <summary>A namespace as source spells it: <c>@class.Data</c> (keywords escaped, no <c>global::</c>).</summary>
    private static readonly SymbolDisplayFormat NamespaceFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .WithGlobalNamespaceStyle(SymbolDisplayGlobalNamespaceStyle.Omitted)
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers);

    /// <summary>
    /// A name as a C# identifier: reserved and contextual keywords get <c>@</c>. Escaping a contextual keyword is
    /// always legal and spares knowing where it would be one (<c>value</c> and <c>field</c> in accessors).
    /// </summary>
    public static string Identifier(string name) => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

    /// <summary>The containing namespace as an escaped C# name, or null for the global namespace.</summary>
    public static string? Namespace(INamedTypeSymbol type) =>
        type.ContainingNamespace is { IsGlobalNamespace: false } @namespace ? @namespace.ToDisplayString(NamespaceFormat) : null;

    /// <summary>
    /// Whether the class or a type containing it is <c>file</c>-local: a partial declaration in a generated file would
    /// be another type, so the generator cannot complete it (PMEM027).
    /// </summary>
    public static bool IsFileLocal(INamedTypeSymbol type)
    {
        for (var current = type; current is not null; current = current.ContainingType)
        {
            if (current.IsFileLocal)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The generated file's name, from the metadata names of the class, its containing types and namespaces.</summary>
    public static string HintName(INamedTypeSymbol type)
    {
        var name = new StringBuilder(type.MetadataName);
        for (var containing = type.ContainingType; containing is not null; containing = containing.ContainingType)
        {
            name.Insert(0, containing.MetadataName + ".");
        }

        for (var @namespace = type.ContainingNamespace; @namespace is { IsGlobalNamespace: false }; @namespace = @namespace.ContainingNamespace)
        {
            name.Insert(0, @namespace.MetadataName + ".");
        }

        return HintName(name.ToString());
    }

    /// <summary>
    /// <c>Bank.Account.g.cs</c> from <c>Bank.Account</c>. Any character other than an ASCII letter, digit, <c>_</c>,
    /// <c>.</c> or <c>`</c> (a generic arity) becomes <c>_</c> (a file-local class's <c>&lt;Input0&gt;F…__Hidden</c>,
    /// <c>Café</c>), and the name then ends in <c>-</c> and a hash of the original: no metadata name contains
    /// <c>-</c>, so such a name meets neither an untouched one nor, short of a 64-bit hash collision, another replaced one.
    /// </summary>
    public static string HintName(string metadataName)
    {
        var safe = new StringBuilder(metadataName.Length);
        foreach (var c in metadataName)
        {
            safe.Append(c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.' or '`' ? c : '_');
        }

        if (safe.ToString() != metadataName)
        {
            safe.Append('-').Append(Fnv1a(metadataName).ToString("x16", CultureInfo.InvariantCulture));
        }

        return safe.Append(Suffix).ToString();
    }

    /// <summary>
    /// The hint names that another class's name equals but for case. The compiler compares hint names ignoring case
    /// (they become file names), so a second <c>Data.item.g.cs</c> beside <c>Data.Item.g.cs</c> would throw in
    /// <c>AddSource</c> and leave the whole project without generated code.
    /// </summary>
    public static EquatableArray<string> CaseClashes(ImmutableArray<string> hintNames) =>
        hintNames
            .GroupBy(name => name, StringComparer.OrdinalIgnoreCase)
            .Where(group => group.Distinct(StringComparer.Ordinal).Count() > 1)
            .SelectMany(group => group.Distinct(StringComparer.Ordinal))
            .OrderBy(name => name, StringComparer.Ordinal)
            .ToEquatableArray();

    /// <summary>
    /// <paramref name="hintName"/>, or where it is among <paramref name="caseClashes"/> the name with <c>-</c> and a
    /// hash of its exact spelling before <c>.g.cs</c>, which differs between names that differ only in case.
    /// </summary>
    public static string Unique(string hintName, EquatableArray<string> caseClashes)
    {
        if (!caseClashes.Contains(hintName))
        {
            return hintName;
        }

        var stem = hintName.Substring(0, hintName.Length - Suffix.Length);
        return stem + "-" + Fnv1a(stem).ToString("x16", CultureInfo.InvariantCulture) + Suffix;
    }

    /// <summary>FNV-1a (64-bit) over UTF-16 code units: stable across hosts, unlike <c>string.GetHashCode</c>.</summary>
    private static ulong Fnv1a(string text)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var c in text)
        {
            hash = unchecked((hash ^ c) * 0x100000001b3UL);
        }

        return hash;
    }
}
