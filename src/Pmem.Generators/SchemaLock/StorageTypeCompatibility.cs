// StorageTypeCompatibility -- which changes of a property's stored type a pool migrates by itself (the widenings).
using System;
using System.Collections.Generic;

namespace Pmem.Generators.SchemaLock;

/// <summary>
/// The rule the lock-file check applies (PMEM024): a stored type may change without a new <c>Version</c> only when
/// every old value has an exact new value, which the pool converts when it opens. Types are the canonical stored
/// names the layout hash uses (<c>System.Int32</c>, <c>enum:System.Byte</c>, <c>System.Int64?</c>, <c>string</c>, …).
/// </summary>
/// <remarks>
/// Automatic: the same type; a wider integer of the same signedness (<c>int → long</c>, <c>short/byte → int/long</c>);
/// an unsigned integer to a wider one, signed or not (<c>uint → long</c>, <c>ushort → ulong</c>); <c>float → double</c>;
/// <c>T → T?</c> and <c>T? → U?</c> for each of those (<c>int → long?</c>); and the same for the underlying types of
/// an enum that stays an enum. Everything else needs a migration: narrowing, signed to unsigned, integer to floating
/// point, <c>T? → T</c>, a number to or from an enum, string, reference or collection changes (a collection's element
/// types must stay the same).
/// </remarks>
internal static class StorageTypeCompatibility
{
    private const string EnumPrefix = "enum:";

    /// <summary>Each widenable type and the types it widens to, besides itself.</summary>
    private static readonly Dictionary<string, string[]> s_widenings = new(StringComparer.Ordinal)
    {
        ["System.SByte"] = ["System.Int16", "System.Int32", "System.Int64"],
        ["System.Int16"] = ["System.Int32", "System.Int64"],
        ["System.Int32"] = ["System.Int64"],
        ["System.Byte"] = ["System.Int16", "System.UInt16", "System.Int32", "System.UInt32", "System.Int64", "System.UInt64"],
        ["System.UInt16"] = ["System.Int32", "System.UInt32", "System.Int64", "System.UInt64"],
        ["System.UInt32"] = ["System.Int64", "System.UInt64"],
        ["System.Single"] = ["System.Double"],
    };

    /// <summary>Whether values stored as <paramref name="locked"/> become <paramref name="current"/> without a user migration.</summary>
    public static bool IsAutomatic(string locked, string current)
    {
        if (string.Equals(locked, current, StringComparison.Ordinal))
        {
            return true;
        }

        // T → T? keeps every value; T? → T would lose the nulls.
        var lockedNullable = locked.EndsWith("?", StringComparison.Ordinal);
        var currentNullable = current.EndsWith("?", StringComparison.Ordinal);
        if (lockedNullable && !currentNullable)
        {
            return false;
        }

        var lockedValue = lockedNullable ? locked.Substring(0, locked.Length - 1) : locked;
        var currentValue = currentNullable ? current.Substring(0, current.Length - 1) : current;
        if (string.Equals(lockedValue, currentValue, StringComparison.Ordinal))
        {
            return true;
        }

        // An enum may widen its underlying type; a number becoming an enum (or the reverse) changes what it means.
        var lockedIsEnum = lockedValue.StartsWith(EnumPrefix, StringComparison.Ordinal);
        if (lockedIsEnum != currentValue.StartsWith(EnumPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (lockedIsEnum)
        {
            lockedValue = lockedValue.Substring(EnumPrefix.Length);
            currentValue = currentValue.Substring(EnumPrefix.Length);
        }

        return s_widenings.TryGetValue(lockedValue, out var wider) && Array.IndexOf(wider, currentValue) >= 0;
    }
}
