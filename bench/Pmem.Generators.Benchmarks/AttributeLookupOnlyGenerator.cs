using Microsoft.CodeAnalysis;

namespace Pmem.Generators.Benchmarks;

/// <summary>
/// A reference point, not a product: finds the same attributed classes as the real generator but keeps only their
/// names and emits nothing. Its incremental cost is Roslyn's own floor for re-finding 1,000 attributed classes in a
/// new compilation, which the real generator cannot go below.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class AttributeLookupOnlyGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var names = context.SyntaxProvider.ForAttributeWithMetadataName(
            "Pmem.Objects.PersistentObjectAttribute",
            static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
            static (syntaxContext, _) => syntaxContext.TargetSymbol.Name);
        context.RegisterSourceOutput(names.Collect(), static (_, _) => { });
    }
}
