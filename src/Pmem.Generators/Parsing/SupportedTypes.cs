using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Layout;

namespace Pmem.Generators.Parsing;

/// <summary>How a supported property type is stored.</summary>
internal sealed record StorageInfo(PersistentPropertyKind Kind, string StorageType, int Size, int Alignment);

/// <summary>A supported fixed-size value type of the <c>System</c> namespace.</summary>
/// <param name="Keyword">How C# code spells it (<c>int</c>, <c>Half</c>), as PMEM003 lists it.</param>
/// <param name="SpecialType">Its special type, or <see cref="SpecialType.None"/> when it has none (then it is found by name).</param>
/// <param name="TypeName">Its name in <c>System</c> (<c>Int32</c>, <c>Half</c>).</param>
/// <param name="Size">Bytes it occupies: <c>Unsafe.SizeOf&lt;T&gt;()</c> on 64-bit .NET.</param>
/// <param name="ClrAlignment">The runtime's alignment of it, which places the value inside a <c>T?</c>.</param>
internal sealed record ScalarType(string Keyword, SpecialType SpecialType, string TypeName, int Size, int ClrAlignment)
{
    /// <summary>Canonical stored type, hashed into the layout (<c>System.Int32</c>).</summary>
    public string StorageType { get; } = "System." + TypeName;
}

/// <summary>A supported collection type.</summary>
/// <param name="Model">Its element types.</param>
/// <param name="StorageType">Canonical stored type for the layout hash, e.g. <c>list&lt;System.Int32&gt;</c>, <c>dictionary&lt;string,reference&gt;</c>.</param>
/// <param name="RuntimeTypeName">
/// The exact type the runtime member returns, nullable annotations included (<c>PersistentList&lt;string?&gt;</c>,
/// <c>PersistentDictionary&lt;string, T?&gt;</c>): the property must be declared with it.
/// </param>
internal sealed record CollectionInfo(CollectionModel Model, string StorageType, string RuntimeTypeName);

/// <summary>
/// The property types a persistent object can store (README, "Persistent classes") and their sizes. Sizes equal
/// <c>Unsafe.SizeOf&lt;T&gt;()</c> on 64-bit .NET, because the runtime reads and writes each value as a whole <c>T</c>;
/// a test checks this table against the runtime for every entry.
/// </summary>
internal static class SupportedTypes
{
    public const string PersistentObjectAttributeName = "Pmem.Objects.PersistentObjectAttribute";

    /// <summary>
    /// The fixed-size value types a property, a collection element or a key can have (enums and <c>T?</c> forms
    /// aside): the one table that classification, sizes and the PMEM003 messages are read from.
    /// </summary>
    public static readonly ImmutableArray<ScalarType> Scalars =
    [
        new("bool", SpecialType.System_Boolean, "Boolean", 1, 1),
        new("byte", SpecialType.System_Byte, "Byte", 1, 1),
        new("sbyte", SpecialType.System_SByte, "SByte", 1, 1),
        new("short", SpecialType.System_Int16, "Int16", 2, 2),
        new("ushort", SpecialType.System_UInt16, "UInt16", 2, 2),
        new("char", SpecialType.System_Char, "Char", 2, 2),
        new("Half", SpecialType.None, "Half", 2, 2),
        new("int", SpecialType.System_Int32, "Int32", 4, 4),
        new("uint", SpecialType.System_UInt32, "UInt32", 4, 4),
        new("float", SpecialType.System_Single, "Single", 4, 4),
        new("long", SpecialType.System_Int64, "Int64", 8, 8),
        new("ulong", SpecialType.System_UInt64, "UInt64", 8, 8),
        new("double", SpecialType.System_Double, "Double", 8, 8),
        new("DateTime", SpecialType.System_DateTime, "DateTime", 8, 8),
        new("TimeSpan", SpecialType.None, "TimeSpan", 8, 8),

        // decimal is { int flags; uint hi; ulong lo; }: 16 bytes, 8-aligned.
        new("decimal", SpecialType.System_Decimal, "Decimal", 16, 8),

        // Guid is { int; short; short; 8 bytes }: 16 bytes, 4-aligned.
        new("Guid", SpecialType.None, "Guid", 16, 4),

        // DateTimeOffset is { DateTime; short offsetMinutes; }: 16 bytes after padding, 8-aligned.
        new("DateTimeOffset", SpecialType.None, "DateTimeOffset", 16, 8),

        // The runtime gives Int128/UInt128 16-byte alignment on 64-bit platforms (ABI compatibility).
        new("Int128", SpecialType.None, "Int128", 16, 16),
        new("UInt128", SpecialType.None, "UInt128", 16, 16),
    ];

