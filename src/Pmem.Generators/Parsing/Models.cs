using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Parsing;

/// <summary>How a property is stored, which decides the base-class members its body calls.</summary>
internal enum PersistentPropertyKind
{
    /// <summary>An unmanaged value: <c>ReadField&lt;T&gt;</c> / <c>WriteField&lt;T&gt;</c>.</summary>
    Value,

    /// <summary>
    /// A <c>Nullable&lt;T&gt;</c> of an unmanaged <c>T</c>: stored with Nullable's own bytes through a generated
    /// unmanaged mirror struct, because <c>Nullable&lt;T&gt;</c> does not satisfy the <c>unmanaged</c> constraint of
    /// <c>ReadField&lt;T&gt;</c> (CS8377).
    /// </summary>
    NullableValue,

    /// <summary>An 8-byte string slot: <c>ReadString</c> / <c>WriteString</c>.</summary>
    String,

    /// <summary>An 8-byte reference slot: <c>ReadReference&lt;T&gt;</c> / <c>WriteReference&lt;T&gt;</c>.</summary>
    Reference,

    /// <summary>
    /// An 8-byte slot holding an owned persistent list or dictionary, created by its first insert: a get-only property whose
    /// getter calls one of the <c>Get…List</c> / <c>Get…Dictionary</c> members (see <see cref="CollectionModel"/>).
    /// </summary>
    Collection,
}

/// <summary>
/// Whether a property is indexed (<c>[Indexed]</c>, <c>[Indexed(Unique = true)]</c>): the generator's copy of the
/// runtime's <c>PersistentIndexKind</c>, whose member names the emitter writes.
/// </summary>
internal enum PropertyIndexKind
{
    /// <summary>Not indexed.</summary>
    None,

    /// <summary>Indexed; several objects may hold the same value.</summary>
    Indexed,

    /// <summary>Indexed; no two objects may hold the same value other than the default.</summary>
    Unique,

    /// <summary>Indexed by a hash table; several objects may hold the same value.</summary>
    Hashed,

    /// <summary>Indexed by a hash table; no two objects may hold the same value other than the default.</summary>
    HashedUnique,
}

/// <summary>How a collection stores one kind of its elements (a list's items, a dictionary's keys or values).</summary>
internal enum CollectionElementKind
{
    /// <summary>An unmanaged value stored as its bytes.</summary>
    Value,

    /// <summary>An owned persistent string (<c>string?</c>).</summary>
    String,

    /// <summary>A reference to a <c>[PersistentObject]</c> (<c>T?</c>).</summary>
    Reference,
}

/// <summary>The elements of one kind in a collection.</summary>
/// <param name="Kind">How they are stored, which picks the runtime member the getter calls.</param>
/// <param name="TypeName">The <c>global::</c>-qualified element type without a nullable annotation (a type argument of that member).</param>
/// <param name="StorageType">Canonical stored type, as for properties (<c>System.Int32</c>, <c>string</c>, <c>reference</c>).</param>
internal sealed record CollectionElement(CollectionElementKind Kind, string TypeName, string StorageType);

/// <summary>Which persistent collection a property holds.</summary>
internal enum CollectionShape
{
    /// <summary><c>PersistentList&lt;T&gt;</c>.</summary>
    List,

    /// <summary><c>PersistentDictionary&lt;TKey, TValue&gt;</c>, a hash map.</summary>
    Dictionary,

    /// <summary><c>PersistentSortedDictionary&lt;TKey, TValue&gt;</c>, an ordered map.</summary>
    SortedDictionary,

    /// <summary><c>PersistentSet&lt;T&gt;</c>, an ordered set: its element is a key (<see cref="CollectionModel.Key"/>).</summary>
    Set,
}

/// <summary>
/// A collection property's element types: a list has only <paramref name="Value"/>, a dictionary also a
/// <paramref name="Key"/>; a set's element is its <paramref name="Key"/> (and <paramref name="Value"/> the same element).
/// </summary>
/// <param name="Key">The dictionary key or set element, or null for a list.</param>
/// <param name="Value">The list item or dictionary value.</param>
/// <param name="Shape">Which collection it is.</param>
internal sealed record CollectionModel(CollectionElement? Key, CollectionElement Value, CollectionShape Shape)
{
    /// <summary>Whether the collection has keys (a dictionary of either kind, or a set).</summary>
    public bool IsDictionary => Key is not null;

