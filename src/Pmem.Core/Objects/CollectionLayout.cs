using Pmem.Pool;

namespace Pmem.Objects;

/// <summary>
/// The durable layout of collection headers, read without knowing the program's element types (for frees of an
/// owning object and for <see cref="PersistentPool.Check"/>).
/// </summary>
/// <remarks>
/// List header: <c>[count][capacity][array][version][slot size i32][slot kind i32]</c>.
/// Dictionary header: <c>[count][capacity][table][version][key size i32][key kind i32][value size i32][value kind i32][used]</c>;
/// entry: <c>[hash u64 (0 empty, 1 removed)][key slot][value slot]</c>.
/// </remarks>
internal static class CollectionLayout
{
    public const int HeaderSize = 64;

    /// <summary>The array and, per element, an owned string or a referenced object.</summary>
    public static IEnumerable<(long Offset, bool Owned)> ListChildren(PersistentPool pool, long header)
    {
        var array = pool.ReadValue<long>(header + 16);
        if (array == 0)
        {
            yield break;
        }

        yield return (array, true);
        var count = pool.ReadValue<long>(header);
        var size = pool.ReadValue<int>(header + 32);
        var kind = (SlotKind)pool.ReadValue<int>(header + 36);
        if (kind == SlotKind.Raw)
        {
            yield break;
        }

        for (long i = 0; i < count; i++)
        {
            var target = pool.ReadValue<long>(array + i * size);
            if (target != 0)
            {
                yield return (target, kind == SlotKind.String);
            }
        }
    }

    /// <summary>The table and, per entry, owned strings and referenced objects.</summary>
    public static IEnumerable<(long Offset, bool Owned)> DictionaryChildren(PersistentPool pool, long header)
    {
        var table = pool.ReadValue<long>(header + 16);
        if (table == 0)
        {
            yield break;
        }

        yield return (table, true);
        var capacity = pool.ReadValue<long>(header + 8);
        var keySize = pool.ReadValue<int>(header + 32);
        var keyKind = (SlotKind)pool.ReadValue<int>(header + 36);
        var valueSize = pool.ReadValue<int>(header + 40);
        var valueKind = (SlotKind)pool.ReadValue<int>(header + 44);
        var entrySize = 8 + keySize + valueSize;
        for (long i = 0; i < capacity; i++)
        {
            var entry = table + i * entrySize;
            if (pool.ReadValue<ulong>(entry) <= 1)
            {
                continue;
            }

            if (keyKind != SlotKind.Raw && pool.ReadValue<long>(entry + 8) is var key and not 0)
            {
                yield return (key, keyKind == SlotKind.String);
            }

            if (valueKind != SlotKind.Raw && pool.ReadValue<long>(entry + 8 + keySize) is var value and not 0)
            {
                yield return (value, valueKind == SlotKind.String);
            }
        }
    }
}
