// ScopeDisposalAnalyzer -- warns where a transaction or batch scope a pool returns is never disposed (PMEM028).
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Pmem.Generators.Analysis;

/// <summary>
/// A transaction or batch scope that is never disposed stays open on its thread: nested scopes flatten, so every later
/// transaction of that thread only closes a nested scope, and its work is lost when the forgotten scope rolls back (an
/// outside tester lost 989 of 1,000 acknowledged commits of a queue-consumer thread to one forgotten <c>using</c>). The
/// library cannot tell a forgotten scope from a long one at run time; the compiler can see most of them: the result is
/// discarded, or held in a local that no <c>using</c>, <c>Dispose()</c> or hand-over (return, argument, assignment) reaches.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ScopeDisposalAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.UndisposedScope);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (start.Compilation.GetTypeByMetadataName("Pmem.Pool.PersistentPool") is { } pool)
            {
                start.RegisterOperationAction(operation => Analyze(operation, pool), OperationKind.Invocation);
            }
        });
    }

    private static void Analyze(OperationAnalysisContext context, INamedTypeSymbol pool)
    {
        var invocation = (IInvocationOperation)context.Operation;
        var method = invocation.TargetMethod;
        if (method.Name is not ("BeginTransaction" or "Batch") || !SymbolEqualityComparer.Default.Equals(method.ContainingType, pool) || IsDisposedOrHandedOver(invocation))
        {
            return;
        }

        context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.UndisposedScope, invocation.Syntax.GetLocation(), method.ReturnType.Name, method.Name));
    }

    private static bool IsDisposedOrHandedOver(IInvocationOperation invocation)
    {
        var parent = ParentPastConversions(invocation);
        switch (parent)
        {
            case IExpressionStatementOperation:
                return false; // discarded
            case ISimpleAssignmentOperation { Target: IDiscardOperation }:
                return false;
            case IVariableInitializerOperation { Parent: IVariableDeclaratorOperation declarator }:
                return IsUsingResource(declarator.Parent?.Parent) || IsUsingResource(declarator.Parent?.Parent?.Parent)
                    || IsDisposedOrHandedOver(declarator.Symbol, invocation);
            default:
                return true; // a using statement's resource, returned, passed, stored: someone else disposes it
        }
    }

    // using var x = …; and using (var x = …): the declaration sits in a group under the using.
    private static bool IsUsingResource(IOperation? operation) => operation is IUsingDeclarationOperation or IUsingOperation;

    private static bool IsDisposedOrHandedOver(ILocalSymbol local, IOperation from)
    {
        var root = from;
        while (root.Parent is { } up)
        {
            root = up;
        }

        foreach (var reference in root.Descendants().OfType<ILocalReferenceOperation>())
        {
            if (!SymbolEqualityComparer.Default.Equals(reference.Local, local))
            {
                continue;
            }

            switch (ParentPastConversions(reference))
            {
                case IInvocationOperation { TargetMethod.Name: "Dispose" } call when call.Instance is { } instance && ReferenceEquals(SkipConversions(instance), reference):
                case IUsingOperation:
                case IReturnOperation:
                case IArgumentOperation:
                case ISimpleAssignmentOperation assignment when ReferenceEquals(SkipConversions(assignment.Value), reference):
                    return true;
            }
        }

        return false;
    }

    private static IOperation? ParentPastConversions(IOperation operation)
    {
        var parent = operation.Parent;
        while (parent is IConversionOperation or IParenthesizedOperation)
        {
            parent = parent.Parent;
        }

        return parent;
    }

    private static IOperation SkipConversions(IOperation operation)
    {
        while (operation is IConversionOperation { Operand: var inner })
        {
            operation = inner;
        }

        return operation;
    }
}
