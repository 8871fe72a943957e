// StorageTypeCompatibility -- which changes of a stored property a pool migrates by itself: the runtime's rules, mirrored.
using System;
using System.Collections.Generic;

namespace Pmem.Generators.SchemaLock;

/// <summary>
/// The rule the lock-file check applies (PMEM024): a stored property may change type without a new <c>Version</c>
/// exactly when the runtime converts it by itself on open (<c>SchemaPlan</c> and <c>ValueConversion</c> in
/// <c>Pmem.Core/Pool</c>, which this mirrors table for table; <c>StorageRuleAgreementTests</c> walks every pair of
/// stored types through both and requires the same verdict). The rules are documented once, in the README's
/// "Changing your classes". Types are the canonical stored names of the layout hash (<c>System.Int32</c>,
/// <c>enum:System.Byte</c>, <c>System.Int64?</c>, <c>string</c>, <c>reference</c>, <c>list&lt;…&gt;</c>).
/// </summary>
internal static class StorageTypeCompatibility
{
    private const string EnumPrefix = "enum:";

    private enum Family
    {
        Signed,
        Unsigned,
        Float,
        Decimal,
        Other,
    }

    /// <summary>The scalar stored types, their family and the bits of value they hold exactly (the runtime's table).</summary>
    private static readonly Dictionary<string, (Family Family, int Bits)> s_scalars = new(StringComparer.Ordinal)
    {
        ["System.Boolean"] = (Family.Other, 0),
        ["System.Byte"] = (Family.Unsigned, 8),
        ["System.SByte"] = (Family.Signed, 8),
        ["System.Int16"] = (Family.Signed, 16),
        ["System.UInt16"] = (Family.Unsigned, 16),
        ["System.Char"] = (Family.Other, 0),
        ["System.Half"] = (Family.Float, 11),
        ["System.Int32"] = (Family.Signed, 32),
        ["System.UInt32"] = (Family.Unsigned, 32),
        ["System.Single"] = (Family.Float, 24),
        ["System.Int64"] = (Family.Signed, 64),
        ["System.UInt64"] = (Family.Unsigned, 64),
        ["System.Double"] = (Family.Float, 53),
        ["System.DateTime"] = (Family.Other, 0),
        ["System.TimeSpan"] = (Family.Other, 0),
        ["System.Decimal"] = (Family.Decimal, 96),
        ["System.Guid"] = (Family.Other, 0),
        ["System.DateTimeOffset"] = (Family.Other, 0),
        ["System.Int128"] = (Family.Signed, 128),
        ["System.UInt128"] = (Family.Unsigned, 128),
    };

    /// <summary>
    /// Whether a property stored as <paramref name="locked"/> (referencing <paramref name="lockedTarget"/>) becomes
    /// <paramref name="current"/> (referencing <paramref name="currentTarget"/>) without a user migration: the same type
    /// and target (a changed target is the runtime's refusal too), or a lossless conversion.
    /// </summary>
    public static bool IsAutomatic(string locked, string? lockedTarget, string current, string? currentTarget) =>
        string.Equals(locked, current, StringComparison.Ordinal)
            ? string.Equals(lockedTarget, currentTarget, StringComparison.Ordinal)
            : IsLosslessConversion(locked, current);

    /// <summary>Whether values stored as <paramref name="locked"/> become <paramref name="current"/> without a user migration (targets aside).</summary>
    public static bool IsAutomatic(string locked, string current) =>
        string.Equals(locked, current, StringComparison.Ordinal) || IsLosslessConversion(locked, current);

    /// <summary>The runtime's <c>ValueConversion.CanWiden</c>: both scalars (an enum as its underlying type), no <c>T? → T</c>, a widening or the same scalar.</summary>
    private static bool IsLosslessConversion(string locked, string current)
    {
        if (!TryParse(locked, out var from, out var fromNullable) || !TryParse(current, out var to, out var toNullable) || (fromNullable && !toNullable))
        {
            return false;
        }

        return from == to || Widens(s_scalars[from], s_scalars[to]);
    }

    private static bool Widens((Family Family, int Bits) from, (Family Family, int Bits) to) => (from.Family, to.Family) switch
    {
        (Family.Signed, Family.Signed) or (Family.Unsigned, Family.Unsigned) or (Family.Unsigned, Family.Signed) => to.Bits > from.Bits,
        (Family.Signed, Family.Float) => from.Bits - 1 <= to.Bits, // the sign bit aside, every magnitude is exact
        (Family.Unsigned, Family.Float) => from.Bits <= to.Bits,
        (Family.Float, Family.Float) => to.Bits > from.Bits,
        (Family.Signed, Family.Decimal) or (Family.Unsigned, Family.Decimal) => from.Bits <= 64,
        _ => false,
    };

    /// <summary>The scalar's name without <c>enum:</c> (an enum is stored as its underlying type) and whether it is a <c>T?</c>.</summary>
    private static bool TryParse(string storageType, out string scalar, out bool nullable)
    {
        nullable = storageType.EndsWith("?", StringComparison.Ordinal);
        scalar = nullable ? storageType.Substring(0, storageType.Length - 1) : storageType;
        if (scalar.StartsWith(EnumPrefix, StringComparison.Ordinal))
        {
            scalar = scalar.Substring(EnumPrefix.Length);
        }

        return s_scalars.ContainsKey(scalar);
    }
}
