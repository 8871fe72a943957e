using Pmem.Heap;

namespace Pmem.Tests.Heap;

/// <summary>A run's slot found by the reciprocal multiplication agrees with division at every line of every size class.</summary>
public sealed class RunGeometryTests
{
    [Fact]
    public void Every_line_of_every_size_class_maps_to_the_slot_division_gives_and_only_block_starts_are_slots()
    {
        for (var sizeClass = 0; sizeClass < SizeClasses.Count; sizeClass++)
        {
            var geometry = SizeClasses.Geometry[sizeClass];
            var blockSize = SizeClasses.Sizes[sizeClass];
            for (var relative = 0; relative < PoolHeap.ChunkSize - geometry.DataOffset; relative += 64)
            {
                var expected = relative % blockSize == 0 && relative / blockSize < geometry.BlockCount;
                Assert.True(expected == geometry.TrySlotAt(relative, out var slot), $"class {sizeClass} ({blockSize} B), {relative} bytes in");
                if (expected)
                {
                    Assert.Equal(relative / blockSize, slot);
                }
            }
        }
    }
}