    /// <summary>The end of PMEM003's message for a property type: every supported type, from <see cref="Scalars"/>.</summary>
    public static readonly string GeneralReason =
        $"supported are {ScalarList}, enums, their nullable forms, string, [PersistentObject] classes, PersistentList<T>, PersistentDictionary<TKey, TValue>, PersistentSortedDictionary<TKey, TValue> and PersistentSet<T>";

    /// <summary>The end of PMEM003's message for a collection element, key or value, from <see cref="Scalars"/>.</summary>
    public static readonly string ElementReason =
        $"collection elements are {ScalarList}, enums, string and [PersistentObject] classes";

    private const string PmemObjectsPrefix = "global::Pmem.Objects.";

    private static string ScalarList => string.Join(", ", Scalars.Select(scalar => scalar.Keyword));

    /// <summary>
    /// Whether <paramref name="type"/> is <c>PersistentList&lt;T&gt;</c>, <c>PersistentDictionary&lt;TKey, TValue&gt;</c>,
    /// <c>PersistentSortedDictionary&lt;TKey, TValue&gt;</c> or <c>PersistentSet&lt;T&gt;</c>, whatever its elements.
    /// </summary>
    public static bool IsCollection(ITypeSymbol type) => ShapeOf(type) is not null;

    private static CollectionShape? ShapeOf(ITypeSymbol type) => type is INamedTypeSymbol { IsGenericType: true } named
        ? SymbolNames.Is(named, "PersistentList", SymbolNames.PmemObjects) ? CollectionShape.List
        : SymbolNames.Is(named, "PersistentDictionary", SymbolNames.PmemObjects) ? CollectionShape.Dictionary
        : SymbolNames.Is(named, "PersistentSortedDictionary", SymbolNames.PmemObjects) ? CollectionShape.SortedDictionary
        : SymbolNames.Is(named, "PersistentSet", SymbolNames.PmemObjects) ? CollectionShape.Set
        : null
        : null;

    /// <summary>Scalars with no durable order, refused as sorted keys, set elements and indexed properties (NaN, -0).</summary>
    private static readonly ImmutableArray<string> UnorderedScalars = ["System.Half", "System.Single", "System.Double"];

    /// <summary>The types with a durable order (sorted keys, set elements, indexed properties), as messages list them.</summary>
    public const string OrderedTypes = "integers, enums, char, bool, Guid, DateTime, DateTimeOffset, TimeSpan, decimal, Int128, UInt128 or string";

    /// <summary>
    /// Whether a property stored as <paramref name="storage"/> can be <c>[Indexed]</c>: exactly the sorted-dictionary key
    /// types, because the pool keeps an index as a sorted map from the value. Not floating point (NaN, -0), not
    /// <c>T?</c> (null has no place in the key order), references or collections.
    /// </summary>
    public static bool IsIndexable(StorageInfo storage) =>
        storage.Kind == PersistentPropertyKind.String
        || (storage.Kind == PersistentPropertyKind.Value && !UnorderedScalars.Contains(storage.StorageType));

