using Pmem.Objects;

namespace Bank;

/// <summary>The pool's root: every account, an index by owner, and the transfer journal.</summary>
[PersistentObject]
public partial class BankRoot
{
    public partial PersistentList<Account?> Accounts { get; }

    public partial PersistentDictionary<string, Account?> ByOwner { get; }

    /// <summary>The most recent transfer; each points to the one before it.</summary>
    public partial Transfer? LastTransfer { get; set; }

    public partial long TransferCount { get; set; }

    public partial long Runs { get; set; }

    public partial DateTimeOffset LastOpened { get; set; }
}

/// <summary>One account (model version 2: <c>Currency</c> added, <c>Statements</c> renamed; banks of version 1 migrate when opened).</summary>
[PersistentObject]
public partial class Account
{
    public partial Guid Id { get; set; }

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

/// <summary>A completed transfer, kept in a linked journal.</summary>
[PersistentObject]
public partial class Transfer
{
    public partial Account? From { get; set; }

    public partial Account? To { get; set; }

    public partial decimal Amount { get; set; }

    public partial DateTimeOffset At { get; set; }

    public partial Transfer? Previous { get; set; }
}
