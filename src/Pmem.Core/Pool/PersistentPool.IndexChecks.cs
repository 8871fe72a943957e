// PersistentPool (index checks) -- every live index agrees with its objects: each entry names an object holding its value, and each object has one entry.
using Pmem.Objects;

namespace Pmem.Pool;

public sealed partial class PersistentPool
{
    /// <summary>
    /// Adds a <see cref="GraphProblemKind.DamagedIndex"/> for each live index that disagrees with its objects. The walk
    /// has checked the trees' shape and order already; an index whose tree is damaged is reported there, not twice.
    /// </summary>
    private void CheckIndexes(GraphWalk walk)
    {
        var directory = _domain.Read<long>(PoolLayout.IndexDirectoryOffset);
        foreach (var index in _liveIndexes)
        {
            if (!OwnedBlocksWhole(index.Slot))
            {
                continue;
            }

            var tree = _domain.Read<long>(index.Slot.TreeWord);

            if ((index.Slot.IsHashed ? HashedIndexProblem(index) : IndexProblem(index, tree)) is { } problem)
            {
                walk.Problem(GraphProblemKind.DamagedIndex, directory, index.Slot.TreeWord, tree, true, problem);
            }
        }
    }

    /// <summary>Whether a collection header is an allocated block of its type whose header and storage are possible (the walk reports it otherwise).</summary>
    private bool IsWhole(long header, uint typeIndex) =>
        TypeAt(header) == typeIndex &&
        (typeIndex == TypeTable.SortedDictionaryTypeIndex ? SortedLayout.Problem(this, header) : CollectionLayout.Problem(this, header, typeIndex)) is null;

    private bool OwnedBlocksWhole(IndexSlot slot) =>
        slot.OwnedWords.All(owned => _domain.Read<long>(owned.Word) is var header && (header == 0 || IsWhole(header, owned.Type)));

    /// <summary>A hashed index checks its own entries (its keys are normalized values); the objects it must hold are counted here.</summary>
    private string? HashedIndexProblem(LiveIndex index)
    {
        var name = $"the index of {_types.NameOf(index.Slot.TypeIndex)}.{index.Property.Name}";
        try
        {
            var typeIndex = index.Slot.TypeIndex;
            var disagreement = ((ICheckedIndexTree)index.Tree(this)).Disagreement(
                obj => TypeAt(obj) == typeIndex, out var entries);
            var objects = CountIndexed(index);
            return disagreement ?? (objects == entries ? null : $"{name} holds {entries} entries for {objects} objects");
        }
        catch (Exception e) when (e is PoolException or PersistentTypeMismatchException)
        {
            return $"{name} cannot be read: {e.Message}";
        }
    }

    /// <summary>The objects an index holds: every object of its type, less those whose indexed string is null.</summary>
    private long CountIndexed(LiveIndex index)
    {
        var isString = index.Property.FieldKind == PersistentFieldKind.String;
        long objects = 0;
        _heap.ForEachAllocated((block, type) =>
        {
            if (type == index.Slot.TypeIndex && (!isString || _domain.Read<long>(block.Offset + index.Slot.PropertyOffset) != 0))
            {
                objects++;
            }
        });

        return objects;
    }

    private string? IndexProblem(LiveIndex index, long tree)
    {
        var name = $"the index of {_types.NameOf(index.Slot.TypeIndex)}.{index.Property.Name}";
        var propertyOffset = index.Slot.PropertyOffset;
        var isString = index.Property.FieldKind == PersistentFieldKind.String;
        long entries = 0;
        if (tree != 0)
        {
            var keySize = ReadValue<int>(tree + CollectionLayout.KeySizeOffset);
            try
            {
                foreach (var (key, _) in SortedLayout.Entries(this, tree))
                {
                    entries++;
                    var obj = _domain.Read<long>(key + keySize - 8);
                    if (TypeAt(obj) != index.Slot.TypeIndex)
                    {
                        return $"{name} holds an entry for {obj}, which is not an allocated {_types.NameOf(index.Slot.TypeIndex)}";
                    }

                    var same = isString
                        ? _domain.Read<long>(obj + propertyOffset) is var text and not 0 && string.Equals(ReadStringAt(_domain.Read<long>(key)), ReadStringAt(text), StringComparison.Ordinal)
                        : index.Property.StorageType == "System.DateTimeOffset"
                        ? _domain.Read<DateTimeOffset>(key).EqualsExact(_domain.Read<DateTimeOffset>(obj + propertyOffset)) // padding bytes differ between copies
                        : _domain.GetSpan(key, index.Property.Size).SequenceEqual(_domain.GetSpan(obj + propertyOffset, index.Property.Size));
                    if (!same)
                    {
                        return $"{name} files the object at {obj} under another value than the one it holds";
                    }
                }
            }
            catch (Exception e) when (e is PoolException or PersistentTypeMismatchException)
            {
                return $"{name} cannot be read: {e.Message}";
            }
        }

        var objects = CountIndexed(index);
        return objects == entries ? null : $"{name} holds {entries} entries for {objects} objects";
    }

    /// <summary>Every block an index owns (the directory, its trees or tables, their nodes, storage and strings): a compacted copy leaves them out and the program rebuilds its indexes.</summary>
    private HashSet<long> IndexBlocks()
    {
        var blocks = new HashSet<long>();
        var directory = _domain.Read<long>(PoolLayout.IndexDirectoryOffset);
        if (directory == 0)
        {
            return blocks;
        }

        blocks.Add(directory);
        foreach (var slot in _indexSlots)
        {
            foreach (var (word, type) in slot.OwnedWords)
            {
                if (_domain.Read<long>(word) is var header and not 0)
                {
                    blocks.Add(header);
                    foreach (var (child, _, _) in InternalChildren(header, type))
                    {
                        blocks.Add(child);
                    }
                }
            }
        }

        return blocks;
    }
}