    /// <summary>Classifies a collection type (<see cref="IsCollection"/>); null with a reason naming the offending element type.</summary>
    public static CollectionInfo? ClassifyCollection(INamedTypeSymbol type, out string? unsupportedReason)
    {
        unsupportedReason = null;
        var arguments = type.TypeArguments;
        var shape = ShapeOf(type) ?? CollectionShape.List;
        if (shape == CollectionShape.List)
        {
            var item = ClassifyElement(arguments[0], "element", out unsupportedReason);
            return item is null
                ? null
                : new CollectionInfo(
                    new CollectionModel(null, item, shape),
                    $"list<{item.StorageType}>",
                    $"{PmemObjectsPrefix}PersistentList<{RuntimeArgument(item)}>");
        }

        var key = ClassifyElement(arguments[0], shape == CollectionShape.Set ? "element" : "key", out unsupportedReason);
        if (key is null)
        {
            return null;
        }

        if (shape is CollectionShape.SortedDictionary or CollectionShape.Set && (key.Kind == CollectionElementKind.Reference || UnorderedScalars.Contains(key.StorageType)))
        {
            // Sorted keys need an order the pool can check without the program: integers, enums, Guid, times, decimal,
            // strings. Floating point has NaN and -0; an object reference has no value order.
            unsupportedReason = $"its {(shape == CollectionShape.Set ? "element" : "key")} type '{arguments[0].WithNullableAnnotation(NullableAnnotation.None).ToDisplayString()}' has no durable order: sorted keys and set elements are {OrderedTypes}";
            return null;
        }

        if (shape == CollectionShape.Set)
        {
            return new CollectionInfo(new CollectionModel(key, key, shape), $"set<{key.StorageType}>", $"{PmemObjectsPrefix}PersistentSet<{key.TypeName}>");
        }

        if (key.Kind == CollectionElementKind.Reference)
        {
            // The runtime hashes and compares keys by their stored bytes or text; an object reference has neither a
            // stable hash nor a value equality the pool could honour.
            unsupportedReason = $"its key type '{arguments[0].WithNullableAnnotation(NullableAnnotation.None).ToDisplayString()}' cannot be a dictionary key: keys are unmanaged values or strings";
            return null;
        }

        var value = ClassifyElement(arguments[1], "value", out unsupportedReason);
        var (storage, runtime) = shape == CollectionShape.SortedDictionary ? ("sorted", "PersistentSortedDictionary") : ("dictionary", "PersistentDictionary");
        return value is null
            ? null
            : new CollectionInfo(
                new CollectionModel(key, value, shape),
                $"{storage}<{key.StorageType},{value.StorageType}>",
                $"{PmemObjectsPrefix}{runtime}<{key.TypeName}, {RuntimeArgument(value)}>");
    }

    /// <summary>Whether the runtime returns <paramref name="kind"/> elements as nullable (strings and references as values, never as keys).</summary>
    public static bool IsNullableElement(CollectionElementKind kind) => kind != CollectionElementKind.Value;

    private static string RuntimeArgument(CollectionElement element) =>
        IsNullableElement(element.Kind) ? element.TypeName + "?" : element.TypeName;

