// HashIndexTestBase -- what the hashed index test classes share: a temporary directory of file pools, members added through a root list.
using Pmem.Objects;
using Pmem.Pool;
using Pmem.Tests.Objects;

namespace Pmem.Tests.Indexes;

/// <summary>
/// The base of the hashed index test classes: each test gets a temporary directory of its own (deleted in
/// <see cref="Dispose"/>) in which <see cref="NewPool"/> creates file pools, and helpers that add members to a root's list.
/// </summary>
public abstract class HashIndexTestBase : IDisposable
{
    private readonly string _directory = Directory.CreateDirectory(
        Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"pmem-hash-index-{Guid.NewGuid():N}")).FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>The path of the pool <see cref="NewPool"/> creates by default.</summary>
    protected string PoolPath => Path.Combine(_directory, "club.pool");

    protected PersistentPool NewPool(string name = "club.pool") => PersistentPool.Create(Path.Combine(_directory, name), "tests", 8 << 20);

    private protected static TMember Add<TMember, TClub>(PersistentPool pool, long number, string? name, Tide tide = Tide.Slack, long score = 0)
        where TMember : PersistentObject, IPersistentObject<TMember>, IMemberFields
        where TClub : PersistentObject, IPersistentObject<TClub>, IClubOf<TMember>
    {
        using var tx = pool.BeginTransaction();
        var member = pool.New<TMember>();
        member.Number = number;
        member.Name = name;
        member.Tide = tide;
        member.Score = score;
        member.Key = new Guid((int)number, 0, 0, new byte[8]);
        pool.Root<TClub>().Members.Add(member);
        tx.Commit();
        return member;
    }

    private protected static HashedMember Add(PersistentPool pool, long number, string? name, Tide tide = Tide.Slack, long score = 0) =>
        Add<HashedMember, HashedClub>(pool, number, name, tide, score);

    private protected static long[] Numbers<T>(IEnumerable<T> members) where T : IMemberFields => members.Select(m => m.Number).ToArray();
}
