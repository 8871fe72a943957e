using System;
using System.Collections.Generic;
using System.Linq;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Layout;

/// <summary>
/// Places fields in a persistent object. Pure and deterministic: the result depends only on the durable name and
/// the set of (name, storage type, size, alignment, group) — not on declaration order — so reordering properties in
/// source never changes a pool's layout.
/// </summary>
/// <remarks>
/// Algorithm (documented in docs/generator.md): every cache-line group becomes one unit whose members are packed
/// by descending alignment (no padding, since every size is a multiple of its alignment); every other field is a
/// unit of its own. Units are sorted by size, then alignment, descending (ties: groups first, then by ordinal
/// name) and placed first-fit: into the first 64-byte line that has a free, suitably aligned run of bytes, else a
/// new line. A unit never spans two lines, so no field straddles a cache line and a group shares one line. With
/// power-of-two sizes (every scalar) first-fit decreasing leaves no gap, so the object has the minimal number of
/// lines.
/// </remarks>
internal static class LayoutPlanner
{
    /// <summary>Bytes in a cache line; objects are a whole number of lines.</summary>
    public const int CacheLineSize = 64;

    /// <summary>
    /// The alignment of a field of <paramref name="size"/> bytes: the largest power of two that divides the size,
    /// capped at 16. This is at least the CLR alignment of every supported type (a struct's size is a multiple of its
    /// alignment) and aligns 16-byte values to 16 bytes.
    /// </summary>
    public static int AlignmentOf(int size)
    {
        if (size <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "A field has a positive size.");
        }

        var lowestSetBit = size & -size;
        return Math.Min(lowestSetBit, 16);
    }

    /// <summary>The bytes a cache-line group occupies when its members are packed together.</summary>
    public static int MeasureGroup(IEnumerable<LayoutField> members) =>
        PackGroup(members).Sum(member => member.Field.Size);

    /// <summary>Plans the layout of <paramref name="request"/>.</summary>
    public static LayoutPlan Plan(LayoutRequest request)
    {
        var units = BuildUnits(request.Fields);
        var lines = new List<ulong>();
        var placed = new List<PlacedField>(request.Fields.Count);

        foreach (var unit in units)
        {
            var unitOffset = PlaceUnit(lines, unit.Size, unit.Alignment);
            foreach (var (field, offsetInUnit) in unit.Members)
            {
                placed.Add(new PlacedField(field.Name, field.StorageType, unitOffset + offsetInUnit, field.Size, field.Group));
            }
        }

        placed.Sort((left, right) => left.Offset.CompareTo(right.Offset));
        var size = Math.Max(1, lines.Count) * CacheLineSize;
        var fields = placed.ToEquatableArray();
        return new LayoutPlan(request.DurableName, size, LayoutHash.Compute(request.DurableName, size, fields), fields);
    }

    private static List<Unit> BuildUnits(EquatableArray<LayoutField> fields)
    {
        var units = new List<Unit>();
        foreach (var group in fields.GroupBy(field => field.Group, StringComparer.Ordinal))
        {
            var members = PackGroup(group).ToList();
            var size = members.Sum(member => member.Field.Size);
            if (group.Key is null || size > CacheLineSize)
            {
                // Ungrouped fields, and a group too large for one line (already an error, PMEM008): one unit each.
                units.AddRange(group.Select(field => new Unit(field.Name, false, field.Size, field.Alignment, [(field, 0)])));
            }
            else
            {
                units.Add(new Unit(group.Key, true, size, members.Max(member => member.Field.Alignment), members));
            }
        }

        units.Sort(CompareUnits);
        return units;
    }

    private static IEnumerable<(LayoutField Field, int Offset)> PackGroup(IEnumerable<LayoutField> members)
    {
        var offset = 0;
        foreach (var field in members
                     .OrderByDescending(field => field.Alignment)
                     .ThenByDescending(field => field.Size)
                     .ThenBy(field => field.Name, StringComparer.Ordinal))
        {
            yield return (field, offset);
            offset += field.Size;
        }
    }

    private static int CompareUnits(Unit left, Unit right)
    {
        var bySize = right.Size.CompareTo(left.Size);
        if (bySize != 0)
        {
            return bySize;
        }

        var byAlignment = right.Alignment.CompareTo(left.Alignment);
        if (byAlignment != 0)
        {
            return byAlignment;
        }

        var groupsFirst = right.IsGroup.CompareTo(left.IsGroup);
        return groupsFirst != 0 ? groupsFirst : string.CompareOrdinal(left.Key, right.Key);
    }

    /// <summary>First fit: the lowest aligned offset in the first line with room; a new line when none has.</summary>
    private static int PlaceUnit(List<ulong> lines, int size, int alignment)
    {
        var mask = size == CacheLineSize ? ulong.MaxValue : ((1UL << size) - 1);
        for (var line = 0; ; line++)
        {
            if (line == lines.Count)
            {
                lines.Add(0);
            }

            for (var offset = 0; offset + size <= CacheLineSize; offset += alignment)
            {
                var bits = mask << offset;
                if ((lines[line] & bits) == 0)
                {
                    lines[line] |= bits;
                    return (line * CacheLineSize) + offset;
                }
            }
        }
    }

    private sealed record Unit(string Key, bool IsGroup, int Size, int Alignment, IReadOnlyList<(LayoutField Field, int Offset)> Members);
}
