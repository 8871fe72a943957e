using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Pmem.Generators.Layout;
using Pmem.Generators.Parsing;
using Pmem.Generators.Tests.Infrastructure;

namespace Pmem.Generators.Tests;

/// <summary>
/// The generator's size table against the running CLR: the runtime reads and writes each field as a whole <c>T</c>,
/// so a size that differs from <c>Unsafe.SizeOf&lt;T&gt;()</c> would corrupt neighbouring fields.
/// </summary>
public sealed class SupportedTypeSizeTests
{
    private const string AllTypes = """
        using System;
        using Pmem.Objects;

        namespace Sizes;

        public enum SmallEnum : byte { A }
        public enum WideEnum : long { A }

        [PersistentObject]
        public partial class Everything
        {
            public partial bool Bool { get; set; }
            public partial byte Byte { get; set; }
            public partial sbyte SByte { get; set; }
            public partial short Int16 { get; set; }
            public partial ushort UInt16 { get; set; }
            public partial char Char { get; set; }
            public partial Half Half { get; set; }
            public partial int Int32 { get; set; }
            public partial uint UInt32 { get; set; }
            public partial float Single { get; set; }
            public partial long Int64 { get; set; }
            public partial ulong UInt64 { get; set; }
            public partial double Double { get; set; }
            public partial decimal Decimal { get; set; }
            public partial Int128 Int128 { get; set; }
            public partial UInt128 UInt128 { get; set; }
            public partial Guid Guid { get; set; }
            public partial DateTime DateTime { get; set; }
            public partial DateTimeOffset DateTimeOffset { get; set; }
            public partial TimeSpan TimeSpan { get; set; }
            public partial SmallEnum SmallEnum { get; set; }
            public partial WideEnum WideEnum { get; set; }
            public partial bool? NullableBool { get; set; }
            public partial byte? NullableByte { get; set; }
            public partial sbyte? NullableSByte { get; set; }
            public partial short? NullableInt16 { get; set; }
            public partial ushort? NullableUInt16 { get; set; }
            public partial char? NullableChar { get; set; }
            public partial Half? NullableHalf { get; set; }
            public partial int? NullableInt32 { get; set; }
            public partial uint? NullableUInt32 { get; set; }
            public partial float? NullableSingle { get; set; }
            public partial long? NullableInt64 { get; set; }
            public partial ulong? NullableUInt64 { get; set; }
            public partial double? NullableDouble { get; set; }
            public partial decimal? NullableDecimal { get; set; }
            public partial Int128? NullableInt128 { get; set; }
            public partial UInt128? NullableUInt128 { get; set; }
            public partial Guid? NullableGuid { get; set; }
            public partial DateTime? NullableDateTime { get; set; }
            public partial DateTimeOffset? NullableDateTimeOffset { get; set; }
            public partial TimeSpan? NullableTimeSpan { get; set; }
            public partial SmallEnum? NullableSmallEnum { get; set; }
            public partial WideEnum? NullableWideEnum { get; set; }
        }
        """;

    [Fact]
    public void Every_supported_value_type_has_the_runtime_size_and_at_least_its_runtime_alignment()
    {
        var (compilation, assembly) = CompileAndLoad(AllTypes);
        var symbol = compilation.GetTypeByMetadataName("Sizes.Everything")!;
        var runtimeType = assembly.GetType("Sizes.Everything")!;
        var compared = 0;

        foreach (var property in symbol.GetMembers().OfType<IPropertySymbol>().Where(property => property.IsPartialDefinition))
        {
            var storage = SupportedTypes.Classify(property.Type, out var reason);
            Assert.True(storage is not null, $"{property.Name}: {reason}");
            var clrType = runtimeType.GetProperty(property.Name, BindingFlags.Public | BindingFlags.Instance)!.PropertyType;

            Assert.True(SizeOf(clrType) == storage.Size, $"{property.Name}: generator says {storage.Size} bytes, the runtime {SizeOf(clrType)}");
            Assert.True(storage.Alignment % ClrAlignmentOf(clrType) == 0, $"{property.Name}: alignment {storage.Alignment} is weaker than the CLR's {ClrAlignmentOf(clrType)}");
            Assert.Equal(LayoutPlanner.AlignmentOf(storage.Size), storage.Alignment);
            compared++;
        }

        Assert.Equal(44, compared);
    }

