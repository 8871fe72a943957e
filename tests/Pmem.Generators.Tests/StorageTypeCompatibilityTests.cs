// StorageTypeCompatibilityTests -- the stored-type changes a pool migrates by itself, and those that need a new Version.
using Pmem.Generators.SchemaLock;

namespace Pmem.Generators.Tests;

/// <summary>The conversion rule of the lock-file check (PMEM024), case by case (StorageRuleAgreementTests holds it to the runtime's).</summary>
public sealed class StorageTypeCompatibilityTests
{
    [Theory]
    [InlineData("System.Int32", "System.Int32")]
    [InlineData("string", "string")]
    [InlineData("reference", "reference")]
    [InlineData("list<System.Int32>", "list<System.Int32>")]
    [InlineData("System.Int32", "System.Int64")]
    [InlineData("System.Int16", "System.Int32")]
    [InlineData("System.Int16", "System.Int64")]
    [InlineData("System.SByte", "System.Int16")]
    [InlineData("System.Byte", "System.Int32")]
    [InlineData("System.Byte", "System.UInt64")]
    [InlineData("System.UInt16", "System.Int32")]
    [InlineData("System.UInt32", "System.UInt64")]
    [InlineData("System.UInt32", "System.Int64")]
    [InlineData("System.Single", "System.Double")]
    [InlineData("System.Int32", "System.Int32?")]
    [InlineData("System.Guid", "System.Guid?")]
    [InlineData("System.Int32", "System.Int64?")]
    [InlineData("System.Int32?", "System.Int64?")]
    [InlineData("enum:System.Byte", "enum:System.Byte?")]
    [InlineData("enum:System.Byte", "enum:System.Int32")]
    [InlineData("System.Int32", "System.Double")]
    [InlineData("System.UInt32", "System.Double")]
    [InlineData("System.Int16", "System.Single")]
    [InlineData("System.SByte", "System.Half")]
    [InlineData("System.Int64", "System.Decimal")]
    [InlineData("System.UInt64", "System.Decimal")]
    [InlineData("System.Half", "System.Double")]
    [InlineData("System.Int32", "enum:System.Int32")]
    [InlineData("enum:System.Int32", "System.Int32")]
    [InlineData("enum:System.Int16", "System.Int64?")]
    [InlineData("System.UInt64", "System.Int128")]
    public void Automatic(string locked, string current) =>
        Assert.True(StorageTypeCompatibility.IsAutomatic(locked, current), $"{locked} → {current} should be automatic");

    [Theory]
    [InlineData("System.Int64", "System.Int32")]
    [InlineData("System.Int32", "System.UInt32")]
    [InlineData("System.Int32", "System.UInt64")]
    [InlineData("System.SByte", "System.Byte")]
    [InlineData("System.UInt64", "System.Int64")]
    [InlineData("System.Double", "System.Single")]
    [InlineData("System.Int64", "System.Double")]
    [InlineData("System.Int32", "System.Single")]
    [InlineData("System.Int16", "System.Half")]
    [InlineData("System.Int128", "System.Decimal")]
    [InlineData("System.Decimal", "System.Double")]
    [InlineData("System.Char", "System.Int32")]
    [InlineData("System.Boolean", "System.Byte")]
    [InlineData("System.Int32?", "System.Int32")]
    [InlineData("enum:System.Int32", "enum:System.Byte")]
    [InlineData("string", "reference")]
    [InlineData("reference", "string")]
    [InlineData("System.Int64", "string")]
    [InlineData("list<System.Int32>", "list<System.Int64>")]
    [InlineData("dictionary<string,reference>", "dictionary<System.Int64,reference>")]
    public void Needs_a_migration(string locked, string current) =>
        Assert.False(StorageTypeCompatibility.IsAutomatic(locked, current), $"{locked} → {current} should need a migration");
}
