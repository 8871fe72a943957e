namespace Pmem.Memory;

/// <summary>The live mappings and whether each is persistent memory, for <see cref="LibPmem.IsPmem"/> (libpmem's range tree).</summary>
internal static class MappingRegistry
{
    private static readonly object Gate = new();
    private static readonly List<(nuint Start, nuint End, bool IsPmem, string? DeepFlushFile)> Ranges = [];

    public static void Add(nuint start, nuint end, bool isPmem, string? deepFlushFile)
    {
        lock (Gate)
        {
            // A range the new one overlaps is gone (the kernel handed its addresses out again): a mapping never
            // disposed, whose reservation's finalizer unmapped it without a word here. Kept, it would answer for the
            // new mapping's bytes.
            Ranges.RemoveAll(r => r.Start < end && start < r.End);
            int index = Ranges.FindIndex(r => r.Start > start);
            Ranges.Insert(index < 0 ? Ranges.Count : index, (start, end, isPmem, deepFlushFile));
        }
    }

    public static void Remove(nuint start)
    {
        lock (Gate)
        {
            Ranges.RemoveAll(r => r.Start == start);
        }
    }

    /// <summary>True when every byte of [start, start + length) lies in registered persistent-memory mappings.</summary>
    public static bool IsPmem(nuint start, nuint length)
    {
        if (length == 0)
        {
            return false;
        }

        nuint end = start + length;
        lock (Gate)
        {
            nuint covered = start;
            foreach (var range in Ranges)
            {
                if (range.End <= covered)
                {
                    continue;
                }

                if (range.Start > covered || !range.IsPmem)
                {
                    return false;
                }

                covered = range.End;
                if (covered >= end)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>The region's <c>deep_flush</c> file of the mapping holding <paramref name="address"/>, if known.</summary>
    public static string? DeepFlushFileFor(nuint address)
    {
        lock (Gate)
        {
            foreach (var range in Ranges)
            {
                if (address >= range.Start && address < range.End)
                {
                    return range.DeepFlushFile;
                }
            }

            return null;
        }
    }
}