    [Fact]
    public void Every_entry_of_the_supported_type_table_is_checked_here_and_accepted_as_property_and_element()
    {
        // The table also writes PMEM003's list of supported types: each entry named there must really be supported.
        foreach (var scalar in SupportedTypes.Scalars)
        {
            Assert.Contains($"public partial {scalar.Keyword} ", AllTypes);
            Assert.Contains($"public partial {scalar.Keyword}? ", AllTypes);
        }

        var members = SupportedTypes.Scalars.Select((scalar, i) =>
            $"public partial {scalar.Keyword} P{i} {{ get; set; }} public partial PersistentList<{scalar.Keyword}> L{i} {{ get; }} public partial PersistentDictionary<{scalar.Keyword}, {scalar.Keyword}> D{i} {{ get; }}");
        var run = GeneratorHarness.RunClean($"using System; using Pmem.Objects; [PersistentObject] public partial class Table {{ {string.Join("\n", members)} }}");

        Assert.Equal(SupportedTypes.Scalars.Length * 3, Regex.Count(run.SingleSource, "^ +public partial ", RegexOptions.Multiline));
    }

    [Fact]
    public void The_generated_nullable_slot_has_the_size_and_bytes_of_nullable()
    {
        var (_, assembly) = CompileAndLoad(AllTypes);
        var slot = assembly.GetType("Sizes.Everything")!.GetNestedType("NullableSlot`1", BindingFlags.NonPublic)!;

        CheckSlot(slot, true);
        CheckSlot(slot, (byte)0xAB);
        CheckSlot(slot, (short)-2);
        CheckSlot(slot, 'x');
        CheckSlot(slot, (Half)1.5);
        CheckSlot(slot, 0x12345678);
        CheckSlot(slot, 3.25f);
        CheckSlot(slot, 0x0102030405060708L);
        CheckSlot(slot, Math.PI);
        CheckSlot(slot, 12345.6789m);
        CheckSlot(slot, new Int128(0x0102030405060708, 0x1112131415161718));
        CheckSlot(slot, Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"));
        CheckSlot(slot, new DateTime(2026, 11, 25, 9, 50, 0, DateTimeKind.Utc));
        CheckSlot(slot, new DateTimeOffset(2026, 11, 25, 9, 50, 0, TimeSpan.FromHours(2)));
        CheckSlot(slot, TimeSpan.FromTicks(987654321));
    }

    /// <summary>Size equal to <c>T?</c>; a present and an absent value have <c>T?</c>'s bytes and read back unchanged.</summary>
    private static void CheckSlot<T>(Type openSlot, T value)
        where T : struct
    {
        var slotType = openSlot.MakeGenericType(typeof(T));
        Assert.Equal(Unsafe.SizeOf<T?>(), SizeOf(slotType));

        foreach (var nullable in new T?[] { value, null })
        {
            var slot = Activator.CreateInstance(slotType, [nullable])!;
            var slotBytes = (byte[])typeof(SupportedTypeSizeTests).GetMethod(nameof(BytesOfBoxed), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(slotType).Invoke(null, [slot])!;
            var nullableBytes = BytesOf(nullable);
            var alignment = Unsafe.SizeOf<T?>() - Unsafe.SizeOf<T>();

            // Compare the hasValue byte and the value; the padding between them carries nothing.
            Assert.Equal(nullableBytes[0], slotBytes[0]);
            if (nullable.HasValue)
            {
                Assert.Equal(nullableBytes[alignment..], slotBytes[alignment..]);
            }

            var roundTrip = slotType.GetMethod("ToNullable")!.Invoke(slot, null);
            Assert.Equal(nullable, (T?)roundTrip);
        }
    }

    private static byte[] BytesOf<T>(T value) =>
        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, byte>(ref value), Unsafe.SizeOf<T>()).ToArray();

    private static byte[] BytesOfBoxed<T>(object boxed) => BytesOf((T)boxed);

    private static int SizeOf(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    /// <summary>The CLR alignment of <paramref name="type"/>: where it lands after one byte in a sequential struct.</summary>
    private static int ClrAlignmentOf(Type type) => SizeOf(typeof(AlignmentProbe<>).MakeGenericType(type)) - SizeOf(type);

    [StructLayout(LayoutKind.Sequential)]
    private struct AlignmentProbe<T>
    {
        public byte Before;
        public T Value;
    }

    private static (Compilation Compilation, Assembly Assembly) CompileAndLoad(string source)
    {
        var run = GeneratorHarness.RunClean(source);
        using var image = new MemoryStream();
        var emitted = run.OutputCompilation.Emit(image, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));

        // A fresh context per load; Pmem.Core resolves from the default context, where the tests already loaded it.
        var context = new AssemblyLoadContext(nameof(SupportedTypeSizeTests), isCollectible: true);
        image.Position = 0;
        return (run.OutputCompilation, context.LoadFromStream(image));
    }
}
