// PersistentTypeMismatchException -- an object was read as a type other than the one recorded for it.
namespace Pmem.Objects;

/// <summary>An object was read as a type other than the one recorded for it in the pool.</summary>
public class PersistentTypeMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public PersistentTypeMismatchException(string message) : base(message) { }
}
