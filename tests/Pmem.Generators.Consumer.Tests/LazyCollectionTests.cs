// LazyCollectionTests -- generated collection getters write nothing: collections appear at their first insert.
using Pmem.Memory.Simulation;
using Pmem.Pool;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>The generator's get-only collection properties over the real runtime: reads leave the pool as it was.</summary>
public sealed class LazyCollectionTests
{
    [Fact]
    public void Reading_every_generated_collection_of_a_fresh_object_leaves_the_pool_unchanged()
    {
        var domain = new SimulatedDomain(8 << 20);
        using var pool = PersistentPool.Create(domain, "consumer");
        var root = pool.Root<Everything>();
        var journal = pool.New<Journal>();
        var before = domain.CrashAllPersisted(); // the live image
        var allocated = pool.GetStatistics().AllocatedBytes;

        var seen = root.Numbers.Count + root.Tiers.Count() + root.Tags.Count + root.Customers.Count(c => c is not null)
            + root.Prices.Count + (root.Labels.TryGetValue(1, out _) ? 1 : 0) + root.CustomersById.Count() + (root.Updated.ContainsKey("x") ? 1 : 0)
            + journal.Events.Count + journal.Events.Range(DateTime.MinValue, DateTime.MaxValue).Count() + journal.ByName.Count()
            + journal.Tags.Count + (journal.Tags.Contains("t") ? 1 : 0)
            + pool.All<Everything>().Sum(e => e.Tags.Count) + pool.All<Journal>().Sum(j => j.Tags.Count);

        Assert.Equal(0, seen);
        Assert.Equal(allocated, pool.GetStatistics().AllocatedBytes);
        Assert.True(before.AsSpan().SequenceEqual(domain.CrashAllPersisted()), "a getter wrote to the pool");

        // The first insert creates each collection (outside a transaction, and inside one).
        root.Tags.Add("first");
        using (var tx = pool.BeginTransaction())
        {
            root.Labels[7] = "seven";
            journal.Tags.Add("t");
            tx.Commit();
        }

        Assert.Equal(("first", "seven", true), (root.Tags[0], root.Labels[7], journal.Tags.Contains("t")));
        pool.Delete(journal); // nothing references it: it would count as unreachable
        var report = pool.Check();
        Assert.True(report.IsConsistent, string.Join("; ", report.Errors));
        Assert.Empty(report.Unreachable);
        Assert.Equal(0, report.DetachedObjects);
    }

    [Fact]
    public void An_object_keeps_one_collection_handle_that_follows_rollbacks_and_other_threads()
    {
        using var pool = PersistentPool.Create(new SimulatedDomain(8 << 20), "consumer");
        var root = pool.Root<Everything>();
        Assert.Same(root.Tags, root.Tags);

        // The first insert's transaction rolls back: the kept handle reads the field again, finds no list, and the
        // next insert creates one.
        using (pool.BeginTransaction())
        {
            root.Tags.Add("rolled back");
            Assert.Single(root.Tags);
        }

        Assert.Empty(root.Tags);
        root.Tags.Add("kept");

        // Another thread's handle of the same object (its own wrapper) and this one see each other's inserts.
        var other = new Thread(() => pool.Root<Everything>().Tags.Add("other"));
        other.Start();
        other.Join();
        Assert.Equal(new[] { "kept", "other" }, root.Tags);
        Assert.Equal(new[] { "kept", "other" }, pool.Root<Everything>().Tags);
        Assert.True(pool.Check().IsConsistent);
    }
}
