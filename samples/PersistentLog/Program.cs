// An append-only durable log on a memory-mapped file: the classic libpmem pattern in C#.
//
// Layout: a 64-byte header (magic, durable tail) followed by records [int length][UTF-8 bytes], 8-byte aligned.
// An append copies each record with MemcpyNoDrain (flush, no fence), drains once for the batch, and only then
// stores and persists the new tail. A crash before the tail is persisted loses the batch, never half of it: the
// records beyond the durable tail are simply not part of the log.
//
// Usage: dotnet run --project samples/PersistentLog [path]   (default: $TMPDIR/PersistentLog.pmemlog)
using System.Runtime.InteropServices;
using System.Text;
using Pmem.Memory;
// The namespace Pmem hides the class Pmem.Memory.Pmem from top-level code; an alias gives it a usable name.

const ulong Magic = 0x31474F4C4D454D50; // "PMEMLOG1"
const long MagicOffset = 0, TailOffset = 8, DataOffset = 64;
const long InitialSize = 64 * 1024, ReserveSize = 64L << 20;

string path = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "PersistentLog.pmemlog");
bool exists = File.Exists(path);

using var mapping = exists
    ? PmemMapping.Map(path, reserve: ReserveSize)
    : PmemMapping.Map(path, InitialSize, MapFlags.Create, reserve: ReserveSize);
if (!mapping.TryLockExclusive())
{
    Console.Error.WriteLine($"{path} is in use by another process.");
    return 1;
}

Console.WriteLine($"Log file:   {path} ({mapping.Length:N0} bytes, {(mapping.IsPmem ? "persistent memory" : "not persistent memory: msync")})");
Console.WriteLine($"Flush path: {LibPmem.ActiveFlushPath} ({LibPmem.Description})");

unsafe
{
    byte* log = (byte*)mapping.Address;

    if (!exists)
    {
        // Tail first, then the magic: a crash in between leaves a file without magic, which is re-initialised.
        *(long*)(log + TailOffset) = DataOffset;
        Persist(log + TailOffset, 8);
        *(ulong*)(log + MagicOffset) = Magic;
        Persist(log + MagicOffset, 8);
    }
    else if (*(ulong*)(log + MagicOffset) != Magic)
    {
        Console.Error.WriteLine($"{path} is not a PersistentLog file.");
        return 1;
    }

    long tail = Volatile.Read(ref *(long*)(log + TailOffset));
    var survivors = new List<string>();
    for (long at = DataOffset; at < tail;)
    {
        int length = *(int*)(log + at);
        survivors.Add(Encoding.UTF8.GetString(log + at + 4, length));
        at += Align8(4 + length);
    }

    Console.WriteLine(survivors.Count == 0
        ? "No records yet: this is the first run."
        : $"{survivors.Count} records survived from earlier runs:");
    foreach (string record in survivors)
    {
        Console.WriteLine($"  {record}");
    }

    int run = survivors.Count(r => r.EndsWith("#1", StringComparison.Ordinal)) + 1;
    string[] batch = [.. Enumerable.Range(1, 3).Select(i => $"run {run} at {DateTime.Now:O} pid {Environment.ProcessId} record #{i}")];

    long needed = batch.Sum(r => Align8(4 + Encoding.UTF8.GetByteCount(r)));
    if (tail + needed > mapping.Length)
    {
        // Grow in place: the reservation keeps the base address, so `log` stays valid.
        mapping.Extend(Math.Min(mapping.ReservedLength, Math.Max(mapping.Length * 2, tail + needed)));
    }

    long newTail = tail;
    foreach (string record in batch)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(record);
        int length = bytes.Length;
        fixed (byte* payload = bytes)
        {
            Copy(log + newTail, &length, 4);
            Copy(log + newTail + 4, payload, (nuint)length);
        }

        newTail += Align8(4 + length);
    }

    // One drain for the whole batch, then the tail: the records are durable before the tail points past them.
    Drain(log + tail, (nuint)(newTail - tail));
    Volatile.Write(ref *(long*)(log + TailOffset), newTail);
    Persist(log + TailOffset, 8);

    Console.WriteLine($"Appended {batch.Length} records ({newTail - tail} bytes); run again to see them.");
    return 0;

    // On persistent memory: flush without fence per record, one fence per batch. Elsewhere: msync, as libpmem's examples do.
    void Copy(byte* destination, void* source, nuint length)
    {
        if (mapping.IsPmem)
        {
            LibPmem.MemcpyNoDrain(destination, source, length);
        }
        else
        {
            NativeMemory.Copy(source, destination, length);
        }
    }

    void Drain(byte* start, nuint length)
    {
        if (mapping.IsPmem)
        {
            LibPmem.Drain();
        }
        else
        {
            LibPmem.Msync(start, length);
        }
    }

    void Persist(byte* start, nuint length)
    {
        if (mapping.IsPmem)
        {
            LibPmem.Persist(start, length);
        }
        else
        {
            LibPmem.Msync(start, length);
        }
    }
}

static long Align8(long value) => (value + 7) & ~7L;
