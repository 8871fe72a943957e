using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Filters;
using BenchmarkDotNet.Running;
using Pmem.Benchmarks;
using Pmem.Memory;

// Usage: dotnet run -c Release --project bench/Pmem.Benchmarks -- --filter '*' --inProcess
//        dotnet run -c Release --project bench/Pmem.Benchmarks -- --throughput [--places ...] [--builds A=exe,B=exe]
//        dotnet run -c Release --project bench/Pmem.Benchmarks -- --first-migration template|run ... (FirstMigration.cs)
if (args is ["--first-migration", .. var migration])
{
    FirstMigration.Run(migration); // before anything else runs: the timed open must find nothing compiled
    return;
}

if (!args.Contains("--throughput-child"))
{
    Console.WriteLine($"Engine: {LibPmem.ActiveFlushPath} — {LibPmem.Description}");
    Console.WriteLine($"Native: {NativeLibPmem.Status}; {NativeLibPmemObj.Status}; {LmdbSorted.Status}");
}

if (args.Contains("--throughput") || args.Contains("--throughput-child"))
{
    ThroughputHarness.Run(args);
    return;
}

if (args.Contains("--counts"))
{
    PoolCostCounts.Run();
    return;
}

IConfig config = DefaultConfig.Instance.AddColumn(StatisticColumn.Median); // shared machine: medians resist outliers
if (!NativeLibPmem.IsAvailable)
{
    config = config.AddFilter(new SimpleFilter(b => !b.Descriptor.Categories.Contains("Native")));
}

if (!NativeLibPmemObj.IsAvailable)
{
    config = config.AddFilter(new SimpleFilter(b => !b.Descriptor.Categories.Contains("NativeObj")));
}

if (!LmdbSorted.IsAvailable)
{
    config = config.AddFilter(new SimpleFilter(b => !b.Descriptor.Categories.Contains(LmdbSorted.Category)));
}

BenchmarkSwitcher.FromAssembly(typeof(PersistBenchmarks).Assembly).Run(args, config);
