// RedoMergingTests -- bitwise entries on one word merge in the builder.
using Pmem.Log;

namespace Pmem.Tests.Log;

/// <summary>
/// A transaction that allocates or frees many blocks of one run logs one Or or And per bitmap word, not per block,
/// without changing what is applied.
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
        redo.RequireDurable(512, new byte[16], PublishedContent.Hash);
        redo.Or(72, 16);      // a Verify between

        Assert.Equal(
            [(RedoOperation.Or, 64L, 1UL), (RedoOperation.And, 64L, ~2UL), (RedoOperation.Or, 72L, 4UL), (RedoOperation.Set, 200L, 0UL),
             (RedoOperation.Or, 72L, 8UL), (RedoOperation.Verify, 512L, 16UL), (RedoOperation.Or, 72L, 16UL)],
            Entries(redo));

        redo.Clear();
        redo.Or(72, 32); // after a clear, nothing to merge into
        Assert.Equal([(RedoOperation.Or, 72L, 32UL)], Entries(redo));
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
