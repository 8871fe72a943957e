using System.Globalization;
using System.Text;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.Layout;

/// <summary>
/// The 64-bit layout hash a pool records per type: FNV-1a (64-bit) over the UTF-8 bytes of
/// <c>"pmem-layout-v1"</c>, the durable name, the object size, then for each field in offset order its name, storage
/// type, offset and size — every item followed by a zero byte so that adjacent items cannot run together. Numbers
/// are written in invariant decimal. Implemented here rather than with a library so that it is identical in every
/// compiler host and documented byte for byte (docs/generator.md).
/// </summary>
internal static class LayoutHash
{
    private const ulong OffsetBasis = 0xcbf29ce484222325;
    private const ulong Prime = 0x100000001b3;

    /// <summary>Version tag hashed first; bump it if the hashed items ever change.</summary>
    public const string Version = "pmem-layout-v1";

    public static ulong Compute(string durableName, int size, EquatableArray<PlacedField> fields)
    {
        var hash = OffsetBasis;
        hash = Append(hash, Version);
        hash = Append(hash, durableName);
        hash = Append(hash, size.ToString(CultureInfo.InvariantCulture));
        foreach (var field in fields)
        {
            hash = Append(hash, field.Name);
            hash = Append(hash, field.StorageType);
            hash = Append(hash, field.Offset.ToString(CultureInfo.InvariantCulture));
            hash = Append(hash, field.Size.ToString(CultureInfo.InvariantCulture));
        }

        return hash;
    }

    private static ulong Append(ulong hash, string item)
    {
        foreach (var value in Encoding.UTF8.GetBytes(item))
        {
            hash = unchecked((hash ^ value) * Prime);
        }

        return unchecked((hash ^ 0) * Prime);
    }
}
