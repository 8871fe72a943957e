using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Pmem.Generators.Emitting;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Parsing;

/// <summary>
/// For a class with errors, the part that keeps the compiler from adding errors of its own (<see cref="RefusedTypeModel"/>):
/// the partial property declarations to implement, and whether the class can still derive from <c>PersistentObject</c>.
/// </summary>
internal static class RefusedTypeParser
{
    /// <summary>
    /// The part to generate for a class with errors (<see cref="RefusedTypeModel"/>), or null when no part can be
    /// added (the class or a type containing it is not partial everywhere, as with PMEM001) or none is needed.
    /// </summary>
    public static RefusedTypeModel? Parse(
        GeneratorAttributeSyntaxContext context,
        INamedTypeSymbol type,
        string? @namespace,
        string hintName,
        string fullyQualifiedName,
        IEnumerable<DiagnosticInfo> diagnostics,
        CancellationToken cancellationToken)
    {
        // A partial declaration in the generated file would declare another type, not complete this one (PMEM027).
        if (GeneratedNames.IsFileLocal(type))
        {
            return null;
        }

        var containingTypes = new List<string>();
        for (var containing = type.ContainingType; containing is not null; containing = containing.ContainingType)
        {
            if (!IsPartialEverywhere(containing, cancellationToken))
            {
                return null;
            }

            containingTypes.Insert(0, Declaration(containing));
        }

        if (!IsPartialEverywhere(type, cancellationToken))
        {
            return null;
        }

        var stubs = new List<PropertyStubModel>();
        foreach (var member in type.GetMembers())
        {
            cancellationToken.ThrowIfCancellationRequested();

            // A property of an unknown type already has the compiler's CS0246; implementing it would repeat that error in
            // the generated file, so that property keeps its CS9248 instead.
            if (member is IPropertySymbol { IsPartialDefinition: true, PartialImplementationPart: null, IsIndexer: false, ExplicitInterfaceImplementations.IsEmpty: true } property
                && !ContainsErrorType(property.Type)
                && property.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is PropertyDeclarationSyntax declaration)
            {
                stubs.Add(Stub(property, declaration));
            }
        }

        var errors = diagnostics
            .Where(diagnostic => diagnostic.Descriptor.DefaultSeverity == DiagnosticSeverity.Error)
            .Select(diagnostic => diagnostic.Descriptor.Id)
            .Distinct()
            .OrderBy(id => id, StringComparer.Ordinal)
            .ToList();
        var message = $"{type.ToDisplayString()} has generator errors ({string.Join(", ", errors)}).";
        var isPersistentShell = CanStillDerive(context.SemanticModel.Compilation, type);
        if (stubs.Count == 0 && !isPersistentShell)
        {
            return null;
        }

        return new RefusedTypeModel(
            @namespace,
            hintName,
            containingTypes.ToEquatableArray(),
            Declaration(type),
            GeneratedNames.Identifier(type.Name),
            fullyQualifiedName,
            isPersistentShell,
            message,
            stubs.ToEquatableArray());
    }

    /// <summary>
    /// Whether the refused part can still make the class a <c>PersistentObject</c>: not where the class already
    /// has another base (a record's is its own), cannot have one (static), has constructors that would then need
    /// the base's (PMEM011), or has a member or the name of the <c>PersistentType</c> property the part declares.
    /// </summary>
    private static bool CanStillDerive(Compilation compilation, INamedTypeSymbol type) =>
        !type.IsRecord
        && !type.IsStatic
        && (type.BaseType is null or { SpecialType: SpecialType.System_Object } || SymbolNames.Is(type.BaseType, "PersistentObject", SymbolNames.PmemObjects))
        && type.InstanceConstructors.All(constructor => constructor.IsImplicitlyDeclared)
        && type.Name != PersistentTypeEmitter.PersistentTypeProperty
        && type.GetMembers(PersistentTypeEmitter.PersistentTypeProperty).IsEmpty
        && compilation.GetTypeByMetadataName(SymbolNames.PersistentObjectMetadataName) is not null;

    private static PropertyStubModel Stub(IPropertySymbol property, PropertyDeclarationSyntax declaration)
    {
        var refKind = property.RefKind switch
        {
            RefKind.Ref => "ref ",
            RefKind.RefReadOnly => "ref readonly ",
            _ => string.Empty,
        };
        var accessors = new List<string>();
        if (property.GetMethod is { } getter)
        {
            accessors.Add(PersistentTypeParser.Prefix(PersistentTypeParser.AccessorKeywords(getter, property.DeclaredAccessibility)) + "get");
        }

        if (property.SetMethod is { } setter)
        {
            accessors.Add(PersistentTypeParser.Prefix(PersistentTypeParser.AccessorKeywords(setter, property.DeclaredAccessibility)) + (setter.IsInitOnly ? "init" : "set"));
        }

        return new PropertyStubModel(
            string.Join(" ", declaration.Modifiers.Select(modifier => modifier.Text)),
            refKind + property.Type.ToDisplayString(PersistentTypeParser.TypeFormat),
            GeneratedNames.Identifier(property.Name),
            accessors.ToEquatableArray());
    }

    private static bool IsPartialEverywhere(INamedTypeSymbol type, CancellationToken cancellationToken) =>
        type.DeclaringSyntaxReferences.All(reference =>
            reference.GetSyntax(cancellationToken) is TypeDeclarationSyntax declaration && declaration.Modifiers.Any(SyntaxKind.PartialKeyword));

    /// <summary>A further partial declaration of <paramref name="type"/>: <c>partial class Box&lt;T&gt;</c>, <c>partial record struct Point</c>.</summary>
    private static string Declaration(INamedTypeSymbol type)
    {
        var keyword = type switch
        {
            { IsRecord: true, TypeKind: TypeKind.Struct } => "record struct",
            { IsRecord: true } => "record",
            { TypeKind: TypeKind.Struct } => "struct",
            { TypeKind: TypeKind.Interface } => "interface",
            _ => "class",
        };
        var typeParameters = type.TypeParameters.IsEmpty
            ? string.Empty
            : "<" + string.Join(", ", type.TypeParameters.Select(parameter => GeneratedNames.Identifier(parameter.Name))) + ">";
        return $"partial {keyword} {GeneratedNames.Identifier(type.Name)}{typeParameters}";
    }

    private static bool ContainsErrorType(ITypeSymbol type) => type switch
    {
        { TypeKind: TypeKind.Error } => true,
        INamedTypeSymbol named => named.TypeArguments.Any(ContainsErrorType),
        IArrayTypeSymbol array => ContainsErrorType(array.ElementType),
        IPointerTypeSymbol pointer => ContainsErrorType(pointer.PointedAtType),
        _ => false,
    };
}
