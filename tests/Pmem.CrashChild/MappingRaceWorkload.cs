// MappingRaceWorkload -- threads that map, write and unmap small files at once: a mapping placed over another thread's memory crashes it.
using System.Globalization;
using Pmem.Memory;

namespace Pmem.CrashChild;

/// <summary>
/// <c>Pmem.CrashChild --map-race &lt;directory&gt; &lt;threads&gt; &lt;milliseconds&gt;</c>: each thread creates a small file in
/// the directory, maps it, writes into it, checks what it wrote and unmaps it, again and again. Should a mapping be
/// placed over address space another thread has just been given, that thread's store faults and the process dies
/// (or reads back another file's bytes and exits 1); otherwise it prints <c>ok &lt;mappings&gt;</c>. <c>MappingRaceTests</c>
/// runs it.
/// </summary>
internal static class MappingRaceWorkload
{
    public static int Run(string[] args)
    {
        var directory = args[1];
        var threads = int.Parse(args[2], CultureInfo.InvariantCulture);
        var stopAt = Environment.TickCount64 + long.Parse(args[3], CultureInfo.InvariantCulture);
        long mappings = 0, wrong = 0;
        var workers = Enumerable.Range(0, threads).Select(thread => new Thread(() =>
        {
            var path = Path.Combine(directory, $"file{thread}");
            for (var round = 0; Environment.TickCount64 < stopAt; round++)
            {
                using (var mapping = PmemMapping.Map(path, (1 + (round % 3)) * 4096, MapFlags.Create))
                {
                    var span = mapping.GetSpan(100, 64);
                    span.Fill((byte)(thread + 1));
                    if (span.IndexOfAnyExcept((byte)(thread + 1)) >= 0)
                    {
                        Interlocked.Increment(ref wrong);
                    }
                }

                File.Delete(path);
                Interlocked.Increment(ref mappings);
            }
        })).ToList();
        workers.ForEach(worker => worker.Start());
        workers.ForEach(worker => worker.Join());
        Console.WriteLine(wrong == 0 ? $"ok {mappings}" : $"{wrong} of {mappings} mappings read back another's bytes");
        return wrong == 0 ? 0 : 1;
    }
}