    private static CollectionElement? ClassifyElement(ITypeSymbol type, string role, out string? unsupportedReason)
    {
        unsupportedReason = null;
        var plain = type.WithNullableAnnotation(NullableAnnotation.None);
        if (type.SpecialType == SpecialType.System_String)
        {
            return new CollectionElement(CollectionElementKind.String, "string", "string");
        }

        string? reason;
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T })
        {
            // Collections store unmanaged values as their bytes (an unmanaged constraint), which Nullable<T> is not.
            reason = "nullable value types cannot be collection elements; use the value type itself";
        }
        else if (ClassifyScalar(type, out reason) is { } scalar)
        {
            return new CollectionElement(CollectionElementKind.Value, plain.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat), scalar.StorageType);
        }
        else if (IsPersistentClass(type))
        {
            return new CollectionElement(CollectionElementKind.Reference, plain.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat), "reference");
        }

        unsupportedReason = $"its {role} type '{plain.ToDisplayString()}' cannot be stored in a collection: {reason ?? ElementReason}";
        return null;
    }

    /// <summary>Classifies <paramref name="type"/>; null with a reason when it is not supported.</summary>
    public static StorageInfo? Classify(ITypeSymbol type, out string? unsupportedReason)
    {
        unsupportedReason = null;
        if (type.SpecialType == SpecialType.System_String)
        {
            return new StorageInfo(PersistentPropertyKind.String, "string", 8, 8);
        }

        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            var underlying = ClassifyScalar(nullable.TypeArguments[0], out unsupportedReason);
            if (underlying is null)
            {
                return null;
            }

            // Nullable<T> is { bool hasValue; T value; }: the value sits at T's CLR alignment, and the size stays a
            // multiple of it.
            var (storageType, size, clrAlignment) = underlying.Value;
            var nullableSize = size + clrAlignment;
            return new StorageInfo(PersistentPropertyKind.NullableValue, storageType + "?", nullableSize, LayoutPlanner.AlignmentOf(nullableSize));
        }

        var scalar = ClassifyScalar(type, out unsupportedReason);
        if (scalar is not null)
        {
            var (storageType, size, _) = scalar.Value;
            return new StorageInfo(PersistentPropertyKind.Value, storageType, size, LayoutPlanner.AlignmentOf(size));
        }

        if (IsPersistentClass(type))
        {
            unsupportedReason = null;
            return new StorageInfo(PersistentPropertyKind.Reference, "reference", 8, 8);
        }

        unsupportedReason ??= GeneralReason;
        return null;
    }

    /// <summary>Whether <paramref name="type"/> is a persistent class (annotated here, or generated in a referenced assembly).</summary>
    public static bool IsPersistentClass(ITypeSymbol type) =>
        type is INamedTypeSymbol { TypeKind: TypeKind.Class } named
        && (named.GetAttributes().Any(attribute => SymbolNames.Is(attribute.AttributeClass, "PersistentObjectAttribute", SymbolNames.PmemObjects))
            || named.AllInterfaces.Any(candidate =>
                SymbolNames.Is(candidate, "IPersistentObject", SymbolNames.PmemObjects)
                && candidate.TypeArguments.Length == 1
                && SymbolEqualityComparer.Default.Equals(candidate.TypeArguments[0], named)));

    /// <summary>A fixed-size value: its canonical name, size and CLR alignment.</summary>
    private static (string StorageType, int Size, int ClrAlignment)? ClassifyScalar(ITypeSymbol type, out string? unsupportedReason)
    {
        unsupportedReason = null;
        if (type is INamedTypeSymbol { TypeKind: TypeKind.Enum, EnumUnderlyingType: { } underlying })
        {
            // Stored as the enum itself; renaming the enum leaves the stored bytes, and so the layout hash, unchanged.
            var storage = ClassifyScalar(underlying, out unsupportedReason);
            return storage is null ? null : ("enum:" + storage.Value.StorageType, storage.Value.Size, storage.Value.ClrAlignment);
        }

        if (type.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr)
        {
            unsupportedReason = "its size depends on the process (4 or 8 bytes), so a pool written by one process could not be read by another; use long or ulong";
            return null;
        }

        var scalar = Find(type);
        return scalar is null ? null : (scalar.StorageType, scalar.Size, scalar.ClrAlignment);
    }

    private static ScalarType? Find(ITypeSymbol type)
    {
        if (type.SpecialType != SpecialType.None)
        {
            foreach (var scalar in Scalars)
            {
                if (scalar.SpecialType == type.SpecialType)
                {
                    return scalar;
                }
            }

            return null;
        }

        if (!SymbolNames.Is(type, type.Name, SymbolNames.System))
        {
            return null;
        }

        foreach (var scalar in Scalars)
        {
            if (scalar.SpecialType == SpecialType.None && scalar.TypeName == type.Name)
            {
                return scalar;
            }
        }

        return null;
    }
}
