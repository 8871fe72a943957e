// RedoOperation -- what a redo entry does to its target: the entry encoding's operation codes.
namespace Pmem.Log;

/// <summary>What a redo entry does to its target when applied. Or/And make concurrent bitmap updates commute.</summary>
internal enum RedoOperation : byte
{
    Set = 1,
    Or = 2,
    And = 3,

    /// <summary>Applies nothing: the log counts as committed only if the target range hashes as recorded.</summary>
    Verify = 4,
}
