// Every widening a migration makes without a hook, from every scalar to every scalar it widens to: the value kept exactly.
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using Pmem.Pool;

namespace Pmem.Tests.Schema;

/// <summary>
/// <see cref="ValueConversion.Widen"/> over each pair <see cref="ValueConversion.CanWiden"/> allows, plain and as
/// <c>T?</c>, with each scalar's extremes: an outside tester's <c>sbyte</c> → <c>Half</c> migration (a documented
/// widening) threw ArgumentOutOfRangeException and left an in-place migration that no program could finish.
/// </summary>
public sealed class ValueConversionTests
{
    private static readonly string[] Numbers =
    [
        "System.Byte", "System.SByte", "System.Int16", "System.UInt16", "System.Half", "System.Int32", "System.UInt32",
        "System.Single", "System.Int64", "System.UInt64", "System.Double", "System.Decimal", "System.Int128", "System.UInt128",
    ];

    /// <summary>Each type's bytes for its minimum, its maximum, -1 (or 0.5) and 1, as the exact values they mean.</summary>
    private static IEnumerable<(byte[] Bytes, decimal Value)> Samples(string type) => type switch
    {
        "System.Byte" => [Of(byte.MinValue), Of(byte.MaxValue), Of((byte)1)],
        "System.SByte" => [Of(sbyte.MinValue), Of(sbyte.MaxValue), Of((sbyte)-1)],
        "System.Int16" => [Of(short.MinValue), Of(short.MaxValue), Of((short)-1)],
        "System.UInt16" => [Of(ushort.MaxValue), Of((ushort)1)],
        "System.Int32" => [Of(int.MinValue), Of(int.MaxValue), Of(-1)],
        "System.UInt32" => [Of(uint.MaxValue), Of(1u)],
        "System.Int64" => [Of(long.MinValue), Of(long.MaxValue), Of(-1L)],
        "System.UInt64" => [Of(ulong.MaxValue), Of(1UL)],
        "System.Half" => [(Bytes((Half)(-65504)), -65504m), (Bytes((Half)0.5), 0.5m)],
        "System.Single" => [(Bytes(16777216f), 16777216m), (Bytes(-0.25f), -0.25m)],
        "System.Double" => [(Bytes(9007199254740992d), 9007199254740992m), (Bytes(-0.125d), -0.125m)],
        _ => [],
    };

    private static (byte[], decimal) Of<T>(T value) where T : unmanaged, INumberBase<T> => (Bytes(value), decimal.CreateChecked(value));

    private static byte[] Bytes<T>(T value) where T : unmanaged => MemoryMarshal.AsBytes(new[] { value }.AsSpan()).ToArray();

    /// <summary>The value of <paramref name="bytes"/> read as <paramref name="type"/>, exactly (doubles beyond decimal's range do not occur here).</summary>
    private static decimal Read(byte[] bytes, string type) => type switch
    {
        "System.Byte" => bytes[0],
        "System.SByte" => (sbyte)bytes[0],
        "System.Int16" => BinaryPrimitives.ReadInt16LittleEndian(bytes),
        "System.UInt16" => BinaryPrimitives.ReadUInt16LittleEndian(bytes),
        "System.Half" => (decimal)(double)BinaryPrimitives.ReadHalfLittleEndian(bytes),
        "System.Int32" => BinaryPrimitives.ReadInt32LittleEndian(bytes),
        "System.UInt32" => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        "System.Single" => (decimal)BinaryPrimitives.ReadSingleLittleEndian(bytes),
        "System.Int64" => BinaryPrimitives.ReadInt64LittleEndian(bytes),
        "System.UInt64" => BinaryPrimitives.ReadUInt64LittleEndian(bytes),
        "System.Double" => (decimal)BinaryPrimitives.ReadDoubleLittleEndian(bytes),
        "System.Decimal" => MemoryMarshal.Read<decimal>(bytes),
        "System.Int128" => (decimal)BinaryPrimitives.ReadInt128LittleEndian(bytes),
        "System.UInt128" => (decimal)BinaryPrimitives.ReadUInt128LittleEndian(bytes),
        _ => throw new ArgumentException(type),
    };

    public static TheoryData<string, string> Widenings()
    {
        var pairs = new TheoryData<string, string>();
        foreach (var from in Numbers)
        {
            foreach (var to in Numbers)
            {
                if (from != to && ValueConversion.CanWiden(from, to))
                {
                    pairs.Add(from, to);
                }
            }
        }

        return pairs;
    }

    [Fact]
    public void The_documented_widenings_are_allowed()
    {
        Assert.True(ValueConversion.CanWiden("System.SByte", "System.Half"));
        Assert.True(ValueConversion.CanWiden("System.Byte", "System.Half"));
        Assert.True(ValueConversion.CanWiden("System.Int32", "System.Int64"));
        Assert.False(ValueConversion.CanWiden("System.Int16", "System.Half")); // 16 bits do not fit Half's 11
        Assert.True(Widenings().Count() > 40);
    }

    [Theory]
    [MemberData(nameof(Widenings))]
    public void A_widening_keeps_every_value_exactly_plain_and_nullable(string from, string to)
    {
        ValueConversion.TryDescribe(to, out _, out var toSize, out _);
        foreach (var (bytes, value) in Samples(from))
        {
            var target = new byte[toSize];
            ValueConversion.Widen(bytes, from, target, to);
            Assert.Equal(value, Read(target, to));

            // As T?: the value after its has-value byte, at the type's alignment.
            var fromOffset = ValueConversion.NullableValueOffset(from + "?");
            var toOffset = ValueConversion.NullableValueOffset(to + "?");
            var nullable = new byte[fromOffset + bytes.Length];
            nullable[0] = 1;
            bytes.CopyTo(nullable, fromOffset);
            var nullableTarget = new byte[toOffset + toSize];
            ValueConversion.Widen(nullable, from + "?", nullableTarget, to + "?");
            Assert.Equal(1, nullableTarget[0]);
            Assert.Equal(value, Read(nullableTarget[toOffset..], to));
        }
    }
}
