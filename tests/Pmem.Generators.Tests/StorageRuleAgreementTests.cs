// StorageRuleAgreementTests -- the generator's lock-file rule (PMEM024) and the runtime's migration rule give one verdict.
using Pmem.Generators.SchemaLock;
using Pmem.Pool;

namespace Pmem.Generators.Tests;

/// <summary>
/// The generator (netstandard2.0) and the runtime each keep their table of automatic changes; this walks every pair
/// of stored types (every scalar, its <c>T?</c>, enums of each integer type, strings, references with targets,
/// collections) through both and requires the same verdict, so PMEM024 warns of exactly what <c>Open</c> refuses.
/// </summary>
public sealed class StorageRuleAgreementTests
{
    private static readonly string[] Scalars =
    [
        "System.Boolean", "System.Byte", "System.SByte", "System.Int16", "System.UInt16", "System.Char", "System.Half",
        "System.Int32", "System.UInt32", "System.Single", "System.Int64", "System.UInt64", "System.Double", "System.DateTime",
        "System.TimeSpan", "System.Decimal", "System.Guid", "System.DateTimeOffset", "System.Int128", "System.UInt128",
    ];

    private static readonly string[] EnumUnderlying =
        ["System.Byte", "System.SByte", "System.Int16", "System.UInt16", "System.Int32", "System.UInt32", "System.Int64", "System.UInt64"];

    /// <summary>Every stored type the pair table is made of, with the reference targets that matter.</summary>
    private static IEnumerable<(string Type, string? Target)> StoredTypes()
    {
        foreach (var scalar in Scalars)
        {
            yield return (scalar, null);
            yield return (scalar + "?", null);
        }

        foreach (var underlying in EnumUnderlying)
        {
            yield return ("enum:" + underlying, null);
            yield return ("enum:" + underlying + "?", null);
        }

        yield return ("string", null);
        yield return ("reference", "bank.customer");
        yield return ("reference", "bank.account");
        yield return ("list<System.Int32>", null);
        yield return ("list<System.Int64>", null);
        yield return ("dictionary<string,reference>", null);
        yield return ("sorted<System.Int64,string>", null);
        yield return ("set<string>", null);
        yield return ("System.Unknown", null); // a name neither side knows: refused by both
    }

    [Fact]
    public void Every_pair_of_stored_types_gets_the_same_verdict_from_the_generator_and_the_runtime()
    {
        var types = StoredTypes().ToArray();
        var disagreements = new List<string>();
        var automatic = 0;
        foreach (var stored in types)
        {
            foreach (var compiled in types)
            {
                var runtime = SchemaPlan.IsAutomatic(stored.Type, stored.Target, compiled.Type, compiled.Target);
                var generator = StorageTypeCompatibility.IsAutomatic(stored.Type, stored.Target, compiled.Type, compiled.Target);
                automatic += runtime ? 1 : 0;
                if (runtime != generator)
                {
                    disagreements.Add($"{stored.Type}({stored.Target}) → {compiled.Type}({compiled.Target}): runtime {runtime}, generator {generator}");
                }
            }
        }

        Assert.True(disagreements.Count == 0, string.Join(Environment.NewLine, disagreements));
        // Not a vacuous agreement: both sides accept a good share of the pairs and refuse most.
        Assert.InRange(automatic, types.Length, types.Length * types.Length / 4);
    }

    [Theory]
    [InlineData("System.Int32", "System.Double", true)]     // every int is exact in a double
    [InlineData("System.Int64", "System.Double", false)]    // a long may not be
    [InlineData("System.Int64", "System.Decimal", true)]
    [InlineData("enum:System.Int32", "System.Int32", true)]
    [InlineData("System.Int32", "enum:System.Int32", true)]
    [InlineData("System.Int32?", "System.Int32", false)]
    public void The_changes_issue_14_named_are_automatic_on_both_sides_where_the_runtime_converts_them(string stored, string compiled, bool expected)
    {
        Assert.Equal(expected, SchemaPlan.IsAutomatic(stored, null, compiled, null));
        Assert.Equal(expected, StorageTypeCompatibility.IsAutomatic(stored, compiled));
    }
}
