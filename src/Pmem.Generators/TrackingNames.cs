namespace Pmem.Generators;

/// <summary>Names of the pipeline steps, so that tests can check each step's caching.</summary>
internal static class TrackingNames
{
    public const string Models = nameof(Models);
    public const string Diagnostics = nameof(Diagnostics);
    public const string Plans = nameof(Plans);
    public const string Refused = nameof(Refused);
    public const string DurableNameClaims = nameof(DurableNameClaims);
    public const string DurableNameCollisions = nameof(DurableNameCollisions);
    public const string SchemaLock = nameof(SchemaLock);
    public const string SchemaLockChecks = nameof(SchemaLockChecks);
    public const string HintNameClashes = nameof(HintNameClashes);
}
