// Format -- human-readable numbers for the text output.
using System.Globalization;

namespace Pmem.Tool.Output;

/// <summary>Formats sizes for people (the JSON output always carries exact byte counts).</summary>
internal static class Format
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB"];

    /// <summary>"123 B", "4.0 KiB", "1.5 GiB".</summary>
    public static string Bytes(long bytes)
    {
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + " B";
        }

        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < Units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + Units[unit];
    }

    /// <summary>Exact bytes and the readable form: "16777216 bytes (16.0 MiB)".</summary>
    public static string BytesExact(long bytes) =>
        bytes < 1024 ? Bytes(bytes) : $"{bytes.ToString(CultureInfo.InvariantCulture)} bytes ({Bytes(bytes)})";
}
