// ScopeDisposalAnalyzerTests -- PMEM028 where a transaction or batch scope is never disposed, and nowhere else.
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Pmem.Generators.Analysis;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// An outside tester's queue-consumer thread forgot one <c>using</c>: every later commit of that thread returned and
/// was lost (they flattened into the forgotten scope). The analyzer flags scopes no <c>using</c>, <c>Dispose()</c> or
/// hand-over reaches, and stays quiet on the shapes the README and tests use.
/// </summary>
public sealed class ScopeDisposalAnalyzerTests
{
    private static ImmutableArray<Diagnostic> Analyze(string body)
    {
        var compilation = GeneratorHarness.CreateCompilation($$"""
            using System;
            using Pmem.Pool;
            using Pmem.Transactions;

            public static class Work
            {
                public static object? Kept;

            {{body}}
            }
            """);
        Assert.Empty(compilation.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error));
        return compilation.WithAnalyzers([new ScopeDisposalAnalyzer()])
            .GetAnalyzerDiagnosticsAsync(TestContext.Current.CancellationToken).GetAwaiter().GetResult();
    }

    [Theory]
    [InlineData("public static void Forgot(PersistentPool pool) { var tx = pool.BeginTransaction(); tx.Commit(); }")]
    [InlineData("public static void Discarded(PersistentPool pool) { pool.BeginTransaction(); }")]
    [InlineData("public static void Discard(PersistentPool pool) { _ = pool.BeginTransaction(); }")]
    [InlineData("public static void BatchForgot(PersistentPool pool) { var batch = pool.Batch(); }")]
    public void A_scope_nothing_disposes_is_PMEM028(string method)
    {
        var diagnostic = Assert.Single(Analyze(method));
        Assert.Equal("PMEM028", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
    }

    [Theory]
    [InlineData("public static void Declaration(PersistentPool pool) { using var tx = pool.BeginTransaction(); tx.Commit(); }")]
    [InlineData("public static void Statement(PersistentPool pool) { using (var tx = pool.BeginTransaction()) { tx.Commit(); } }")]
    [InlineData("public static void Resource(PersistentPool pool) { using (pool.Batch()) { } }")]
    [InlineData("public static void Finally(PersistentPool pool) { var tx = pool.BeginTransaction(); try { tx.Commit(); } finally { tx.Dispose(); } }")]
    [InlineData("public static void Later(PersistentPool pool) { var tx = pool.BeginTransaction(); using (tx) { tx.Commit(); } }")]
    [InlineData("public static Transaction Returned(PersistentPool pool) => pool.BeginTransaction();")]
    [InlineData("public static Transaction ReturnedLocal(PersistentPool pool) { var tx = pool.BeginTransaction(); return tx; }")]
    [InlineData("public static void Passed(PersistentPool pool) { var tx = pool.BeginTransaction(); Keep(tx); } static void Keep(IDisposable d) => Kept = d;")]
    [InlineData("public static void Stored(PersistentPool pool) { var tx = pool.BeginTransaction(); Kept = tx; }")]
    public void A_scope_that_is_disposed_or_handed_over_is_not_reported(string method) =>
        Assert.Empty(Analyze(method));
}
