using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Pmem.Generators.Helpers;
using Pmem.Generators.Layout;

namespace Pmem.Generators.Parsing;

/// <summary>Turns an attributed class symbol into a <see cref="PersistentTypeModel"/> and its diagnostics.</summary>
internal static class PersistentTypeParser
{
    /// <summary>Fully qualified, with nullable reference annotations: how generated declarations spell a property type.</summary>
    internal static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>The syntax predicate: cheap, no semantic model.</summary>
    public static bool IsCandidate(SyntaxNode node, CancellationToken cancellationToken) => node is ClassDeclarationSyntax or RecordDeclarationSyntax;

    /// <summary>Builds the model and the durable-name claim; null for targets the compiler already rejects (the attribute on a struct).</summary>
    public static ParsedClass? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol { TypeKind: TypeKind.Class } type)
        {
            return null;
        }

        var diagnostics = new List<DiagnosticInfo>();
        // The attributed declaration, not whichever part of a multi-part class the symbol lists first.
        var typeLocation = (context.TargetNode as TypeDeclarationSyntax)?.Identifier.GetLocation() ?? type.Locations.FirstOrDefault();
        var displayName = type.ToDisplayString();

        CheckClass(context, type, typeLocation, displayName, diagnostics);
        var attribute = context.Attributes[0];
        var durableName = SchemaParser.ReadDurableName(attribute, displayName, typeLocation, diagnostics);
        var version = SchemaParser.ReadVersion(attribute, displayName, typeLocation, diagnostics);

        var properties = new List<PersistentPropertyModel>();
        var propertyLocations = new Dictionary<string, Location?>(StringComparer.Ordinal);
        foreach (var member in type.GetMembers())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (member is IPropertySymbol { IsRequired: true } or IFieldSymbol { IsRequired: true })
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RequiredMember, member.Locations.FirstOrDefault(), member.Name));
                continue;
            }

            if (member is IFieldSymbol { IsStatic: false, IsConst: false } field && !type.IsRecord) // a record is refused (PMEM006)
            {
                if (WrapperStateHolder(field) is { } holder)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.WrapperState, holder.Symbol.Locations.FirstOrDefault(), holder.Kind, holder.Symbol.Name));
                }

                continue;
            }

            if (member is IPropertySymbol property && ParseProperty(property, diagnostics) is { } model)
            {
                properties.Add(model);
                propertyLocations[model.Name] = property.Locations.FirstOrDefault();
            }
        }

        NameCollisionChecks.CheckNames(context.SemanticModel.Compilation, type, typeLocation, properties, propertyLocations, diagnostics);
        CheckGroups(properties, propertyLocations, diagnostics);
        SchemaParser.CheckFormerNames(properties, propertyLocations, diagnostics);

        var @namespace = GeneratedNames.Namespace(type);
        var fullyQualifiedName = type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        var hintName = GeneratedNames.HintName(type);
        var typeModel = new PersistentTypeModel(
            @namespace,
            GeneratedNames.Identifier(type.Name),
            fullyQualifiedName,
            hintName,
            AccessibilityKeywords(type.DeclaredAccessibility),
            durableName,
            version,
            properties.ToEquatableArray(),
            diagnostics.ToEquatableArray());

        if (!typeModel.CanGenerate)
        {
            typeModel = typeModel with { Refused = RefusedTypeParser.Parse(context, type, @namespace, hintName, fullyQualifiedName, diagnostics, cancellationToken) };
        }

        return new ParsedClass(typeModel, new DurableNameClaim(durableName, displayName, LocationInfo.From(typeLocation)));
    }

    private static void CheckClass(GeneratorAttributeSyntaxContext context, INamedTypeSymbol type, Location? location, string displayName, List<DiagnosticInfo> diagnostics)
    {
        if (type.IsRecord)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.RecordClass, location, displayName));
        }

        if (context.TargetNode is TypeDeclarationSyntax declaration && !declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ClassNotPartial, declaration.Identifier.GetLocation(), displayName));
        }

        if (type.IsGenericType)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GenericClass, location, displayName));
        }

        if (type.ContainingType is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.NestedClass, location, displayName));
        }

        if (GeneratedNames.IsFileLocal(type))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.FileLocalClass, location, displayName));
        }

        if (type.IsStatic || type.IsAbstract)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.AbstractOrStaticClass, location, displayName, type.IsStatic ? "static" : "abstract"));
        }

        // Records have a compiler-chosen base; they already have PMEM006.
        if (!type.IsRecord
            && type.BaseType is { SpecialType: not SpecialType.System_Object } baseType
            && !SymbolNames.Is(baseType, "PersistentObject", SymbolNames.PmemObjects))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ExplicitBaseClass, location, displayName, baseType.ToDisplayString()));
        }

        foreach (var constructor in type.InstanceConstructors.Where(constructor => !constructor.IsImplicitlyDeclared))
        {
            // A record's primary constructor is reported as PMEM006 already.
            if (!type.IsRecord)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ExplicitConstructor, constructor.Locations.FirstOrDefault(), displayName));
            }
        }
    }

    /// <summary>
    /// What PMEM020 names for an instance field: the auto-property it backs, or the field itself; null for a field that
    /// is not ordinary state the user wrote — the backing field of a persisted partial property (given one by an
    /// initializer the compiler already rejects, CS8050) or a compiler field such as a captured primary-constructor
    /// parameter (<c>&lt;y&gt;P</c>, whose constructor is PMEM011).
    /// </summary>
    private static (string Kind, ISymbol Symbol)? WrapperStateHolder(IFieldSymbol field)
    {
        if (field.AssociatedSymbol is IPropertySymbol property)
        {
            return IsPersisted(property) ? null : ("auto-property", property);
        }

        return field.IsImplicitlyDeclared || !field.CanBeReferencedByName ? null : ("field", field);
    }

    /// <summary>A partial definition the user left to the generator: the properties the pool stores.</summary>
    private static bool IsPersisted(IPropertySymbol property) =>
        !property.IsIndexer && property.IsPartialDefinition && property.PartialImplementationPart is null;

    private static PersistentPropertyModel? ParseProperty(IPropertySymbol property, List<DiagnosticInfo> diagnostics)
    {
        var location = property.Locations.FirstOrDefault();
        var group = ReadGroup(property);

        // A non-partial property, or one the user implemented, is an ordinary member the pool does not store.
        if (!IsPersisted(property))
        {
            if (group is not null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GroupOnNonPersistentProperty, location, property.Name));
            }

            return null;
        }

        if (property.IsStatic)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.StaticProperty, location, property.Name));
            return null;
        }

        var index = IndexParser.Read(property);
        if (SupportedTypes.IsCollection(property.Type))
        {
            var collection = ParseCollectionProperty(property, (INamedTypeSymbol)property.Type, group, location, diagnostics);
            return IndexParser.Check(property, index, null, location, diagnostics) ? collection : null;
        }

        if (property.GetMethod is null || property.SetMethod is null || property.SetMethod.IsInitOnly)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PropertyAccessors, location, property.Name));
            return null;
        }

        var storage = SupportedTypes.Classify(property.Type, out var unsupportedReason);
        if (storage is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.UnsupportedType, location, property.Name, property.Type.ToDisplayString(), unsupportedReason ?? string.Empty));
            return null;
        }

        if (!IndexParser.Check(property, index, storage, location, diagnostics))
        {
            return null;
        }

        var isReference = storage.Kind is PersistentPropertyKind.String or PersistentPropertyKind.Reference;
        var isNullable = !isReference || property.Type.NullableAnnotation == NullableAnnotation.Annotated;
        if (isReference && property.Type.NullableAnnotation == NullableAnnotation.NotAnnotated)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.NonNullableReference, location, property.Name, property.Type.WithNullableAnnotation(NullableAnnotation.None).ToDisplayString()));
        }

        var accessibility = AccessibilityKeywords(property.DeclaredAccessibility);
        return new PersistentPropertyModel(
            property.Name,
            storage.Kind,
            property.Type.ToDisplayString(TypeFormat),
            AccessTypeName(property.Type, storage.Kind),
            storage.StorageType,
            storage.Size,
            storage.Alignment,
            group,
            accessibility,
            AccessorKeywords(property.GetMethod, property.DeclaredAccessibility),
            AccessorKeywords(property.SetMethod, property.DeclaredAccessibility),
            property.IsVirtual,
            isNullable,
            Target: storage.Kind == PersistentPropertyKind.Reference ? SchemaParser.DurableNameOf((INamedTypeSymbol)property.Type) : null,
            FormerNames: SchemaParser.ReadFormerNames(property),
            Index: index);
    }

    private static PersistentPropertyModel? ParseCollectionProperty(
        IPropertySymbol property, INamedTypeSymbol type, string? group, Location? location, List<DiagnosticInfo> diagnostics)
    {
        if (property.SetMethod is not null || property.GetMethod is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.CollectionSetter, location, property.Name));
            return null;
        }

        var collection = SupportedTypes.ClassifyCollection(type, out var unsupportedReason);
        if (collection is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.UnsupportedType, location, property.Name, type.ToDisplayString(), unsupportedReason ?? string.Empty));
            return null;
        }

        // The getter returns the runtime's type as it is; a declaration differing in element nullability would need a
        // null-forgiving conversion that hides the nulls a collection can hold (any string or object element can be
        // stored as null). Oblivious declarations accept either.
        var valueArgument = type.TypeArguments[type.TypeArguments.Length - 1];
        var mismatch = HasOtherNullability(valueArgument, collection.Model.HasNullableValues)
            || (collection.Model.IsDictionary && HasOtherNullability(type.TypeArguments[0], expectedAnnotated: false));
        if (mismatch)
        {
            diagnostics.Add(DiagnosticInfo.Create(
                DiagnosticDescriptors.CollectionNullability, location, property.Name, collection.RuntimeTypeName.Replace("global::Pmem.Objects.", string.Empty).Replace("global::", string.Empty)));
            return null;
        }

        var declaredTypeName = collection.RuntimeTypeName + (type.NullableAnnotation == NullableAnnotation.Annotated ? "?" : string.Empty);
        return new PersistentPropertyModel(
            property.Name,
            PersistentPropertyKind.Collection,
            declaredTypeName,
            declaredTypeName,
            collection.StorageType,
            8,
            8,
            group,
            AccessibilityKeywords(property.DeclaredAccessibility),
            null,
            null,
            property.IsVirtual,
            true,
            collection.Model,
            collection.Model.Value.Kind == CollectionElementKind.Reference ? SchemaParser.DurableNameOf((INamedTypeSymbol)valueArgument) : null,
            SchemaParser.ReadFormerNames(property));
    }

    /// <summary>Whether a reference-type argument is annotated differently than expected (oblivious matches anything).</summary>
    private static bool HasOtherNullability(ITypeSymbol argument, bool expectedAnnotated) =>
        argument.IsReferenceType
        && argument.NullableAnnotation != NullableAnnotation.None
        && (argument.NullableAnnotation == NullableAnnotation.Annotated) != expectedAnnotated;

    private static string AccessTypeName(ITypeSymbol type, PersistentPropertyKind kind) =>
        (kind == PersistentPropertyKind.NullableValue ? ((INamedTypeSymbol)type).TypeArguments[0] : type.WithNullableAnnotation(NullableAnnotation.None))
            .ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);

    private static string? ReadGroup(IPropertySymbol property)
    {
        foreach (var attribute in property.GetAttributes())
        {
            if (SymbolNames.Is(attribute.AttributeClass, "CacheLineGroupAttribute", SymbolNames.PmemObjects)
                && attribute.ConstructorArguments.Length == 1)
            {
                return attribute.ConstructorArguments[0].Value as string;
            }
        }

        return null;
    }

    private static void CheckGroups(List<PersistentPropertyModel> properties, Dictionary<string, Location?> locations, List<DiagnosticInfo> diagnostics)
    {
        var groups = properties.Where(property => property.Group is not null).GroupBy(property => property.Group!, StringComparer.Ordinal).ToList();
        foreach (var group in groups)
        {
            var size = LayoutPlanner.MeasureGroup(group.Select(ToLayoutField));
            if (size > LayoutPlanner.CacheLineSize)
            {
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.OversizedGroup, locations[group.First().Name], group.Key, size.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        foreach (var spellings in groups.GroupBy(group => group.Key, StringComparer.OrdinalIgnoreCase).Where(spellings => spellings.Count() > 1))
        {
            var first = spellings.First();
            foreach (var other in spellings.Skip(1))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.GroupNamesDifferInCase, locations[other.First().Name], first.Key, other.Key));
            }
        }
    }

    /// <summary>Keywords followed by a space, or nothing.</summary>
    internal static string Prefix(string? keywords) => keywords is null ? string.Empty : keywords + " ";

    /// <summary>The layout's view of a property.</summary>
    public static LayoutField ToLayoutField(PersistentPropertyModel property) =>
        new(property.Name, property.StorageType, property.Size, property.Alignment, property.Group);

    /// <summary>An accessor's accessibility keywords when they differ from its property's, else null.</summary>
    internal static string? AccessorKeywords(IMethodSymbol accessor, Accessibility propertyAccessibility) =>
        accessor.DeclaredAccessibility == propertyAccessibility ? null : AccessibilityKeywords(accessor.DeclaredAccessibility);

    private static string AccessibilityKeywords(Accessibility accessibility) => accessibility switch
    {
        Accessibility.Public => "public",
        Accessibility.Protected => "protected",
        Accessibility.ProtectedOrInternal => "protected internal",
        Accessibility.ProtectedAndInternal => "private protected",
        Accessibility.Private => "private",
        _ => "internal",
    };
}
