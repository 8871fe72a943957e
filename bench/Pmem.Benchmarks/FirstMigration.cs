// FirstMigration -- a process's first migration, timed alone: the open a program makes at startup after its class changed.
using System.Diagnostics;
using Pmem.Objects;
using Pmem.Pool;

namespace Pmem.Benchmarks;

/// <summary>
/// BenchmarkDotNet warms the code up before it measures, but a program migrates its pool once, at startup, with
/// nothing compiled yet. Each process started with <c>--first-migration run</c> copies the template and times one open
/// that migrates its <see cref="SchemaMigrationBenchmarks.Objects"/> objects (growing: every object moves; in-place),
/// then another on a fresh copy in the same process, warm. Run several processes and read the first figures.
/// </summary>
/// <remarks>
/// <c>--first-migration template &lt;file&gt;</c> writes the template (in its own process, so the timed one starts cold);
/// <c>--first-migration run &lt;template&gt; &lt;work file&gt; growing|in-place [--allocations | --first-only]</c> times the migrations
/// (with <c>--allocations</c>, also what they allocated, by type, from the runtime's samples; <c>--first-only</c> leaves
/// out the warm one, for a profile of the first alone).
/// </remarks>
internal static class FirstMigration
{
    public static void Run(string[] args)
    {
        switch (args)
        {
            case ["template", var template]:
                SchemaMigrationBenchmarks.CreateTemplate(template);
                break;
            case ["run", var template, var work, var kind and ("growing" or "in-place"), .. var rest]:
                PersistentTypeInfo type = kind == "growing" ? SchemaMigrationBenchmarks.ItemGrown.PersistentType : SchemaMigrationBenchmarks.ItemInPlace.PersistentType;
                using (var sampler = rest is ["--allocations"] ? new AllocationSampler() : null)
                {
                    var first = Time(template, work, type);
                    Console.WriteLine(rest is ["--first-only"] ? $"{kind}: first {first}" : $"{kind}: first {first}; warm {Time(template, work, type)}");
                    sampler?.Print();
                }

                break;
            default:
                Console.Error.WriteLine("usage: --first-migration template <file> | --first-migration run <template> <work file> growing|in-place [--allocations | --first-only]");
                Environment.ExitCode = 2;
                break;
        }
    }

    /// <summary>One migrating open: its time, and what it allocated and collected on the managed heap.</summary>
    private static string Time(string template, string work, PersistentTypeInfo type)
    {
        File.Copy(template, work, overwrite: true);
        try
        {
            var (allocated, collections) = (GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0));
            var jitted = System.Runtime.JitInfo.GetCompiledMethodCount();
            var watch = Stopwatch.StartNew();
            using (PersistentPool.Open(work, "bench", new PoolOpenOptions { Types = [type] }))
            {
                var elapsed = watch.Elapsed;
                return $"{elapsed.TotalMilliseconds:F0} ms ({Micros(elapsed):F2} µs/object; {(GC.GetTotalAllocatedBytes(precise: true) - allocated) >> 20} MiB allocated, " +
                    $"{GC.CollectionCount(0) - collections} collections, {System.Runtime.JitInfo.GetCompiledMethodCount() - jitted} methods compiled)";
            }
        }
        finally
        {
            File.Delete(work);
        }
    }

    /// <summary>The runtime's allocation samples (one about every 100 KB allocated) by type, for <c>--allocations</c>.</summary>
    private sealed class AllocationSampler : System.Diagnostics.Tracing.EventListener
    {
        private readonly Dictionary<string, long> _bytes = [];

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Verbose, (System.Diagnostics.Tracing.EventKeywords)0x1); // GC keyword: AllocationTick
            }
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs sample)
        {
            if (sample.EventName == "GCAllocationTick_V4" && sample.Payload is { } payload)
            {
                var name = (string)payload[sample.PayloadNames!.IndexOf("TypeName")]!;
                var amount = Convert.ToInt64(payload[sample.PayloadNames.IndexOf("AllocationAmount64")]);
                lock (_bytes)
                {
                    _bytes[name] = _bytes.GetValueOrDefault(name) + amount;
                }
            }
        }

        public void Print()
        {
            lock (_bytes)
            {
                foreach (var (name, bytes) in _bytes.OrderByDescending(pair => pair.Value).Take(12))
                {
                    Console.WriteLine($"  {bytes >> 20,6} MiB sampled  {name}");
                }
            }
        }
    }

    private static double Micros(TimeSpan elapsed) => elapsed.TotalMicroseconds / SchemaMigrationBenchmarks.Objects;
}