    /// <summary>Whether the runtime hands out the values as nullable (strings and references as values, never as keys or set elements).</summary>
    public bool HasNullableValues => Shape != CollectionShape.Set && Value.Kind != CollectionElementKind.Value;
}

/// <summary>A persistent partial property, reduced to the values the layout and the emitter need.</summary>
/// <param name="Name">The property name (unescaped: <c>class</c>, not <c>@class</c>).</param>
/// <param name="Kind">How it is stored.</param>
/// <param name="DeclaredTypeName">The type as the implementing declaration must spell it (nullable annotation included).</param>
/// <param name="AccessTypeName">The type argument of the read/write call: no nullable reference annotation, and <c>T</c> for a <c>T?</c> value.</param>
/// <param name="StorageType">Canonical stored type, hashed into the layout (see <c>LayoutHash</c>).</param>
/// <param name="Size">Bytes the field occupies.</param>
/// <param name="Alignment">Alignment of the field in bytes.</param>
/// <param name="Group">The <c>[CacheLineGroup]</c> name, or null.</param>
/// <param name="Accessibility">The property's accessibility keywords.</param>
/// <param name="GetterAccessibility">The getter's keywords when they differ from the property's, else null.</param>
/// <param name="SetterAccessibility">The setter's keywords when they differ from the property's, else null.</param>
/// <param name="IsVirtual">Whether the definition is virtual (the implementation must repeat it).</param>
/// <param name="IsNullable">Whether a string or reference property is declared nullable; a non-nullable one gets <c>!</c>.</param>
/// <param name="Collection">The element types of a <see cref="PersistentPropertyKind.Collection"/> property, else null.</param>
/// <param name="Target">
/// The durable name of the class a reference property, or a collection of references, points to (recorded in the
/// schema, not hashed into the layout); else null.
/// </param>
/// <param name="FormerNames">The names of its <c>[RenamedFrom]</c> attributes, in declaration order.</param>
/// <param name="Index">
/// Its <c>[Indexed]</c> kind: recorded in the schema and picks the setter, but not part of the layout (see
/// <c>PersistentTypeParser.ToLayoutField</c>), so adding or removing an index moves and rehashes nothing.
/// </param>
internal sealed record PersistentPropertyModel(
    string Name,
    PersistentPropertyKind Kind,
    string DeclaredTypeName,
    string AccessTypeName,
    string StorageType,
    int Size,
    int Alignment,
    string? Group,
    string Accessibility,
    string? GetterAccessibility,
    string? SetterAccessibility,
    bool IsVirtual,
    bool IsNullable,
    CollectionModel? Collection = null,
    string? Target = null,
    EquatableArray<string> FormerNames = default,
    PropertyIndexKind Index = PropertyIndexKind.None);

/// <summary>A <c>[PersistentObject]</c> class as the generator sees it: only strings, numbers and equatable arrays.</summary>
/// <param name="Namespace">The containing namespace as source spells it (<c>@class.Data</c>), or null for the global namespace.</param>
/// <param name="ClassName">The class name as an identifier (<c>@event</c> for a class named with a keyword).</param>
/// <param name="FullyQualifiedName">The <c>global::</c>-qualified name.</param>
/// <param name="HintName">The file name of the generated source (<see cref="GeneratedNames.HintName(string)"/>: <c>Bank.Account.g.cs</c>, <c>Box`1.g.cs</c>).</param>
/// <param name="Accessibility">The class's accessibility keywords.</param>
/// <param name="DurableName">The name recorded in pools.</param>
/// <param name="Version">The schema version (<c>[PersistentObject(Version = n)]</c>, 1 when not set).</param>
/// <param name="Properties">The persistent properties without errors, in declaration order.</param>
/// <param name="Diagnostics">What to report about the class.</param>
/// <param name="Refused">For a class with errors, the part that still has to be generated (see <see cref="RefusedTypeModel"/>); else null.</param>
internal sealed record PersistentTypeModel(
    string? Namespace,
    string ClassName,
    string FullyQualifiedName,
    string HintName,
    string Accessibility,
    string DurableName,
    int Version,
    EquatableArray<PersistentPropertyModel> Properties,
    EquatableArray<DiagnosticInfo> Diagnostics,
    RefusedTypeModel? Refused = null)
{
    /// <summary>
    /// The layout and storage code is generated only for a class without errors: a half-generated class would bury
    /// the real error under follow-on compiler errors from the generated part. A class with errors gets
    /// <see cref="Refused"/> instead.
    /// </summary>
    public bool CanGenerate => !Diagnostics.Any(diagnostic => diagnostic.Descriptor.DefaultSeverity == DiagnosticSeverity.Error);
}

