// RedoMergingTests -- bitwise entries on one word, and adjacent sets of new blocks, merge in the builder.
using Pmem.Log;

namespace Pmem.Tests.Log;

/// <summary>
/// A transaction that allocates or frees many blocks of one run logs one Or or And per bitmap word, not per block,
/// and one Set for the adjacent allocation headers (and, in a write-ahead log, contents) of a batch's blocks, without
/// changing what is applied.
/// </summary>
public sealed class RedoMergingTests
{
    [Fact]
    public void Consecutive_ors_or_ands_on_one_word_become_one_entry()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.Or(64, 0b0001);
        redo.Or(64, 0b0100);
        redo.Or(64, 0b1000);
        redo.And(128, ~0b01UL);
        redo.And(128, ~0b10UL);

        Assert.Equal([(RedoOperation.Or, 64L, 0b1101UL), (RedoOperation.And, 128L, ~0b11UL)], Entries(redo));
        Assert.Equal(32, redo.Length);
    }

    [Fact]
    public void Entries_on_other_words_of_other_operations_or_with_an_entry_between_stay_apart()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.Or(64, 1);
        redo.And(64, ~2UL);   // another operation
        redo.Or(72, 4);       // another word
        redo.SetWord(200, 5);
        redo.Or(72, 8);       // a Set between
        redo.RequireDurable(512, new byte[16], PublishedContent.Hash, loggedBudget: 0);
        redo.Or(72, 16);      // a Verify between

        Assert.Equal(
            [(RedoOperation.Or, 64L, 1UL), (RedoOperation.And, 64L, ~2UL), (RedoOperation.Or, 72L, 4UL), (RedoOperation.Set, 200L, 0UL),
             (RedoOperation.Or, 72L, 8UL), (RedoOperation.Verify, 512L, 16UL), (RedoOperation.Or, 72L, 16UL)],
            Entries(redo));

        redo.Clear();
        redo.Or(72, 32); // after a clear, nothing to merge into
        Assert.Equal([(RedoOperation.Or, 72L, 32UL)], Entries(redo));
    }

    [Fact]
    public void Adjacent_sets_extend_the_entry_before_and_apply_the_same_bytes()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.SetAdjacent(1024, 0x11111111u);
        redo.SetAdjacent(1028, 0x22222222u); // fills the first entry's padding
        redo.SetAdjacent(1032, 0x33333333u); // grows it by a word
        redo.SetAdjacent(1036, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }); // odd lengths pad again
        redo.SetAdjacent(1045, (byte)10);

        Assert.Equal(1, redo.Count);
        Assert.Equal(16 + 24, redo.Length);
        var reader = new RedoReader(redo.Entries);
        Assert.True(reader.MoveNext(out _));
        Assert.Equal((RedoOperation.Set, 1024L, 22L), (reader.Operation, reader.Target, reader.Length));
        Assert.Equal(
            [0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            reader.Data.ToArray());
        Assert.True(redo.Entries[(16 + 22)..].ToArray().All(b => b == 0)); // padding stays zero
        Assert.False(reader.MoveNext(out var error));
        Assert.Null(error);
    }

    [Fact]
    public void Sets_that_leave_a_gap_follow_another_entry_or_are_plain_stay_apart()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.SetAdjacent(1024, 1u);
        redo.SetAdjacent(1032, 2u); // a gap
        redo.SetAdjacent(1028, 3u); // before, not after
        redo.Or(64, 1);
        redo.SetAdjacent(1032, 4u); // an entry between
        redo.Set(1036, 5u);         // a plain set is never extended, nor extends
        redo.SetAdjacent(1040, 6u);
        redo.SetAdjacent(1044, 7u);

        Assert.Equal(
            [(RedoOperation.Set, 1024L, 0UL), (RedoOperation.Set, 1032L, 0UL), (RedoOperation.Set, 1028L, 0UL), (RedoOperation.Or, 64L, 1UL),
             (RedoOperation.Set, 1032L, 0UL), (RedoOperation.Set, 1036L, 0UL), (RedoOperation.Set, 1040L, 0UL)],
            Entries(redo));

        redo.Clear();
        redo.SetAdjacent(1048, 8u); // after a clear, nothing to extend
        Assert.Equal(1, redo.Count);
    }

    [Fact]
    public void An_adjacent_set_larger_than_the_buffer_moves_it_and_keeps_the_entry()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        var first = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        var second = Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray();
        redo.SetAdjacent(4096, first);
        redo.SetAdjacent(4096 + first.Length, second);

        var reader = new RedoReader(redo.Entries);
        Assert.True(reader.MoveNext(out _));
        Assert.Equal(first.Concat(second).ToArray(), reader.Data.ToArray());
        Assert.Equal(1, redo.Count);
    }

    private static List<(RedoOperation Operation, long Target, ulong Operand)> Entries(RedoBuilder redo)
    {
        var entries = new List<(RedoOperation, long, ulong)>();
        var reader = new RedoReader(redo.Entries);
        while (reader.MoveNext(out var error))
        {
            Assert.Null(error);
            entries.Add((reader.Operation, reader.Target, reader.Operation == RedoOperation.Set ? 0 : reader.Operation == RedoOperation.Verify ? (ulong)reader.Length : reader.Operand));
        }

        return entries;
    }
}
