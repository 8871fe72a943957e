// TwoCompilationMigrationTests -- a pool written by version 1 of a generated model, migrated when version 2 opens it.
using System.Reflection;
using System.Runtime.Loader;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// Two releases of one program, each compiled with the real generator (in memory) and loaded in its own collectible
/// <see cref="AssemblyLoadContext"/> (Pmem.Core is shared from the test's context): version 1 writes a pool file,
/// version 2 opens it and must see every object migrated — a property added, one removed, one renamed with
/// <c>[RenamedFrom]</c>, one widened <c>int → long</c>, and a class at <c>Version = 2</c> whose user migration turns a
/// <c>decimal</c> into a <c>long</c>. Each version's <c>Scenario</c> class does its pool work in plain C#; the test
/// calls it by reflection, the only way to reach code compiled at test time.
/// </summary>
public sealed class TwoCompilationMigrationTests
{
    private const string Version1 = """
        using Pmem.Objects;
        using Pmem.Pool;

        namespace TwoCompilations;

        [PersistentObject(Name = "twocomp.person")]
        public partial class Person
        {
            public partial int Age { get; set; }
            public partial string? Name { get; set; }
            public partial string? Nickname { get; set; }
            public partial PersistentList<long> Scores { get; }
        }

        [PersistentObject(Name = "twocomp.account")]
        public partial class Account
        {
            public partial decimal Balance { get; set; }
            public partial Person? Owner { get; set; }
        }

        [PersistentObject(Name = "twocomp.bank")]
        public partial class Bank
        {
            public partial PersistentList<Account?> Accounts { get; }
        }

        public static class Scenario
        {
            public static void Write(string path)
            {
                using var pool = PersistentPool.Create(path, "twocomp", PersistentPool.MinimumSize);
                var bank = pool.Root<Bank>();
                for (var i = 0; i < 3; i++)
                {
                    var person = pool.New<Person>();
                    (person.Age, person.Name, person.Nickname) = (int.MaxValue - i, "Person " + i, "nick " + i);
                    person.Scores.Add(i);
                    person.Scores.Add(10 * i);
                    var account = pool.New<Account>();
                    (account.Balance, account.Owner) = (12.34m * (i + 1), person);
                    bank.Accounts.Add(account);
                }
            }
        }
        """;

    private const string Version2 = """
        using System.Linq;
        using Pmem.Objects;
        using Pmem.Pool;

        namespace TwoCompilations;

        [PersistentObject(Name = "twocomp.person")]
        public partial class Person
        {
            public partial long Age { get; set; }                                     // widened from int
            [RenamedFrom("Name")] public partial string? FullName { get; set; }      // renamed
            public partial PersistentList<long> Scores { get; }                        // (Nickname removed)
            public partial string? Email { get; set; }                                 // added
        }

        [PersistentObject(Name = "twocomp.account", Version = 2)]
        public partial class Account
        {
            public partial long Cents { get; set; }                                    // was decimal Balance: a user migration
            public partial Person? Owner { get; set; }
        }

        [PersistentObject(Name = "twocomp.bank")]
        public partial class Bank
        {
            public partial PersistentList<Account?> Accounts { get; }
        }

        public static class Scenario
        {
            public static string Read(string path)
            {
                var options = new PoolOpenOptions
                {
                    // The test process has both versions' types registered: name this program's explicitly.
                    Types = [Bank.PersistentType, Person.PersistentType, Account.PersistentType],
                    Migrations = new PoolMigrations().Add<Account>((stored, account) =>
                        account.Cents = (long)(stored.Get<decimal>("Balance") * 100)),
                };
                using var pool = PersistentPool.Open(path, "twocomp", options);
                var check = pool.Check();
                var accounts = pool.Root<Bank>().Accounts.Select(a =>
                    $"{a!.Cents} {a.Owner!.FullName} {a.Owner.Age} [{string.Join(",", a.Owner.Scores)}] {a.Owner.Email ?? "null"}");
                return string.Join(" | ", accounts) + $" / consistent {check.IsConsistent} unreachable {check.Unreachable.Count} detached {check.DetachedObjects}";
            }
        }
        """;

    [Fact]
    public void A_pool_written_by_version_1_of_a_generated_model_is_migrated_when_version_2_opens_it()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pmem-two-compilations-{Guid.NewGuid():N}.pool");
        try
        {
            RunScenario(Version1, "TwoCompilations.V1", "Write", path);
            var seen = (string)RunScenario(Version2, "TwoCompilations.V2", "Read", path)!;

            Assert.Equal(
                $"1234 Person 0 {int.MaxValue} [0,0] null | 2468 Person 1 {int.MaxValue - 1} [1,10] null | 3702 Person 2 {int.MaxValue - 2} [2,20] null" +
                " / consistent True unreachable 0 detached 0", // the removed Nickname strings were freed
                seen);

            // Opened again by version 2, the pool is already migrated: the same values, no migration needed.
            Assert.Equal(seen, RunScenario(Version2, "TwoCompilations.V2b", "Read", path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Compiles <paramref name="source"/> with the generator, loads it in a collectible context and runs <c>Scenario.<paramref name="method"/>(path)</c>.</summary>
    private static object? RunScenario(string source, string assemblyName, string method, string path)
    {
        var run = GeneratorHarness.RunClean(GeneratorHarness.CreateCompilation([source], [], assemblyName));
        using var image = new MemoryStream();
        var emitted = run.OutputCompilation.Emit(image, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));

        var context = new AssemblyLoadContext(assemblyName, isCollectible: true); // Pmem.Core resolves to the test's own
        try
        {
            image.Position = 0;
            var assembly = context.LoadFromStream(image);
            var scenario = assembly.GetType("TwoCompilations.Scenario", throwOnError: true)!;
            try
            {
                return scenario.GetMethod(method, BindingFlags.Public | BindingFlags.Static)!.Invoke(null, [path]);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
        }
        finally
        {
            context.Unload();
        }
    }
}
