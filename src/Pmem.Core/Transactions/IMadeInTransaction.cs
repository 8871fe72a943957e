// IMadeInTransaction -- an object handle a transaction returned from New, told when that transaction rolls back.
namespace Pmem.Transactions;

/// <summary>
/// A handle to an object a transaction made: a rollback frees the object's block, and another commit may take it, so
/// the handle must refuse every later use instead of reading or writing the block's next object.
/// </summary>
internal interface IMadeInTransaction
{
    /// <summary>The transaction that made the object rolled back (or was given up): the handle designates nothing now.</summary>
    void NoteRolledBack();
}