/// <summary>
/// A class's claim on its durable name, for the check that no two classes of a compilation share one (PMEM021). Kept
/// apart from <see cref="PersistentTypeModel"/> because it holds the class's location: a model with a location would
/// change, and be emitted again, whenever lines above the class move.
/// </summary>
/// <param name="DurableName">The name recorded in pools.</param>
/// <param name="ClassName">The class's C# name, for the message.</param>
/// <param name="Location">The class's identifier in its attributed declaration.</param>
internal sealed record DurableNameClaim(string DurableName, string ClassName, LocationInfo? Location);

/// <summary>What the parser makes of one attributed class: its model, and its claim on a durable name.</summary>
internal sealed record ParsedClass(PersistentTypeModel Model, DurableNameClaim Claim);

/// <summary>
/// What is generated for a class with errors: no layout and no storage, only what keeps the compiler from adding
/// errors of its own to the PMEM ones — above all an implementation of every partial property (without one, each
/// would report CS9248), whose accessors throw. Nothing can run: the PMEM errors fail the build.
/// </summary>
/// <param name="Namespace">The containing namespace, or null for the global namespace.</param>
/// <param name="HintName">The file name of the generated source.</param>
/// <param name="ContainingTypes">Declarations of the types the class is nested in, outermost first (<c>partial class Outer</c>).</param>
/// <param name="Declaration">The class's own declaration (<c>partial class Box&lt;T&gt;</c>, <c>partial record Account</c>).</param>
/// <param name="ClassName">The class name as an identifier, for the constructor.</param>
/// <param name="FullyQualifiedName">The <c>global::</c>-qualified name.</param>
/// <param name="IsPersistentShell">
/// Whether the part still derives the class from <c>PersistentObject</c> and implements <c>IPersistentObject&lt;TSelf&gt;</c>
/// (with members that throw), so that code using the class as a persistent type adds no errors either. False where
/// that would not compile: a record, a static class, another base class, user constructors, a member with a
/// generated member's name.
/// </param>
/// <param name="Message">The message of the thrown exceptions, naming the errors.</param>
/// <param name="Properties">Every partial property declaration without an implementation.</param>
internal sealed record RefusedTypeModel(
    string? Namespace,
    string HintName,
    EquatableArray<string> ContainingTypes,
    string Declaration,
    string ClassName,
    string FullyQualifiedName,
    bool IsPersistentShell,
    string Message,
    EquatableArray<PropertyStubModel> Properties);

/// <summary>A partial property declaration of a refused class, to be implemented with accessors that throw.</summary>
/// <param name="Modifiers">The declaration's modifiers as written: the implementation must repeat them (<c>required</c>, <c>new</c>, <c>virtual</c>, <c>static</c>…).</param>
/// <param name="TypeName">The fully qualified type, with <c>ref</c> and nullable annotations.</param>
/// <param name="Name">The property name as an identifier (<c>@class</c>).</param>
/// <param name="Accessors">Each accessor with its own modifiers: <c>get</c>, <c>private set</c>, <c>init</c>.</param>
internal sealed record PropertyStubModel(string Modifiers, string TypeName, string Name, EquatableArray<string> Accessors);

/// <summary>A source location without the syntax tree behind it, so models holding it stay cacheable.</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo? From(Location? location) =>
        location?.SourceTree is null ? null : new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}

/// <summary>A diagnostic to report, as equatable values.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params string[] arguments) =>
        new(descriptor, LocationInfo.From(location), arguments.ToEquatableArray());

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Descriptor, Location?.ToLocation(), Arguments.Select(argument => (object?)argument).ToArray());
}
