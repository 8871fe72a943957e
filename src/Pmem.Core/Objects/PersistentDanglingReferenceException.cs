// PersistentDanglingReferenceException -- a stored reference outlived the object it pointed to.
namespace Pmem.Objects;

/// <summary>
/// A stored reference (a field, a list element, a dictionary value) points to an object that was deleted: its block
/// is free, or was allocated again for another object (told apart by the block's generation). The reference is left
/// as it is; set it to null or to a live object, or let <c>pmem check --repair</c> null it.
/// </summary>
/// <remarks>
/// A reference written before its pool moved to format 6 carries no generation: a reuse of its block cannot be told
/// from the object itself, so only a freed block is detected for it.
/// </remarks>
public sealed class PersistentDanglingReferenceException : PersistentTypeMismatchException
{
    /// <summary>Creates the exception.</summary>
    public PersistentDanglingReferenceException(string message, long target) : base(message)
    {
        Target = target;
    }

    /// <summary>The offset the reference holds.</summary>
    public long Target { get; }
}
