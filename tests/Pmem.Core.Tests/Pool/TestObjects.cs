using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Tests.Pool;

// Hand-written exactly as the generator writes persistent classes: the pool is tested here without the generator.

internal sealed class Account : PersistentObject, IPersistentObject<Account>
{
    private Account(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Account", 64, 0xA11CE,
        [new(8, PersistentFieldKind.String), new(16, PersistentFieldKind.Reference)]);

    static Account IPersistentObject<Account>.Attach(ObjectHandle handle) => new(handle);

    public long Balance { get => ReadField<long>(0); set => WriteField(0, value); }

    public string? Owner { get => ReadString(8); set => WriteString(8, value); }

    public Account? Next { get => ReadReference<Account>(16); set => WriteReference(16, value); }

    public int Counter { get => ReadField<int>(24); set => WriteField(24, value); }

    public Guid Id { get => ReadField<Guid>(32); set => WriteField(32, value); }

    public decimal Amount { get => ReadField<decimal>(48); set => WriteField(48, value); }
}

internal sealed class Ledger : PersistentObject, IPersistentObject<Ledger>
{
    private Ledger(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Ledger", 128, 0x1ED6E5,
        [new(0, PersistentFieldKind.Reference), new(8, PersistentFieldKind.Reference), new(16, PersistentFieldKind.String)]);

    static Ledger IPersistentObject<Ledger>.Attach(ObjectHandle handle) => new(handle);

    public Account? First { get => ReadReference<Account>(0); set => WriteReference(0, value); }

    public Account? Second { get => ReadReference<Account>(8); set => WriteReference(8, value); }

    public string? Name { get => ReadString(16); set => WriteString(16, value); }

    public long Total { get => ReadField<long>(24); set => WriteField(24, value); }
}

/// <summary>Same durable name as <see cref="Account"/> but another layout: a program whose class changed.</summary>
internal sealed class AccountV2 : PersistentObject, IPersistentObject<AccountV2>
{
    private AccountV2(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new("Tests.Account", 128, 0xB0B, []);

    static AccountV2 IPersistentObject<AccountV2>.Attach(ObjectHandle handle) => new(handle);
}

/// <summary>Eight account references: the bank of the crash tests.</summary>
internal sealed class Vault : PersistentObject, IPersistentObject<Vault>
{
    public const int Slots = 8;

    private Vault(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Vault", 64, 0x7A017,
        [.. Enumerable.Range(0, Slots).Select(i => new PersistentFieldInfo(i * 8, PersistentFieldKind.Reference))]);

    static Vault IPersistentObject<Vault>.Attach(ObjectHandle handle) => new(handle);

    /// <summary>Fills the pool's root vault with <see cref="Slots"/> new accounts of <paramref name="balance"/>, in one transaction.</summary>
    public static void FillRoot(PersistentPool pool, long balance)
    {
        using var tx = pool.BeginTransaction();
        var vault = pool.Root<Vault>();
        for (var i = 0; i < Slots; i++)
        {
            var account = pool.New<Account>();
            account.Balance = balance;
            vault[i] = account;
        }

        tx.Commit();
    }

    public Account? this[int slot]
    {
        get => ReadReference<Account>(Slot(slot));
        set => WriteReference(Slot(slot), value);
    }

    private static int Slot(int slot) => (uint)slot < Slots ? slot * 8 : throw new ArgumentOutOfRangeException(nameof(slot));
}

/// <summary>Collections as properties, written the way the generator writes them.</summary>
internal sealed class Registry : PersistentObject, IPersistentObject<Registry>
{
    private Registry(ObjectHandle handle) : base(handle) { }

    public static PersistentTypeInfo PersistentType { get; } = new(
        "Tests.Registry", 64, 0x2E6,
        [new(0, PersistentFieldKind.Collection), new(8, PersistentFieldKind.Collection), new(16, PersistentFieldKind.Collection),
         new(24, PersistentFieldKind.Collection), new(32, PersistentFieldKind.Collection), new(40, PersistentFieldKind.Collection)]);

    static Registry IPersistentObject<Registry>.Attach(ObjectHandle handle) => new(handle);

    public PersistentList<Account?> Accounts => GetObjectList<Account>(0);

    public PersistentDictionary<long, long> Counters => GetDictionary<long, long>(8);

    public PersistentDictionary<string, string?> Names => GetStringKeyedDictionaryOfStrings(16);

    public PersistentList<string?> Lines => GetStringList(24);

    public PersistentList<long> Numbers => GetList<long>(32);

    public PersistentDictionary<long, Account?> ById => GetDictionaryOfObjects<long, Account>(40);
}
