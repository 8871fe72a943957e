// Deterministic damage for the corruption fuzzer: bit flips, word overwrites, zeroed ranges, truncation, foreign files.
using System.Buffers.Binary;
using System.Text;
using Pmem.Pool;

namespace Pmem.Tests.Robustness;

/// <summary>
/// Makes a damaged copy of a seed from a seeded <see cref="Random"/> (the same seed gives the same damage), about
/// two thirds of it aimed at the seed's metadata regions, and describes what it did so a case can be read and replayed.
/// </summary>
internal static class FuzzDamage
{
    private const string Text = "This is not a pool.\nJust a text file someone passed by mistake: key = value\n";

    public static (byte[] Bytes, string Description) Apply(FuzzSeed seed, Random random)
    {
        var bytes = seed.Image.ToArray();
        var done = new List<string>();
        var count = random.Next(10) switch { < 6 => 1, < 9 => 2, _ => 4 };
        for (var i = 0; i < count; i++)
        {
            bytes = DamageOnce(bytes, seed, random, done);
        }

        return (bytes, string.Join("; ", done));
    }

    private static byte[] DamageOnce(byte[] bytes, FuzzSeed seed, Random random, List<string> done)
    {
        var roll = random.Next(100);
        if (roll < 2)
        {
            return Foreign(bytes, random, done);
        }

        if (roll < 7)
        {
            return Resize(bytes, random, done);
        }

        if (bytes.Length < 8)
        {
            return bytes;
        }

        var (offset, where) = Target(seed, bytes.Length, random);
        if (roll < 13)
        {
            var length = (int)Math.Min(bytes.Length - offset, random.Next(2) == 0 ? where.Length : random.Next(1, 4096));
            var fill = random.Next(3);
            var range = bytes.AsSpan((int)offset, length);
            if (fill == 2)
            {
                random.NextBytes(range);
            }
            else
            {
                range.Fill(fill == 0 ? (byte)0 : (byte)0xFF);
            }

            done.Add($"{(fill switch { 0 => "zero", 1 => "0xFF-fill", _ => "randomize" })} [{offset}, +{length}) ({where.Name})");
            return bytes;
        }

        if (roll < 60)
        {
            var aligned = Math.Min(offset & ~7L, bytes.Length - 8);
            var value = random.Next(11) switch
            {
                0 => 0L,
                1 => -1L,
                2 => long.MaxValue,
                3 => long.MinValue,
                4 => (1L << random.Next(32, 62)) + random.Next(),        // huge
                5 => random.NextInt64(1L << 32, long.MaxValue) & ~63L,   // huge, aligned like an object
                6 => -random.Next(1, 1 << 20),                           // negative
                7 => random.NextInt64(0, bytes.Length + 4096),           // a plausible offset
                8 => PlausibleObject(seed, random),                      // another object's offset
                9 => (long)random.Next(1, 512),                          // a small count or type index
                _ => random.NextInt64(long.MinValue, long.MaxValue),
            };
            if (random.Next(4) == 0)
            {
                var narrow = Math.Min(offset & ~3L, bytes.Length - 4);
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan((int)narrow), (int)value);
                done.Add($"u32 @{narrow} = {(int)value} ({where.Name})");
            }
            else
            {
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan((int)aligned), value);
                done.Add($"u64 @{aligned} = {value} ({where.Name})");
            }

            return bytes;
        }

        var flips = random.Next(3) == 0 ? random.Next(2, 6) : 1;
        for (var i = 0; i < flips; i++)
        {
            var at = Math.Min(offset + random.Next(8) * i, bytes.Length - 1);
            var bit = random.Next(8);
            bytes[at] ^= (byte)(1 << bit);
            done.Add($"flip bit {bit} @{at} ({where.Name})");
        }

        return bytes;
    }

    /// <summary>A region by weight (two thirds of the time) or anywhere, and an offset in it.</summary>
    private static (long Offset, FuzzRegion Where) Target(FuzzSeed seed, long length, Random random)
    {
        var anywhere = new FuzzRegion("anywhere", 0, length, 0);
        var candidates = seed.Regions.Where(r => r.Offset < length).ToList();
        var where = anywhere;
        if (candidates.Count > 0 && random.Next(3) != 0)
        {
            var pick = random.Next(candidates.Sum(r => r.Weight));
            where = candidates.First(r => (pick -= r.Weight) < 0);
        }

        var end = Math.Min(where.Offset + where.Length, length);
        return (random.NextInt64(where.Offset, Math.Max(end, where.Offset + 1)), where);
    }

    private static long PlausibleObject(FuzzSeed seed, Random random)
    {
        var objects = seed.Regions.Where(r => r.Name is "root" or "account" or "registry" or "root name" || r.Name.StartsWith("collection", StringComparison.Ordinal)).ToList();
        return objects.Count == 0 ? 0 : objects[random.Next(objects.Count)].Offset + 64L * random.Next(-2, 3);
    }

    private static byte[] Resize(byte[] bytes, Random random, List<string> done)
    {
        long poolSize = bytes.Length >= 520 ? BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(PoolLayout.PoolSizeOffset)) : bytes.Length;
        var length = random.Next(8) switch
        {
            0 => PoolLayout.HeaderSize,
            1 => PoolLayout.HeaderSize - 1,
            2 => PoolLayout.LanesOffset,
            3 => Math.Clamp(poolSize - PoolLayout.ChunkSize, 0, bytes.Length),
            4 => Math.Max(0, bytes.Length - 1),
            5 => bytes.Length + random.Next(1, 1 << 20), // longer than the pool says: garbage after it
            _ => random.NextInt64(0, bytes.Length + 1),
        };
        var resized = new byte[length];
        bytes.AsSpan(0, (int)Math.Min(length, bytes.Length)).CopyTo(resized);
        random.NextBytes(resized.AsSpan(Math.Min(bytes.Length, resized.Length)));
        done.Add(length <= bytes.Length ? $"truncate to {length}" : $"extend to {length} with random bytes");
        return resized;
    }

    private static byte[] Foreign(byte[] bytes, Random random, List<string> done)
    {
        switch (random.Next(5))
        {
            case 0:
                done.Add("an empty file");
                return [];
            case 1:
                done.Add("a text file");
                return Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Text, random.Next(1, 200))));
            case 2:
                var zeros = new byte[bytes.Length];
                done.Add($"{zeros.Length} zero bytes");
                return zeros;
            default:
                var keep = random.Next(2) == 0 ? 0 : PoolLayout.HeaderSize;   // with the pool's header kept: reaches deeper
                var noise = new byte[random.Next(2) == 0 ? random.Next(1, 8192) : Math.Max(bytes.Length, keep)];
                random.NextBytes(noise);
                bytes.AsSpan(0, Math.Min(keep, Math.Min(bytes.Length, noise.Length))).CopyTo(noise);
                done.Add(keep == 0 ? $"{noise.Length} random bytes" : $"the header, then random bytes to {noise.Length}");
                return noise;
        }
    }
}
