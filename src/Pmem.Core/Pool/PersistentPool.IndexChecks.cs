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
            var tree = _domain.Read<long>(index.Slot.TreeWord);
            if (tree != 0 && (!walk.Allocated.TryGetValue(tree, out var treeBlock) || treeBlock.Type != TypeTable.SortedDictionaryTypeIndex || SortedLayout.Problem(this, tree) is not null))
            {
                continue;
            }

            if (IndexProblem(index, tree, walk.Allocated) is { } problem)
            {
                walk.Problem(GraphProblemKind.DamagedIndex, directory, index.Slot.TreeWord, tree, true, problem);
            }
        }
    }

    private string? IndexProblem(LiveIndex index, long tree, Dictionary<long, AllocatedBlock> allocated)
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
                    if (!allocated.TryGetValue(obj, out var block) || block.Type != index.Slot.TypeIndex)
                    {
                        return $"{name} holds an entry for {obj}, which is not an allocated {_types.NameOf(index.Slot.TypeIndex)}";
                    }

                    var same = isString
                        ? _domain.Read<long>(obj + propertyOffset) is var text and not 0 && string.Equals(ReadStringAt(_domain.Read<long>(key)), ReadStringAt(text), StringComparison.Ordinal)
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

        long objects = 0;
        foreach (var (offset, block) in allocated)
        {
            if (block.Type == index.Slot.TypeIndex && (!isString || _domain.Read<long>(offset + propertyOffset) != 0))
            {
                objects++;
            }
        }

        return objects == entries ? null : $"{name} holds {entries} entries for {objects} objects";
    }

    /// <summary>Every block an index owns (the directory, its trees, their nodes and strings): a compacted copy leaves them out and the program rebuilds its indexes.</summary>
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
            if (_domain.Read<long>(slot.TreeWord) is var tree and not 0)
            {
                blocks.Add(tree);
                foreach (var (child, _, _) in SortedLayout.Children(this, tree, problems: null))
                {
                    blocks.Add(child);
                }
            }
        }

        return blocks;
    }
}
