using Pmem.Objects;

namespace Bank;

/// <summary>The pool's root: every account, and the transfers by time.</summary>
[PersistentObject]
public partial class BankRoot
{
    public partial PersistentList<Account?> Accounts { get; }

    /// <summary>Every journaled transfer by when it was made (UTC), oldest first: ask it for a range of times.</summary>
    public partial PersistentSortedDictionary<DateTime, Transfer?> TransfersByTime { get; }

    public partial long TransferCount { get; set; }

    public partial long Runs { get; set; }

    public partial DateTimeOffset LastOpened { get; set; }
}

/// <summary>
/// One account (model version 3: <c>Number</c> added and <c>Owner</c> indexed; version 2 added <c>Currency</c> and renamed
/// <c>Statements</c>). Banks of older versions migrate when opened.
/// </summary>
[PersistentObject]
public partial class Account
{
    public partial Guid Id { get; set; }

    /// <summary>Found with <c>pool.Index&lt;Account, long&gt;(nameof(Account.Number))</c>; no two accounts share one.</summary>
    [Indexed(Unique = true)]
    public partial long Number { get; set; }

    /// <summary>Found with <c>pool.Index&lt;Account, string&gt;(nameof(Account.Owner)).Find(owner)</c>: looked up by equality only, so hashed.</summary>
    [Indexed(Hashed = true)]
    public partial string? Owner { get; set; }

    [CacheLineGroup("money")]
    public partial decimal Balance { get; set; }

    [CacheLineGroup("money")]
    public partial long Version { get; set; }

    public partial DateTime? LastStatement { get; set; }

    /// <summary>Version 2 of the model renamed <c>Statements</c>: pools written by version 1 keep their counts.</summary>
    [RenamedFrom("Statements")]
    public partial int StatementCount { get; set; }

    /// <summary>Added in version 2 of the model: accounts of older banks start without one (see Program.cs).</summary>
    public partial string? Currency { get; set; }
}

/// <summary>A completed transfer, journaled in <see cref="BankRoot.TransfersByTime"/>.</summary>
[PersistentObject]
public partial class Transfer
{
    public partial Account? From { get; set; }

    public partial Account? To { get; set; }

    public partial decimal Amount { get; set; }

    public partial DateTimeOffset At { get; set; }
}
