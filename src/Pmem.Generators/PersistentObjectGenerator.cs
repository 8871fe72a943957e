using System;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Emitting;
using Pmem.Generators.Helpers;
using Pmem.Generators.Layout;
using Pmem.Generators.Parsing;
using Pmem.Generators.SchemaLock;

namespace Pmem.Generators;

/// <summary>
/// Completes every <c>[PersistentObject]</c> partial class: derives it from <c>PersistentObject</c>, lays its partial
/// properties out in cache lines and writes their bodies as reads and writes of the pool.
/// </summary>
/// <remarks>
/// Pipeline: <c>ForAttributeWithMetadataName</c> → <see cref="PersistentTypeParser"/> (symbols to an equatable
/// model) → diagnostics, and for error-free models <see cref="LayoutPlanner"/> → <see cref="PersistentTypeEmitter"/>;
/// a model with errors gets only throwing implementations of its partial properties (<see cref="RefusedTypeModel"/>).
/// Across classes, the durable names are checked for duplicates (<see cref="DurableNameCollisions"/>); where the
/// project has a schema lock file, each class is checked against it (<see cref="SchemaLockCheck"/>); and hint names
/// equal but for case get a suffix (<see cref="GeneratedNames.CaseClashes"/>).
/// Every step's output has value equality, so an edit elsewhere in the compilation re-runs nothing.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class PersistentObjectGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(SupportedTypes.PersistentObjectAttributeName, PersistentTypeParser.IsCandidate, PersistentTypeParser.Parse)
            .Where(static parsed => parsed is not null)
            .Select(static (parsed, _) => parsed!);

        var models = parsed
            .Select(static (parsed, _) => parsed.Model)
            .WithTrackingName(TrackingNames.Models);

        // The one check across classes: collected from small claims, so that it costs one pass over the names per run
        // and an edit that changes no durable name leaves its output cached.
        var durableNameCollisions = parsed
            .Select(static (parsed, _) => parsed.Claim)
            .WithTrackingName(TrackingNames.DurableNameClaims)
            .Collect()
            .Select(static (claims, _) => DurableNameCollisions.Find(claims))
            .WithTrackingName(TrackingNames.DurableNameCollisions);

        context.RegisterSourceOutput(durableNameCollisions, Report);

        var diagnostics = models
            .Select(static (model, _) => model.Diagnostics)
            .Where(static diagnostics => !diagnostics.IsEmpty)
            .WithTrackingName(TrackingNames.Diagnostics);

        context.RegisterSourceOutput(diagnostics, Report);

        // The optional schema lock file (pmem.schema.json): one read per change of the file, then a cheap check per class.
        var schemaLock = context.AdditionalTextsProvider
            .Where(static text => string.Equals(Path.GetFileName(text.Path), LockedSchema.FileName, StringComparison.OrdinalIgnoreCase))
            .Select(static (text, cancellationToken) => SchemaLockReader.Read(text.Path, text.GetText(cancellationToken)?.ToString()))
            .Collect()
            .Select(static (files, _) => SchemaLockCheck.Choose(files))
            .WithTrackingName(TrackingNames.SchemaLock);

        context.RegisterSourceOutput(schemaLock.Select(static (schema, _) => SchemaLockCheck.ReadProblems(schema)), Report);

        var schemaLockChecks = parsed
            .Combine(schemaLock)
            .Select(static (pair, _) => SchemaLockCheck.Check(pair.Left, pair.Right))
            .Where(static diagnostics => !diagnostics.IsEmpty)
            .WithTrackingName(TrackingNames.SchemaLockChecks);

        context.RegisterSourceOutput(schemaLockChecks, Report);

        // Hint names equal but for case, which the compiler would refuse as duplicates: collected from the names alone,
        // so that it is one pass per run and, while no two names clash, leaves every output below cached.
        var hintNameClashes = models
            .Select(static (model, _) => model.HintName)
            .Collect()
            .Select(static (names, _) => GeneratedNames.CaseClashes(names))
            .WithTrackingName(TrackingNames.HintNameClashes);

        var plans = models
            .Where(static model => model.CanGenerate)
            .Select(static (model, _) => new GenerationUnit(model, LayoutPlanner.Plan(
                new LayoutRequest(model.DurableName, model.Properties.Select(PersistentTypeParser.ToLayoutField).ToEquatableArray()))))
            .WithTrackingName(TrackingNames.Plans);

        context.RegisterSourceOutput(plans.Combine(hintNameClashes), static (output, pair) =>
            output.AddSource(GeneratedNames.Unique(pair.Left.Model.HintName, pair.Right), PersistentTypeEmitter.Emit(pair.Left.Model, pair.Left.Plan)));

        // A class with errors still gets implementations of its partial properties, or each would add CS9248.
        var refused = models
            .Where(static model => model.Refused is not null)
            .Select(static (model, _) => model.Refused!)
            .WithTrackingName(TrackingNames.Refused);

        context.RegisterSourceOutput(refused.Combine(hintNameClashes), static (output, pair) =>
            output.AddSource(GeneratedNames.Unique(pair.Left.HintName, pair.Right), PersistentTypeEmitter.EmitRefused(pair.Left)));
    }

    private static void Report(SourceProductionContext output, EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
        {
            output.ReportDiagnostic(diagnostic.ToDiagnostic());
        }
    }

    private sealed record GenerationUnit(PersistentTypeModel Model, LayoutPlan Plan);
}
