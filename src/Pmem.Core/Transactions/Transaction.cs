// Transaction -- the public transaction scope: commit, or roll back on dispose; nested scopes flatten.
using Pmem.Pool;

namespace Pmem.Transactions;

/// <summary>
/// A scope of all-or-nothing changes to one pool, made by <see cref="PersistentPool.BeginTransaction"/>.
/// <see cref="Commit"/> makes every change durable at once; disposing without committing (or an exception) rolls
/// everything back. Nested scopes flatten into the outermost one: an inner rollback rolls back the whole transaction,
/// unless the inner scope changed nothing (so a library call that throws before it writes, such as a dictionary's
/// <c>Add</c> of a key it holds or a list's <c>Insert</c> at a bad index, leaves the running transaction going on).
/// </summary>
/// <example>
/// <code>
/// using (var tx = pool.BeginTransaction())
/// {
///     from.Balance -= 10;
///     to.Balance += 10;
///     tx.Commit();
/// }
/// </code>
/// </example>
public readonly struct Transaction : IDisposable
{
    private readonly TransactionState? _state;
    private readonly int _level;
    private readonly long _generation;
    private readonly long _changesAtBegin;
    private readonly long _scope;

    internal Transaction(TransactionState state)
    {
        _state = state;
        _level = state.Depth;
        _generation = state.Generation;
        _changesAtBegin = _level > 1 ? state.Changes : 0;
        _scope = state.ScopeAt(_level);
    }

    /// <summary>True while this scope is open and nothing in the transaction has rolled back.</summary>
    public bool IsActive => _state is { } s && s.Depth == _level && s.Generation == _generation && s.ScopeAt(_level) == _scope &&
        !s.RolledBack && ReferenceEquals(TransactionState.Current, s) && !s.Pool.IsDisposed;

    /// <summary>
    /// Ends this scope successfully. For the outermost scope every change becomes durable, atomically, before this
    /// returns; an inner scope's commit only closes the scope.
    /// </summary>
    /// <exception cref="InvalidOperationException">The scope is not the innermost open one, or the transaction rolled back.</exception>
    public void Commit()
    {
        var state = CheckInnermost();
        if (state.RolledBack)
        {
            throw new TransactionAbortedException("The transaction was rolled back (a nested scope ended without committing, or an operation in it failed, such as a unique index's refusal); it cannot commit.");
        }

        if (_level == 1)
        {
            try
            {
                TransactionCommit.Commit(state);
            }
            catch
            {
                state.RollBack();
                state.EndLevel();
                throw;
            }
        }

        state.EndLevel();
    }

    /// <summary>
    /// Rolls back unless <see cref="Commit"/> ended this scope. Never throws for a scope that was misused: an
    /// exception on its way out (the reason the scope ends uncommitted) is never replaced by one of Dispose's.
    /// </summary>
    /// <remarks>
    /// Disposed while a scope nested in it is still open (an inner scope neither committed nor disposed): the whole
    /// transaction rolls back, and every scope from this one inward ends. Disposed on another thread than the one that
    /// began it (an <c>await</c> inside the <c>using</c> block moved the rest of the method): nothing of the
    /// transaction is committed, and its thread forgets it the next time it uses a transaction or the pool, so that
    /// later work there does not join it (writes made after the <c>await</c>, on the other thread, were outside it).
    /// </remarks>
    public void Dispose()
    {
        if (_state is not { } state || state.Depth < _level || state.Generation != _generation || state.ScopeAt(_level) != _scope || state.IsAbandoned)
        {
            return; // committed, or already disposed (or given up); a later scope at its depth is not this one
        }

        if (!ReferenceEquals(TransactionState.OfThread, state))
        {
            state.AbandonTransaction(_generation);
            return;
        }

        if (state.Depth > _level)
        {
            state.RollBack(); // inner scopes left open: what they did cannot be told from the rest
            while (state.Depth >= _level)
            {
                state.EndLevel();
            }

            return;
        }

        if (_level > 1 && !state.RolledBack && state.Changes == _changesAtBegin)
        {
            // The scope changed nothing (a call that threw before writing, such as an Add of a key the dictionary
            // holds): there is nothing to roll back, and the transaction goes on.
            state.EndLevel();
            return;
        }

        state.RollBack();
        state.EndLevel();
    }

    private TransactionState CheckInnermost()
    {
        if (_state is { } ended && (ended.Depth < _level || ended.Generation != _generation || ended.ScopeAt(_level) != _scope) && ReferenceEquals(TransactionState.OfThread, ended))
        {
            throw new InvalidOperationException("This transaction scope has ended already: committed, rolled back by Dispose (its own or an outer scope's), or given up because the code awaited inside it and other code then used the pool on its thread. Commit is called once per scope, and never after an await inside it.");
        }

        if (_state is not { } state || !ReferenceEquals(TransactionState.Current, state) || state.Depth != _level)
        {
            throw new InvalidOperationException("Commit must be called on the innermost open transaction scope, on the thread that began it (an await inside the scope moves the code to another thread: the transaction is not committed; do not await inside a transaction).");
        }

        return state;
    }
}

/// <summary>A transaction could not commit because it had already rolled back.</summary>
public sealed class TransactionAbortedException(string message) : InvalidOperationException(message);
