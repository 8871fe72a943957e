using Pmem.Memory.Simulation;
using static Pmem.Tests.Simulation.CrashOutcomes;

namespace Pmem.Tests.Simulation;

/// <summary>The domain may be used from several threads at once.</summary>
public sealed class ConcurrencyTests
{
    [Fact]
    public void Stores_persisted_concurrently_on_several_threads_all_survive_while_crash_images_are_taken()
    {
        const int Threads = 4;
        const int LinesPerThread = 16;
        const int Rounds = 200;
        using var domain = new SimulatedDomain(Threads * LinesPerThread * 64);
        using var stop = new CancellationTokenSource();
        int imagesTaken = 0;
        bool imagesWhole = true;
        var crasher = new Thread(() =>
        {
            for (int seed = 0; !stop.IsCancellationRequested; seed++)
            {
                imagesWhole &= domain.Crash(seed).Length == domain.Length;
                imagesTaken++;
            }
        });
        crasher.Start();

        var writers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (long round = 1; round <= Rounds; round++)
            {
                for (int line = 0; line < LinesPerThread; line++)
                {
                    long offset = (t * LinesPerThread + line) * 64L;
                    domain.Write(offset, round);
                    domain.Write(offset + 8, round);
                    domain.Flush(offset, 16);
                }

                domain.Drain();
            }
        })).ToList();
        writers.ForEach(writer => writer.Start());
        writers.ForEach(writer => writer.Join());
        stop.Cancel();
        crasher.Join();

        TestContext.Current.TestOutputHelper?.WriteLine($"{imagesTaken} crash images taken during the run");
        Assert.True(imagesWhole);
        Assert.Empty(domain.CheckPersistence());
        Assert.All(Images(domain), image =>
        {
            for (int offset = 0; offset < image.Length; offset += 64)
            {
                Assert.Equal((Rounds, Rounds), (Int64At(image, offset), Int64At(image, offset + 8)));
            }
        });
    }
}
