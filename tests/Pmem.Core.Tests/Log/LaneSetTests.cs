using Pmem.Log;
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Log;

/// <summary>Lanes are exclusive whichever way they are taken: biased (plain stores), shared, or by revoking a bias.</summary>
public sealed class LaneSetTests
{
    [Fact]
    public void A_lane_is_biased_to_its_first_taker_and_revoked_for_good_by_another_thread()
    {
        var lanes = new LaneSet(0, 2, 3 * 4096);
        var mine = new LaneSet.Holder();
        var lane = lanes.Acquire(-1, mine, out var biased);
        Assert.False(biased); // the first take is the compare-and-swap; it biases the lane
        lanes.Release(lane, mine, biased);
        Assert.True(lanes.IsBiasedTo(lane, mine));

        Assert.Equal(lane, lanes.Acquire(lane, mine, out biased));
        Assert.True(biased);
        lanes.Release(lane, mine, biased);

        var other = new LaneSet.Holder();
        var taken = -1;
        var thread = new Thread(() =>
        {
            taken = lanes.Acquire(lane, other, out var otherBiased);
            Assert.False(otherBiased);
            lanes.Release(taken, other, otherBiased);
        });
        thread.Start();
        thread.Join();
        Assert.Equal(lane, taken);
        Assert.False(lanes.IsBiasedTo(lane, mine));
        Assert.False(lanes.IsBiasedTo(lane, other)); // contended once: compare-and-swap from now on

        lanes.Acquire(lane, mine, out biased);
        Assert.False(biased);
        lanes.Release(lane, mine, biased);
    }

    [Fact]
    public void No_two_threads_ever_hold_one_lane()
    {
        const int Threads = 4;
        const int Rounds = 20_000;
        var lanes = new LaneSet(0, 2, 3 * 4096);
        var occupants = new int[2];
        var overlaps = 0;
        var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var holder = new LaneSet.Holder();
            var last = -1;
            start.SignalAndWait();
            for (var i = 0; i < Rounds; i++)
            {
                // Mostly keep the last lane (the biased path); now and then wander to force revocations.
                var lane = lanes.Acquire(i % 97 == t ? (last + 1) % 2 : last, holder, out var biased);
                if (Interlocked.Increment(ref occupants[lane]) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Thread.SpinWait(20);
                Interlocked.Decrement(ref occupants[lane]);
                lanes.Release(lane, holder, biased);
                last = lane;
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Equal(0, overlaps);
    }

    [Fact]
    public void Revoking_a_bias_waits_for_its_owner_to_leave()
    {
        var overlaps = 0;
        for (var round = 0; round < 300; round++)
        {
            var lanes = new LaneSet(0, 1, 3 * 4096);
            var occupied = 0;
            var owner = new LaneSet.Holder();
            lanes.Release(lanes.Acquire(0, owner, out var first), owner, first); // biased to the owner from now on
            var revoked = 0;
            void Hold(LaneSet.Holder holder)
            {
                var lane = lanes.Acquire(0, holder, out var biased);
                if (Interlocked.Exchange(ref occupied, 1) != 0)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Thread.SpinWait(50);
                Volatile.Write(ref occupied, 0);
                lanes.Release(lane, holder, biased);
            }

            var ownerThread = new Thread(() =>
            {
                while (Volatile.Read(ref revoked) == 0)
                {
                    Hold(owner);
                }

                Hold(owner);
            });
            var revoker = new Thread(() =>
            {
                Thread.SpinWait(round * 37 % 2000);
                Hold(new LaneSet.Holder());
                Volatile.Write(ref revoked, 1);
            });
            ownerThread.Start();
            revoker.Start();
            ownerThread.Join();
            revoker.Join();
        }

        Assert.Equal(0, overlaps);
    }
}
