using Pmem.Memory.Simulation;
using Pmem.Pool;

namespace Pmem.Generators.Consumer.Tests;

/// <summary>Generated sorted-collection properties in a real pool: written, crashed (only durable state kept), reopened.</summary>
public sealed class SortedCollectionTests
{
    [Fact]
    public void Sorted_collections_of_a_generated_class_survive_a_crash_and_reopen_in_order()
    {
        var start = new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
        var domain = new SimulatedDomain(8 << 20);
        byte[] image;
        using (var pool = PersistentPool.Create(domain, "consumer"))
        {
            var journal = pool.Root<Journal>();
            for (var i = 199; i >= 0; i--)
            {
                journal.Events[start.AddMinutes(i)] = $"event {i}";
                journal.Tags.Add($"tag {i % 7}");
            }

            var ada = pool.New<Customer>();
            ada.Name = "Ada";
            journal.ByName["Ada"] = ada;
            journal.ByName["Bob"] = null;
            image = domain.CrashNonePersisted();
        }

        using var reopened = PersistentPool.Open(SimulatedDomain.FromImage(image), "consumer");
        var read = reopened.Root<Journal>();
        Assert.Equal(Enumerable.Range(0, 200).Select(i => start.AddMinutes(i)), read.Events.Keys);
        Assert.Equal(["event 10", "event 11"], read.Events.Range(start.AddMinutes(10), start.AddMinutes(12)).Select(e => e.Value));
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"tag {i}"), read.Tags.ToList());
        Assert.Equal("Ada", read.ByName["Ada"]!.Name);
        Assert.Null(read.ByName["Bob"]);
        Assert.True(reopened.Check().IsConsistent);
    }
}
